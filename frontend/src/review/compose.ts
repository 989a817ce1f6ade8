/**
 * Pixel composition for the review page's small side-by-side panels: a windowed slice (packed RGBA,
 * little-endian) with a label map blended on top, and readers' outlines overlaid in their own colours.
 */

import { hexToRgb } from "../labels";

export function pack(r: number, g: number, b: number, a = 255): number {
  return ((a << 24) | (b << 16) | (g << 8) | r) >>> 0;
}

/** A colour per label value (0 = none). */
export function labelColors(labels: ReadonlyArray<{ id: number; color: string }>): Uint32Array {
  const out = new Uint32Array(256);
  for (const l of labels) out[l.id] = pack(...hexToRgb(l.color));
  // Values without a label in the schema still show, in white.
  return out;
}

function isEdge(map: Uint8Array, i: number, x: number, y: number, cols: number, rows: number): boolean {
  const v = map[i];
  return (
    x === 0 || y === 0 || x === cols - 1 || y === rows - 1 || map[i - 1] !== v || map[i + 1] !== v || map[i - cols] !== v || map[i + cols] !== v
  );
}

/** `base` with each labelled pixel blended at `alpha` in its label's colour, edges opaque. */
export function blendLabels(
  base: Uint32Array,
  map: Uint8Array | null,
  cols: number,
  rows: number,
  colors: Uint32Array,
  alpha = 0.45,
): Uint32Array {
  const out = base.slice();
  if (!map) return out;
  const a = Math.round(alpha * 256);
  for (let y = 0, i = 0; y < rows; y++) {
    for (let x = 0; x < cols; x++, i++) {
      const v = map[i]!;
      if (v === 0) continue;
      const c = colors[v] || 0xffffffff;
      if (isEdge(map, i, x, y, cols, rows)) {
        out[i] = (c | 0xff000000) >>> 0;
        continue;
      }
      const p = base[i]!;
      const r = ((p & 0xff) * (256 - a) + (c & 0xff) * a) >> 8;
      const g = (((p >> 8) & 0xff) * (256 - a) + ((c >> 8) & 0xff) * a) >> 8;
      const b = (((p >> 16) & 0xff) * (256 - a) + ((c >> 16) & 0xff) * a) >> 8;
      out[i] = pack(r, g, b);
    }
  }
  return out;
}

/**
 * Draw the outline of every labelled region of `map` into `out` in one colour, `width` pixels thick
 * (inwards and to the right/below, so outlines stay visible when a 512 px slice is shown smaller).
 */
export function drawOutline(out: Uint32Array, map: Uint8Array | null, cols: number, rows: number, color: number, width = 1): number {
  if (!map) return 0;
  let n = 0;
  for (let y = 0, i = 0; y < rows; y++) {
    for (let x = 0; x < cols; x++, i++) {
      if (map[i] === 0 || !isEdge(map, i, x, y, cols, rows)) continue;
      n++;
      for (let dy = 0; dy < width && y + dy < rows; dy++) {
        for (let dx = 0; dx < width && x + dx < cols; dx++) out[i + dy * cols + dx] = color;
      }
    }
  }
  return n;
}

/** Distinct colours for readers in the overlay (consensus is green). */
export const READER_COLORS = ["#ff9f0a", "#30b0ff", "#bf5af2", "#ffd60a", "#ff375f", "#64d2ff"];
export const CONSENSUS_COLOR = "#32d583";
