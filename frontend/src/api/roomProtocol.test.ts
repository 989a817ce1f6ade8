import { describe, expect, it } from "vitest";
import { SeqTracker, backoffDelay, isDurable } from "./roomProtocol";

const saved = (seq: number) => ({ type: "mask_saved", seq });

describe("reconnect backoff", () => {
  it("doubles from 500 ms up to the cap, with jitter between half and all of it", () => {
    expect(backoffDelay(0, () => 1)).toBe(500);
    expect(backoffDelay(1, () => 1)).toBe(1000);
    expect(backoffDelay(3, () => 1)).toBe(4000);
    expect(backoffDelay(10, () => 1)).toBe(15_000);
    expect(backoffDelay(1000, () => 1)).toBe(15_000);
    expect(backoffDelay(3, () => 0)).toBe(2000);
    for (let a = 0; a < 12; a++) {
      const d = backoffDelay(a);
      const full = Math.min(15_000, 500 * 2 ** a);
      expect(d).toBeGreaterThanOrEqual(full / 2);
      expect(d).toBeLessThanOrEqual(full);
    }
  });
});

describe("which messages take a sequence number", () => {
  it("mask_saved and case_status are durable; proposals, progress, presence are not", () => {
    expect(isDurable(saved(3))).toBe(true);
    expect(isDurable({ type: "case_status", seq: 4 })).toBe(true);
    expect(isDurable({ type: "proposal", seq: 4 })).toBe(false);
    expect(isDurable({ type: "progress", seq: 4, ephemeral: true })).toBe(false);
    expect(isDurable({ type: "presence", seq: 4, ephemeral: true })).toBe(false);
    expect(isDurable({ type: "job", seq: 4 })).toBe(false);
    expect(isDurable({ type: "something_new", seq: 4, ephemeral: true })).toBe(false);
  });
});

describe("sequence tracking across reconnects", () => {
  it("starts from the room's number at the first hello and delivers newer durable events once", () => {
    const t = new SeqTracker();
    t.onOpen();
    expect(t.accept({ type: "hello", seq: 7 })).toEqual({ kind: "deliver" });
    expect(t.lastSeq).toBe(7);
    expect(t.accept(saved(8))).toEqual({ kind: "deliver" });
    expect(t.accept(saved(8))).toEqual({ kind: "drop" });
    expect(t.accept(saved(5))).toEqual({ kind: "drop" });
    expect(t.accept({ type: "presence", seq: 8, ephemeral: true })).toEqual({ kind: "deliver" });
    expect(t.lastSeq).toBe(8);
  });

  it("after a reconnect, resumes from the last number and drops replayed duplicates", () => {
    const t = new SeqTracker();
    t.accept({ type: "hello", seq: 2 });
    t.accept(saved(3));
    // The socket drops; a new one opens and the room moved on to 6.
    t.onOpen();
    expect(t.resuming).toBe(true);
    expect(t.accept({ type: "hello", seq: 6 })).toEqual({ kind: "resume", lastSeq: 3 });
    // A live event can overtake the replay; the replay of older ones must still be delivered.
    expect(t.accept(saved(6))).toEqual({ kind: "deliver" });
    expect(t.accept(saved(3))).toEqual({ kind: "drop" });
    expect(t.accept(saved(4))).toEqual({ kind: "deliver" });
    expect(t.accept(saved(5))).toEqual({ kind: "deliver" });
    expect(t.accept(saved(6))).toEqual({ kind: "drop" });
    expect(t.accept({ type: "resumed", seq: 5 })).toEqual({ kind: "deliver" });
    expect(t.resuming).toBe(false);
    expect(t.lastSeq).toBe(6);
    expect(t.accept(saved(6))).toEqual({ kind: "drop" });
    expect(t.accept(saved(7))).toEqual({ kind: "deliver" });
  });

  it("does not ask to resume when nothing happened while away", () => {
    const t = new SeqTracker();
    t.accept({ type: "hello", seq: 4 });
    t.onOpen();
    expect(t.accept({ type: "hello", seq: 4 })).toEqual({ kind: "deliver" });
    expect(t.resuming).toBe(false);
  });

  it("refetches when the server cannot replay (resync) or the counter went backwards", () => {
    const t = new SeqTracker();
    t.accept({ type: "hello", seq: 10 });
    t.onOpen();
    expect(t.accept({ type: "hello", seq: 900 })).toEqual({ kind: "resume", lastSeq: 10 });
    expect(t.accept({ type: "resync", seq: 900 })).toEqual({ kind: "resync" });
    expect(t.lastSeq).toBe(900);
    expect(t.resuming).toBe(false);
    t.onOpen();
    expect(t.accept({ type: "hello", seq: 3 })).toEqual({ kind: "resync" });
    expect(t.lastSeq).toBe(3);
  });
});
