import { describe, expect, it } from "vitest";
import { DirtyTracker, combineSources, describeSave, isRetryable, resolveConflict } from "./saveState";

describe("unsaved frames", () => {
  it("a save cleans only the frames not edited again while it was in flight", () => {
    const t = new DirtyTracker();
    t.mark([3, 4], "model");
    t.mark([4], "brush");
    const snap = t.snapshot();
    expect([...snap.frames.keys()].sort()).toEqual([3, 4]);
    expect(snap.source).toBe("mixed");
    t.mark([4, 9], "eraser"); // edits during the save
    t.settle(snap);
    expect(t.frames()).toEqual([4, 9]);
    // What is still unsaved came from the eraser only.
    expect(t.snapshot().source).toBe("eraser");
  });

  it("names one kind of edit, mixes several, and calls a restored draft a brush edit", () => {
    expect(combineSources(["model", "model"])).toBe("model");
    expect(combineSources(["propagation"])).toBe("propagation");
    expect(combineSources(["model", "brush"])).toBe("mixed");
    expect(combineSources([])).toBe("brush");
  });

  it("tells which frames changed since the last draft", () => {
    const t = new DirtyTracker();
    t.mark([1], "brush");
    const g = t.generation;
    t.mark([2], "brush");
    t.mark([1], "eraser");
    expect(t.changedSince(g)).toEqual([1, 2]);
    expect(t.changedSince(t.generation)).toEqual([]);
    t.clear();
    expect(t.size).toBe(0);
  });
});

describe("conflicts (409 stale_version)", () => {
  it("'keep mine' re-saves the local edits on top of the current version", () => {
    expect(resolveConflict("keep", { base: 2, current: 3 })).toEqual({ base: 3, keepLocal: true, saveNow: true });
  });

  it("'reload theirs' takes the current version and drops local edits", () => {
    expect(resolveConflict("reload", { base: 2, current: 5 })).toEqual({ base: 5, keepLocal: false, saveNow: false });
  });

  it("retries network failures, not refusals", () => {
    expect(isRetryable({ status: 0, code: "network" })).toBe(true);
    expect(isRetryable({ status: 503, code: "server_error" })).toBe(true);
    expect(isRetryable({ status: 409, code: "stale_version" })).toBe(false);
    expect(isRetryable({ status: 400, code: "unknown_label" })).toBe(false);
    expect(isRetryable({ status: 0, code: "aborted" })).toBe(false);
  });
});

describe("the save bar's words", () => {
  it("says what is saved, unsaved, offline or in conflict", () => {
    expect(describeSave({ status: { kind: "idle" }, head: 0, dirtyFrames: 0 }).text).toBe("Nothing saved yet");
    expect(describeSave({ status: { kind: "idle" }, head: 4, dirtyFrames: 0 })).toEqual({
      text: "All changes saved · version 4",
      tone: "ok",
    });
    expect(describeSave({ status: { kind: "idle" }, head: 4, dirtyFrames: 1 }).text).toBe("Unsaved changes on 1 slice");
    expect(describeSave({ status: { kind: "offline", message: "x" }, head: 4, dirtyFrames: 3 }).text).toBe(
      "Offline: 3 slices kept here, saved when back",
    );
    expect(describeSave({ status: { kind: "conflict", base: 4, current: 5, by: null }, head: 4, dirtyFrames: 3 }).tone).toBe("error");
  });
});
