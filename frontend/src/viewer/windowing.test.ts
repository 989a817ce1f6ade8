import { describe, expect, it } from "vitest";
import {
  buildLut16,
  dragWindow,
  packGrey,
  renderWindowed,
  valueRange,
  windowForRange,
  windowValue,
} from "./windowing";

const grey = (rgba: number) => rgba & 0xff;

describe("windowing (DICOM linear VOI)", () => {
  it("maps soft tissue 40/400: below -160 black, above 240 white, centre mid-grey", () => {
    expect(windowValue(-1000, 40, 400)).toBe(0);
    expect(windowValue(-160, 40, 400)).toBe(0);
    expect(windowValue(1000, 40, 400)).toBe(255);
    expect(windowValue(240, 40, 400)).toBe(255);
    expect(windowValue(40, 40, 400)).toBe(128);
    expect(windowValue(-60, 40, 400)).toBeGreaterThan(60);
    expect(windowValue(-60, 40, 400)).toBeLessThan(66);
  });

  it("inverts MONOCHROME1", () => {
    expect(windowValue(-1000, 40, 400, true)).toBe(255);
    expect(windowValue(1000, 40, 400, true)).toBe(0);
    expect(windowValue(40, 40, 400, true)).toBe(127);
  });

  it("builds an int16 LUT equal to the formula everywhere", () => {
    for (const [c, w, inv] of [
      [40, 400, false],
      [-600, 1500, false],
      [40, 80, true],
      [0, 1, false],
      [30000, 10000, false],
      [-32000, 20000, true],
    ] as const) {
      const lut = buildLut16(c, w, inv);
      for (const v of [-32768, -2000, -601, -600, -160, -159, 0, 39, 40, 41, 239, 240, 241, 3071, 32767]) {
        expect(grey(lut[v + 32768]!)).toBe(windowValue(v, c, w, inv));
      }
      expect(lut[0]! >>> 24).toBe(255);
    }
  });

  it("renders int16, float32, uint8 grey and RGB", () => {
    const out = new Uint32Array(3);
    renderWindowed(Int16Array.from([-1000, 40, 1000]), 1, out, { center: 40, width: 400 });
    expect([...out].map(grey)).toEqual([0, 128, 255]);
    renderWindowed(Float32Array.from([-1000, 40, 1000]), 1, out, { center: 40, width: 400 }, true);
    expect([...out].map(grey)).toEqual([255, 127, 0]);
    renderWindowed(Uint8Array.from([0, 128, 255]), 1, out, { center: 128, width: 256 });
    expect([...out].map(grey)).toEqual([0, 128, 255]);
    const rgb = new Uint32Array(2);
    renderWindowed(Uint8Array.from([255, 0, 10, 1, 2, 3]), 3, rgb, { center: 128, width: 256 });
    expect(rgb[0]).toBe(((255 << 24) | (10 << 16) | (0 << 8) | 255) >>> 0);
    expect(rgb[1]).toBe(((255 << 24) | (3 << 16) | (2 << 8) | 1) >>> 0);
  });

  it("packs opaque grey", () => {
    expect(packGrey(0)).toBe(0xff000000);
    expect(packGrey(255)).toBe(0xffffffff);
  });

  it("derives a window from the value range and drags it", () => {
    const r = valueRange(Int16Array.from([-1024, 0, 3071]));
    expect(r).toEqual({ min: -1024, max: 3071 });
    const wl = windowForRange(r.min, r.max);
    expect(windowValue(r.min, wl.center, wl.width)).toBe(0);
    expect(windowValue(r.max, wl.center, wl.width)).toBe(255);
    const d = dragWindow({ center: 40, width: 400 }, 10, -20);
    expect(d.width).toBeGreaterThan(400);
    expect(d.center).toBeGreaterThan(40);
    expect(dragWindow({ center: 40, width: 2 }, -100, 0).width).toBe(1);
  });
});
