import { describe, expect, it } from "vitest";
import { countLabel, fillHoles, maskBounds, mergeMask, paintStroke } from "./masks";

function grid(rows: string[]): { map: Uint8Array; cols: number; rows: number } {
  const cols = rows[0]!.length;
  const map = new Uint8Array(rows.length * cols);
  rows.forEach((r, y) => [...r].forEach((ch, x) => (map[y * cols + x] = ch === "." ? 0 : Number(ch))));
  return { map, cols, rows: rows.length };
}

function show(map: Uint8Array, cols: number): string[] {
  const out: string[] = [];
  for (let i = 0; i < map.length; i += cols) out.push([...map.slice(i, i + cols)].map((v) => (v ? String(v) : ".")).join(""));
  return out;
}

describe("brush rasterization", () => {
  it("paints a disc of pixel centres within the radius", () => {
    const map = new Uint8Array(7 * 7);
    const rect = paintStroke(map, 7, 7, 3.5, 3.5, 3.5, 3.5, 1.5, 1);
    expect(show(map, 7)).toEqual([
      ".......",
      ".......",
      "..111..",
      "..111..",
      "..111..",
      ".......",
      ".......",
    ]);
    expect(rect).toEqual({ x0: 2, y0: 2, x1: 5, y1: 5 });
    expect(countLabel(map, 1)).toBe(9);
  });

  it("a radius-2 disc is a rounded 'plus' shape", () => {
    const map = new Uint8Array(7 * 7);
    paintStroke(map, 7, 7, 3.5, 3.5, 3.5, 3.5, 2, 1);
    expect(show(map, 7)).toEqual([
      ".......",
      "...1...",
      "..111..",
      ".11111.",
      "..111..",
      "...1...",
      ".......",
    ]);
  });

  it("strokes a capsule between two points without gaps", () => {
    const map = new Uint8Array(3 * 12);
    paintStroke(map, 12, 3, 1.5, 1.5, 10.5, 1.5, 0.5, 2);
    expect(show(map, 12)).toEqual(["............", ".2222222222.", "............"]);
  });

  it("clips at the border and erases only the active label", () => {
    const { map, cols, rows } = grid(["1122", "1122"]);
    paintStroke(map, cols, rows, 0, 0, 4, 2, 10, 1, "erase");
    expect(show(map, cols)).toEqual(["..22", "..22"]);
    expect(paintStroke(map, cols, rows, -50, -50, -40, -40, 2, 1)).toBeNull();
  });
});

describe("hole filling", () => {
  it("fills enclosed background but not the outside or another label", () => {
    const { map, cols, rows } = grid([
      "........",
      ".111111.",
      ".1..2.1.",
      ".1....1.",
      ".111111.",
      "......1.",
      "......1.",
    ]);
    const rect = fillHoles(map, cols, rows, 1);
    expect(show(map, cols)).toEqual([
      "........",
      ".111111.",
      ".111211.",
      ".111111.",
      ".111111.",
      "......1.",
      "......1.",
    ]);
    expect(rect).toEqual({ x0: 2, y0: 2, x1: 6, y1: 4 });
  });

  it("treats a diagonal gap as closed and a real gap as open (4-connectivity)", () => {
    // The gap at the corner is diagonal only, so the inside is enclosed under 4-connectivity.
    const { map, cols, rows } = grid(["11111", "1...1", "1...1", "1111."]);
    fillHoles(map, cols, rows, 1);
    expect(show(map, cols)).toEqual(["11111", "11111", "11111", "1111."]);
    const open = grid(["11.11", "1...1", "11111"]);
    expect(fillHoles(open.map, open.cols, open.rows, 1)).toBeNull();
  });
});

describe("proposal merge and bounds", () => {
  it("adds or replaces the label", () => {
    const map = Uint8Array.from([1, 1, 0, 2]);
    const mask = Uint8Array.from([0, 1, 1, 0]);
    const a = map.slice();
    expect(mergeMask(a, mask, 1, "add")).toBe(true);
    expect([...a]).toEqual([1, 1, 1, 2]);
    const r = map.slice();
    mergeMask(r, mask, 1, "replace");
    expect([...r]).toEqual([0, 1, 1, 2]);
    expect(mergeMask(Uint8Array.from([1]), Uint8Array.from([1]), 1)).toBe(false);
  });

  it("finds mask bounds", () => {
    const { map, cols, rows } = grid(["....", ".1..", "..1.", "...."]);
    expect(maskBounds(map, cols, rows)).toEqual([1, 1, 3, 3]);
    expect(maskBounds(new Uint8Array(4), 2, 2)).toBeNull();
  });
});
