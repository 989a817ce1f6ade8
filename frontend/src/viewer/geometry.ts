/**
 * Canvas maths: image <-> screen under zoom and pan, fit, and pixel -> patient position in mm.
 *
 * Image coordinates are continuous: pixel (col i, row j) covers [i, i+1) x [j, j+1), so its centre is
 * (i + 0.5, j + 0.5). This matches the model API, which takes boxes and points in [0, columns] x [0, rows].
 * Screen coordinates are CSS pixels relative to the canvas' top-left corner.
 */

export interface Vec2 {
  x: number;
  y: number;
}

export type Vec3 = [number, number, number];

/** screen = image * (sx, sy) + (tx, ty). sx != sy only for non-square pixels (pixel aspect). */
export interface Viewport {
  sx: number;
  sy: number;
  tx: number;
  ty: number;
}

export const IDENTITY: Viewport = { sx: 1, sy: 1, tx: 0, ty: 0 };

export function imageToScreen(v: Viewport, p: Vec2): Vec2 {
  return { x: p.x * v.sx + v.tx, y: p.y * v.sy + v.ty };
}

export function screenToImage(v: Viewport, p: Vec2): Vec2 {
  return { x: (p.x - v.tx) / v.sx, y: (p.y - v.ty) / v.sy };
}

/**
 * Pixel aspect from DICOM PixelSpacing [row spacing, column spacing]: on screen a pixel is
 * colSpacing wide and rowSpacing tall, relative to the smaller of the two.
 */
export function pixelAspect(spacing: readonly number[] | null | undefined): { ax: number; ay: number } {
  const row = spacing?.[0];
  const col = spacing?.[1];
  if (!row || !col || !(row > 0) || !(col > 0)) return { ax: 1, ay: 1 };
  const unit = Math.min(row, col);
  return { ax: col / unit, ay: row / unit };
}

/** The largest scale that shows the whole image centred in the view, leaving `margin` CSS px around it. */
export function fitViewport(
  cols: number,
  rows: number,
  viewW: number,
  viewH: number,
  aspect: { ax: number; ay: number } = { ax: 1, ay: 1 },
  margin = 0,
): Viewport {
  const w = cols * aspect.ax;
  const h = rows * aspect.ay;
  const availW = Math.max(1, viewW - 2 * margin);
  const availH = Math.max(1, viewH - 2 * margin);
  const s = Math.max(1e-6, Math.min(availW / w, availH / h));
  const sx = s * aspect.ax;
  const sy = s * aspect.ay;
  return { sx, sy, tx: (viewW - cols * sx) / 2, ty: (viewH - rows * sy) / 2 };
}

export const MIN_ZOOM = 0.05;
export const MAX_ZOOM = 64;

/** Zoom by `factor` keeping the image point under `anchor` (screen) where it is. */
export function zoomAt(v: Viewport, factor: number, anchor: Vec2, aspect = { ax: 1, ay: 1 }): Viewport {
  const current = v.sx / aspect.ax;
  const next = Math.min(MAX_ZOOM, Math.max(MIN_ZOOM, current * factor));
  const f = next / current;
  return {
    sx: v.sx * f,
    sy: v.sy * f,
    tx: anchor.x - (anchor.x - v.tx) * f,
    ty: anchor.y - (anchor.y - v.ty) * f,
  };
}

export function pan(v: Viewport, dx: number, dy: number): Viewport {
  return { ...v, tx: v.tx + dx, ty: v.ty + dy };
}

/** Zoom as a percentage of one screen pixel per image pixel (along the finer axis). */
export function zoomPercent(v: Viewport, aspect = { ax: 1, ay: 1 }): number {
  return (v.sx / aspect.ax) * 100;
}

/** The pixel index under an image point, or null outside the image. */
export function pixelAt(p: Vec2, cols: number, rows: number): { col: number; row: number } | null {
  const col = Math.floor(p.x);
  const row = Math.floor(p.y);
  if (col < 0 || row < 0 || col >= cols || row >= rows) return null;
  return { col, row };
}

export interface PlaneGeometry {
  /** ImagePositionPatient: the centre of the first transmitted pixel, in mm. */
  position: Vec3;
  /** ImageOrientationPatient: row direction cosine (along a row, increasing column), then column cosine. */
  orientation: [number, number, number, number, number, number];
  /** PixelSpacing: [row spacing (between rows), column spacing (between columns)] in mm. */
  spacing: [number, number];
}

/**
 * Patient coordinates (mm) of the centre of pixel (col, row), per DICOM C.7.6.2.1.1:
 * P = IPP + col * colSpacing * rowCosine + row * rowSpacing * colCosine.
 */
export function pixelToPatient(g: PlaneGeometry, col: number, row: number): Vec3 {
  const [rowSpacing, colSpacing] = g.spacing;
  const o = g.orientation;
  const p = g.position;
  return [
    p[0] + col * colSpacing * o[0] + row * rowSpacing * o[3],
    p[1] + col * colSpacing * o[1] + row * rowSpacing * o[4],
    p[2] + col * colSpacing * o[2] + row * rowSpacing * o[5],
  ];
}

/** Build a PlaneGeometry from API fields, or null where the file lacks them (2D photos, PNGs). */
export function planeGeometry(
  position: readonly number[] | null | undefined,
  orientation: readonly number[] | null | undefined,
  spacing: readonly number[] | null | undefined,
): PlaneGeometry | null {
  if (!position || position.length !== 3 || !orientation || orientation.length !== 6) return null;
  if (!spacing || spacing.length !== 2) return null;
  return {
    position: [position[0]!, position[1]!, position[2]!],
    orientation: orientation.slice(0, 6) as PlaneGeometry["orientation"],
    spacing: [spacing[0]!, spacing[1]!],
  };
}

/** Clamp an axis-aligned box (two image points, any order) to the image: [x0, y0, x1, y1], x0 < x1. */
export function normalizeBox(a: Vec2, b: Vec2, cols: number, rows: number): [number, number, number, number] {
  const clampX = (x: number) => Math.min(cols, Math.max(0, x));
  const clampY = (y: number) => Math.min(rows, Math.max(0, y));
  const x0 = clampX(Math.min(a.x, b.x));
  const x1 = clampX(Math.max(a.x, b.x));
  const y0 = clampY(Math.min(a.y, b.y));
  const y1 = clampY(Math.max(a.y, b.y));
  return [round2(x0), round2(y0), round2(x1), round2(y1)];
}

function round2(v: number): number {
  return Math.round(v * 100) / 100;
}

/**
 * The patient-direction letters of a direction cosine (DICOM LPS: +x Left, +y Posterior, +z Head), main
 * component first, e.g. [1, 0, 0] -> "L", [0.7, 0.7, 0] -> "LP". Components under 0.25 are left out.
 */
export function directionLabel(v: readonly number[]): string {
  const letters: Array<[number, string]> = [
    [v[0] ?? 0, (v[0] ?? 0) > 0 ? "L" : "R"],
    [v[1] ?? 0, (v[1] ?? 0) > 0 ? "P" : "A"],
    [v[2] ?? 0, (v[2] ?? 0) > 0 ? "H" : "F"],
  ];
  return letters
    .filter(([c]) => Math.abs(c) >= 0.25)
    .sort((a, b) => Math.abs(b[0]) - Math.abs(a[0]))
    .map(([, l]) => l)
    .join("");
}

/** Edge markers for a plane: the direction each screen edge points to. */
export function orientationMarkers(
  orientation: readonly number[] | null | undefined,
): { left: string; right: string; top: string; bottom: string } | null {
  if (!orientation || orientation.length !== 6) return null;
  const row = orientation.slice(0, 3);
  const col = orientation.slice(3, 6);
  const neg = (v: number[]) => v.map((c) => -c);
  return {
    right: directionLabel(row),
    left: directionLabel(neg(row)),
    bottom: directionLabel(col),
    top: directionLabel(neg(col)),
  };
}
