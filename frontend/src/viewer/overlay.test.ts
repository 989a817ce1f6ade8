import { describe, expect, it } from "vitest";
import { labelPalette, renderOverlay } from "./overlay";

const schema = [
  { id: 1, name: "Lesion", color: "#ff0000" },
  { id: 2, name: "Organ", color: "#00ff00" },
];

describe("mask overlay", () => {
  it("fills the inside at the label opacity and outlines the edge", () => {
    const cols = 5;
    const rows = 5;
    const labels = new Uint8Array(25);
    for (let y = 1; y < 4; y++) for (let x = 1; x < 4; x++) labels[y * cols + x] = 1;
    const out = new Uint32Array(25);
    const palette = labelPalette(schema, { 1: { visible: true, opacity: 0.5 } });
    expect(renderOverlay(out, cols, rows, labels, palette, null)).toBe(true);
    expect(out[0]).toBe(0);
    expect(out[6]! >>> 24).toBe(255); // edge, opaque
    expect(out[12]! >>> 24).toBe(128); // inside, half
    expect(out[12]! & 0xff).toBe(255); // red
  });

  it("hides invisible labels and draws the proposal on top", () => {
    const labels = Uint8Array.from([1, 1, 1, 1]);
    const out = new Uint32Array(4);
    const hidden = labelPalette(schema, { 1: { visible: false, opacity: 1 } });
    expect(renderOverlay(out, 2, 2, labels, hidden, null)).toBe(false);
    expect(renderOverlay(out, 2, 2, labels, hidden, Uint8Array.from([0, 1, 0, 0]))).toBe(true);
    expect(out[1]).not.toBe(0);
    expect(out[0]).toBe(0);
  });
});
