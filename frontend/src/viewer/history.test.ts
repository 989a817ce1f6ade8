import { describe, expect, it } from "vitest";
import { UndoStack, diffFrame, type LabelStore } from "./history";
import { paintStroke } from "./masks";

function store(frames: number, n: number): LabelStore & { maps: Uint8Array[] } {
  const maps = Array.from({ length: frames }, () => new Uint8Array(n));
  return { maps, frame: (z: number) => maps[z]! };
}

describe("undo/redo stack", () => {
  it("undoes and redoes brush strokes in order", () => {
    const s = store(1, 16 * 16);
    const h = new UndoStack();
    const states: Uint8Array[] = [s.maps[0]!.slice()];
    for (const [x, r] of [[4, 2], [10, 3], [14, 1]] as const) {
      const before = s.maps[0]!.slice();
      const rect = paintStroke(s.maps[0]!, 16, 16, x, 8, x, 8, r, 1);
      h.push({ name: "Brush", diffs: [diffFrame(0, before, s.maps[0]!, 16, rect)!] });
      states.push(s.maps[0]!.slice());
    }
    expect(h.canUndo).toBe(true);
    expect(h.canRedo).toBe(false);
    h.undo(s);
    expect(s.maps[0]).toEqual(states[2]);
    h.undo(s);
    h.undo(s);
    expect(s.maps[0]).toEqual(states[0]);
    expect(h.undo(s)).toBeNull();
    h.redo(s);
    h.redo(s);
    expect(s.maps[0]).toEqual(states[2]);
    expect(h.undoName).toBe("Brush");
  });

  it("a new edit clears the redo branch", () => {
    const s = store(1, 4);
    const h = new UndoStack();
    const edit = (i: number, v: number) => {
      const before = s.maps[0]!.slice();
      s.maps[0]![i] = v;
      h.push({ name: "Edit", diffs: [diffFrame(0, before, s.maps[0]!, 2)!] });
    };
    edit(0, 1);
    edit(1, 1);
    h.undo(s);
    expect(h.canRedo).toBe(true);
    edit(2, 1);
    expect(h.canRedo).toBe(false);
    expect([...s.maps[0]!]).toEqual([1, 0, 1, 0]);
  });

  it("restores several frames at once (accepting a propagation)", () => {
    const s = store(3, 4);
    const h = new UndoStack();
    const diffs = [0, 2].map((z) => {
      const before = s.maps[z]!.slice();
      s.maps[z]!.fill(1);
      return diffFrame(z, before, s.maps[z]!, 2)!;
    });
    h.push({ name: "Accept propagation", diffs });
    h.undo(s);
    expect(s.maps.every((m) => m.every((v) => v === 0))).toBe(true);
    h.redo(s);
    expect([...s.maps[2]!]).toEqual([1, 1, 1, 1]);
  });

  it("ignores empty diffs and bounds its length", () => {
    const h = new UndoStack(2);
    expect(diffFrame(0, new Uint8Array(4), new Uint8Array(4), 2)).toBeNull();
    h.push({ name: "Nothing", diffs: [] });
    expect(h.canUndo).toBe(false);
    const s = store(1, 1);
    for (let v = 1; v <= 3; v++) {
      const before = s.maps[0]!.slice();
      s.maps[0]![0] = v;
      h.push({ name: `v${v}`, diffs: [diffFrame(0, before, s.maps[0]!, 1)!] });
    }
    h.undo(s);
    h.undo(s);
    expect(h.canUndo).toBe(false);
    expect(s.maps[0]![0]).toBe(1);
  });
});
