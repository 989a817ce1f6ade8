import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { ImageRoom, type WebSocketLike } from "./room";
import { SocketSegmentationTransport } from "./segmentation";

class FakeSocket implements WebSocketLike {
  readyState = 0;
  sent: Array<Record<string, unknown>> = [];
  onopen: ((ev: unknown) => void) | null = null;
  onclose: ((ev: { code: number }) => void) | null = null;
  onmessage: ((ev: { data: unknown }) => void) | null = null;
  onerror: ((ev: unknown) => void) | null = null;
  send(data: string) {
    this.sent.push(JSON.parse(data) as Record<string, unknown>);
  }
  close(code = 1000) {
    this.readyState = 3;
    this.onclose?.({ code });
  }
  open() {
    this.readyState = 1;
    this.onopen?.({});
  }
  push(msg: Record<string, unknown>) {
    this.onmessage?.({ data: JSON.stringify(msg) });
  }
}

const ME = { id: 5, username: "reader1", color: "#ff0000" };

function makeRoom() {
  const sockets: FakeSocket[] = [];
  const room = new ImageRoom(42, {
    url: "ws://test/ws/images/42/",
    createSocket: () => {
      const s = new FakeSocket();
      sockets.push(s);
      return s;
    },
  });
  return { room, sockets };
}

describe("the image room client", () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  it("reconnects with backoff after a drop and resumes from the last sequence number", () => {
    const { room, sockets } = makeRoom();
    const got: string[] = [];
    room.on((m) => got.push(`${m.type}${"seq" in m ? `:${m.seq}` : ""}`));
    let reconnected = 0;
    room.onReconnected(() => reconnected++);
    sockets[0]!.open();
    sockets[0]!.push({ type: "hello", protocol: "readingroom.v1", seq: 3, series_id: 42, user: ME });
    expect(room.state.get().status).toBe("open");
    sockets[0]!.push({ type: "mask_saved", annotation_id: 1, version: 2, seq: 4, frames: [] });
    sockets[0]!.close(1006);
    expect(room.state.get().status).toBe("reconnecting");
    expect(room.isOpen).toBe(false);
    expect(room.send({ type: "ping" })).toBe(false);
    vi.advanceTimersByTime(600); // first retry within 250..500 ms
    expect(sockets).toHaveLength(2);
    sockets[1]!.open();
    sockets[1]!.push({ type: "hello", protocol: "readingroom.v1", seq: 6, series_id: 42, user: ME });
    expect(sockets[1]!.sent.find((m) => m.type === "resume")).toEqual({ type: "resume", last_seq: 4 });
    sockets[1]!.push({ type: "mask_saved", annotation_id: 1, version: 3, seq: 5, frames: [] });
    sockets[1]!.push({ type: "mask_saved", annotation_id: 1, version: 3, seq: 5, frames: [] }); // duplicate
    sockets[1]!.push({ type: "resumed", seq: 5 });
    expect(got).toEqual(["hello:3", "mask_saved:4", "mask_saved:5", "resumed:5"]);
    expect(reconnected).toBe(1);
    expect(room.state.get().attempt).toBe(0);
    room.close();
  });

  it("backs off longer after each failed attempt", () => {
    const { room, sockets } = makeRoom();
    sockets[0]!.close(1006);
    const first = room.state.get().retryAt! - Date.now();
    vi.advanceTimersByTime(first + 1);
    sockets[1]!.close(1006);
    const second = room.state.get().retryAt! - Date.now();
    vi.advanceTimersByTime(second + 1);
    sockets[2]!.close(1006);
    const third = room.state.get().retryAt! - Date.now();
    expect(first).toBeLessThanOrEqual(500);
    expect(third).toBeGreaterThanOrEqual(1000); // attempt 2: 1000..2000 ms
    expect(room.state.get().attempt).toBe(3);
    room.close();
  });

  it("stops on a refusal (4403) and says why", () => {
    const { room, sockets } = makeRoom();
    sockets[0]!.close(4403);
    expect(room.state.get().status).toBe("denied");
    expect(room.state.get().deniedReason).toMatch(/not a member/);
    vi.advanceTimersByTime(60_000);
    expect(sockets).toHaveLength(1);
    room.close();
  });

  it("keeps others' presence (not its own) and re-sends its own after a reconnect", () => {
    const { room, sockets } = makeRoom();
    room.setPresence(9, 109);
    sockets[0]!.open();
    sockets[0]!.push({ type: "hello", protocol: "readingroom.v1", seq: 0, series_id: 42, user: ME });
    expect(sockets[0]!.sent).toContainEqual({ type: "presence", slice: 9, frame_id: 109 });
    sockets[0]!.push({ type: "presence", user: ME, slice: 9, seq: 0, ephemeral: true });
    sockets[0]!.push({ type: "presence", user: { id: 8, username: "reviewer", color: "#00ff00" }, slice: 3, seq: 0, ephemeral: true });
    expect(room.state.get().peers.map((p) => [p.user.username, p.slice])).toEqual([["reviewer", 3]]);
    room.close();
  });
});

describe("prompts over the room", () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  it("answers a prompt with its proposal, settles superseded prompts, and maps errors", async () => {
    const { room, sockets } = makeRoom();
    sockets[0]!.open();
    sockets[0]!.push({ type: "hello", protocol: "readingroom.v1", seq: 0, series_id: 42, user: ME });
    const t = new SocketSegmentationTransport("demo", room);
    const first = t.prompt(100, { box: [1, 2, 30, 40] });
    const second = t.prompt(100, { box: [1, 2, 31, 41], multimask: true });
    await expect(first).rejects.toMatchObject({ code: "aborted" });
    const sent = sockets[0]!.sent.filter((m) => m.type === "prompt");
    expect(sent).toHaveLength(2);
    expect(sent[1]).toMatchObject({ frame_id: 100, box: [1, 2, 31, 41], multimask: true });
    sockets[0]!.push({
      type: "proposal",
      request_id: sent[1]!.request_id,
      frame_id: 100,
      model: "litemedsam",
      masks: [{ size: [2, 2], counts: [1, 3] }],
      scores: [0.9],
      best: 0,
      seq: 0,
    });
    await expect(second).resolves.toMatchObject({ frame_id: 100, scores: [0.9], best: 0 });
    const third = t.prompt(100, { box: [0, 0, 0, 0] });
    const id = sockets[0]!.sent.filter((m) => m.type === "prompt")[2]!.request_id;
    sockets[0]!.push({ type: "error", code: "box_empty", message: "empty box", request_id: id });
    await expect(third).rejects.toMatchObject({ code: "box_empty" });
    t.close();
    room.close();
  });

  it("follows a propagation job by request id, progress and completion", async () => {
    const { room, sockets } = makeRoom();
    sockets[0]!.open();
    sockets[0]!.push({ type: "hello", protocol: "readingroom.v1", seq: 0, series_id: 42, user: ME });
    const t = new SocketSegmentationTransport("demo", room);
    const progress: number[] = [];
    const h = t.propagate(42, [10, 10, 2, 50, 50, 6], { startSlice: 4, onProgress: (p) => progress.push(p.done) });
    const msg = sockets[0]!.sent.find((m) => m.type === "propagate")!;
    expect(msg).toMatchObject({ box: [10, 10, 2, 50, 50, 6], start_slice: 4 });
    sockets[0]!.push({ type: "job", request_id: msg.request_id, job_id: 77, kind: "propagate", status: "queued", seq: 0 });
    await expect(h.jobId).resolves.toBe(77);
    sockets[0]!.push({ type: "progress", job_id: 77, kind: "propagate", done: 2, total: 5, seq: 0, ephemeral: true });
    sockets[0]!.push({ type: "progress", job_id: 78, kind: "propagate", done: 4, total: 5, seq: 0, ephemeral: true });
    expect(progress).toEqual([0, 2]);
    void h.cancel();
    await Promise.resolve();
    await Promise.resolve();
    expect(sockets[0]!.sent).toContainEqual({ type: "cancel", job_id: 77 });
    t.close();
    room.close();
  });
});
