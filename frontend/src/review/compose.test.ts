import { describe, expect, it } from "vitest";
import { blendLabels, drawOutline, labelColors, pack } from "./compose";

describe("review panels", () => {
  const grey = pack(100, 100, 100);
  const base = new Uint32Array(25).fill(grey);
  const map = new Uint8Array(25);
  // A 3x3 square of label 1 in a 5x5 image: its ring is edge, its centre is inside.
  for (const i of [6, 7, 8, 11, 12, 13, 16, 17, 18]) map[i] = 1;
  const colors = labelColors([{ id: 1, color: "#ff0000" }]);

  it("blends the label colour inside and draws the edge opaque, leaving the background", () => {
    const out = blendLabels(base, map, 5, 5, colors, 0.5);
    expect(out[0]).toBe(grey);
    expect(out[6]).toBe(pack(255, 0, 0));
    expect(out[12]! & 0xff).toBeGreaterThan(150); // red up
    expect((out[12]! >> 8) & 0xff).toBeLessThan(60); // green down
    expect(base[12]).toBe(grey); // the input is not modified
    expect(blendLabels(base, null, 5, 5, colors)).toEqual(base);
  });

  it("outlines a region in one colour, optionally thicker", () => {
    const out = base.slice();
    const red = pack(255, 0, 0);
    expect(drawOutline(out, map, 5, 5, red)).toBe(8);
    expect(out[12]).toBe(grey);
    expect(out[6]).toBe(red);
    const thick = base.slice();
    drawOutline(thick, map, 5, 5, red, 2);
    expect(thick[12]).toBe(red); // grown inwards from the top-left edge pixels
  });
});
