import { describe, expect, it } from "vitest";
import {
  directionLabel,
  fitViewport,
  imageToScreen,
  normalizeBox,
  orientationMarkers,
  pan,
  pixelAspect,
  pixelAt,
  pixelToPatient,
  planeGeometry,
  screenToImage,
  zoomAt,
  zoomPercent,
} from "./geometry";

describe("image <-> screen", () => {
  it("round-trips under zoom and pan", () => {
    const v = { sx: 2.5, sy: 2.5, tx: -37, ty: 12.25 };
    for (const p of [{ x: 0, y: 0 }, { x: 511.5, y: 3.25 }, { x: -10, y: 600 }]) {
      const back = screenToImage(v, imageToScreen(v, p));
      expect(back.x).toBeCloseTo(p.x, 9);
      expect(back.y).toBeCloseTo(p.y, 9);
    }
  });

  it("fits a 512x512 image centred in a wide view", () => {
    const v = fitViewport(512, 512, 1000, 800);
    expect(v.sx).toBeCloseTo(800 / 512);
    expect(v.sy).toBeCloseTo(800 / 512);
    expect(imageToScreen(v, { x: 256, y: 256 })).toEqual({ x: 500, y: 400 });
    expect(imageToScreen(v, { x: 0, y: 0 }).y).toBeCloseTo(0);
  });

  it("keeps a margin and honours non-square pixels", () => {
    const aspect = pixelAspect([1.0, 0.5]); // rows 1 mm apart, columns 0.5 mm apart
    expect(aspect).toEqual({ ax: 1, ay: 2 });
    const v = fitViewport(100, 100, 400, 400, aspect, 10);
    // 100 rows are 200 units tall: the height limits, 380 / 200 = 1.9
    expect(v.sy).toBeCloseTo(3.8);
    expect(v.sx).toBeCloseTo(1.9);
    expect(imageToScreen(v, { x: 50, y: 50 })).toEqual({ x: 200, y: 200 });
  });

  it("zooms about the cursor: the image point under it stays put", () => {
    const v = fitViewport(512, 512, 800, 600);
    const anchor = { x: 123, y: 456 };
    const before = screenToImage(v, anchor);
    const z = zoomAt(v, 2, anchor);
    expect(z.sx).toBeCloseTo(v.sx * 2);
    const after = screenToImage(z, anchor);
    expect(after.x).toBeCloseTo(before.x, 9);
    expect(after.y).toBeCloseTo(before.y, 9);
    expect(zoomPercent(z)).toBeCloseTo(zoomPercent(v) * 2);
  });

  it("clamps zoom and pans by screen pixels", () => {
    const v = { sx: 1, sy: 1, tx: 0, ty: 0 };
    expect(zoomAt(v, 1e6, { x: 0, y: 0 }).sx).toBe(64);
    expect(zoomAt(v, 1e-6, { x: 0, y: 0 }).sx).toBeCloseTo(0.05);
    const p = pan(v, 10, -5);
    expect(screenToImage(p, { x: 10, y: -5 })).toEqual({ x: 0, y: 0 });
  });

  it("finds the pixel under a point", () => {
    expect(pixelAt({ x: 0.2, y: 0.99 }, 4, 4)).toEqual({ col: 0, row: 0 });
    expect(pixelAt({ x: 3.999, y: 2 }, 4, 4)).toEqual({ col: 3, row: 2 });
    expect(pixelAt({ x: 4, y: 0 }, 4, 4)).toBeNull();
    expect(pixelAt({ x: -0.01, y: 0 }, 4, 4)).toBeNull();
  });

  it("normalizes and clamps a dragged box", () => {
    expect(normalizeBox({ x: 30, y: 40 }, { x: 10, y: -5 }, 512, 512)).toEqual([10, 0, 30, 40]);
    expect(normalizeBox({ x: 500.123, y: 10 }, { x: 600, y: 20 }, 512, 512)).toEqual([500.12, 10, 512, 20]);
  });
});

describe("pixel -> patient mm", () => {
  it("follows DICOM: IPP + col*colSpacing*rowCosine + row*rowSpacing*colCosine", () => {
    // Axial CT: rows along +x, columns along +y; spacing [row 0.7, col 0.5].
    const g = planeGeometry([-250, -200, 100], [1, 0, 0, 0, 1, 0], [0.7, 0.5])!;
    expect(pixelToPatient(g, 0, 0)).toEqual([-250, -200, 100]);
    const p = pixelToPatient(g, 10, 20);
    expect(p[0]).toBeCloseTo(-250 + 10 * 0.5);
    expect(p[1]).toBeCloseTo(-200 + 20 * 0.7);
    expect(p[2]).toBeCloseTo(100);
  });

  it("handles oblique and coronal orientations", () => {
    // Coronal: rows along +x, columns along -z.
    const coronal = planeGeometry([0, 10, 50], [1, 0, 0, 0, 0, -1], [2, 1])!;
    expect(pixelToPatient(coronal, 3, 4)).toEqual([3, 10, 50 - 8]);
    const c = Math.SQRT1_2;
    const oblique = planeGeometry([0, 0, 0], [c, c, 0, -c, c, 0], [1, 1])!;
    const q = pixelToPatient(oblique, 1, 1);
    expect(q[0]).toBeCloseTo(0);
    expect(q[1]).toBeCloseTo(2 * c);
  });

  it("returns null geometry for files without it", () => {
    expect(planeGeometry(null, [1, 0, 0, 0, 1, 0], [1, 1])).toBeNull();
    expect(planeGeometry([0, 0, 0], [1, 0, 0], [1, 1])).toBeNull();
  });
});

describe("orientation markers", () => {
  it("labels an axial plane: left of screen is patient right, top is anterior", () => {
    expect(orientationMarkers([1, 0, 0, 0, 1, 0])).toEqual({ left: "R", right: "L", top: "A", bottom: "P" });
  });
  it("labels a coronal plane and oblique directions", () => {
    expect(orientationMarkers([1, 0, 0, 0, 0, -1])).toEqual({ left: "R", right: "L", top: "H", bottom: "F" });
    expect(directionLabel([0.8, -0.6, 0])).toBe("LA");
    expect(orientationMarkers(null)).toBeNull();
  });
});
