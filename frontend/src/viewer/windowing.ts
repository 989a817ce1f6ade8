/**
 * Window/level on the client: values (HU for CT, rescale already applied) -> 8-bit grey -> RGBA.
 *
 * The linear function is DICOM PS3.3 C.11.2.1.2.1 (VOI LUT "LINEAR"):
 *   x <= c - 0.5 - (w-1)/2  -> 0;   x > c - 0.5 + (w-1)/2 -> 255;
 *   else ((x - (c - 0.5)) / (w - 1) + 0.5) * 255
 * MONOCHROME1 stores inverted grey (low values are white), so its output is inverted for display.
 */

export interface WindowLevel {
  center: number;
  width: number;
}

export interface WindowPreset extends WindowLevel {
  name: string;
  /** Keyboard shortcut shown in the UI. */
  key?: string;
}

/** Standard CT presets (HU). */
export const CT_PRESETS: readonly WindowPreset[] = [
  { name: "Soft tissue", center: 40, width: 400, key: "1" },
  { name: "Lung", center: -600, width: 1500, key: "2" },
  { name: "Bone", center: 400, width: 1800, key: "3" },
  { name: "Brain", center: 40, width: 80, key: "4" },
];

export const MIN_WINDOW_WIDTH = 1;

/** The grey level (0..255) of one value; `invert` for MONOCHROME1. */
export function windowValue(x: number, center: number, width: number, invert = false): number {
  const w = Math.max(MIN_WINDOW_WIDTH, width);
  const lower = center - 0.5 - (w - 1) / 2;
  const upper = center - 0.5 + (w - 1) / 2;
  let y: number;
  if (x <= lower) y = 0;
  else if (x > upper) y = 255;
  else if (w === 1) y = 255;
  else y = Math.round(((x - (center - 0.5)) / (w - 1) + 0.5) * 255);
  y = Math.min(255, Math.max(0, y));
  return invert ? 255 - y : y;
}

const LUT16_OFFSET = 32768;

/**
 * A lookup table for int16 data: index (value + 32768) -> packed RGBA (little-endian ABGR as a Uint32,
 * opaque grey), so rendering a slice is one table read per pixel.
 */
export function buildLut16(center: number, width: number, invert = false): Uint32Array {
  const lut = new Uint32Array(65536);
  const w = Math.max(MIN_WINDOW_WIDTH, width);
  const lower = center - 0.5 - (w - 1) / 2;
  const upper = center - 0.5 + (w - 1) / 2;
  // Below floor(lower) everything is black, above ceil(upper) white; only the ramp is computed.
  const lo = Math.floor(lower);
  const hi = Math.ceil(upper);
  if (lo >= -32768) lut.fill(packGrey(invert ? 255 : 0), 0, Math.min(65536, lo + LUT16_OFFSET + 1));
  if (hi <= 32767) lut.fill(packGrey(invert ? 0 : 255), Math.max(0, hi + LUT16_OFFSET));
  const from = Math.max(-32768, lo + 1);
  const to = Math.min(32767, hi);
  for (let v = from; v <= to; v++) lut[v + LUT16_OFFSET] = packGrey(windowValue(v, center, width, invert));
  return lut;
}

export function packGrey(g: number): number {
  // Little-endian RGBA bytes R, G, B, A read as one Uint32: A << 24 | B << 16 | G << 8 | R.
  return ((255 << 24) | (g << 16) | (g << 8) | g) >>> 0;
}

export type PixelData = Int16Array | Float32Array | Uint8Array;

/**
 * Window `src` into `out` (RGBA, length 4 * pixels, viewed as Uint32). `samples` is 1 for grey data, 3 for
 * interleaved RGB (uint8), which is windowed per channel (identity at centre 128, width 256).
 */
export function renderWindowed(
  src: PixelData,
  samples: 1 | 3,
  out: Uint32Array,
  wl: WindowLevel,
  invert = false,
  lut16?: Uint32Array,
): void {
  const n = out.length;
  if (samples === 3) {
    const table = new Uint8Array(256);
    for (let v = 0; v < 256; v++) table[v] = windowValue(v, wl.center, wl.width, invert);
    for (let i = 0, j = 0; i < n; i++, j += 3) {
      out[i] = ((255 << 24) | (table[src[j + 2]!]! << 16) | (table[src[j + 1]!]! << 8) | table[src[j]!]!) >>> 0;
    }
    return;
  }
  if (src instanceof Int16Array) {
    const lut = lut16 ?? buildLut16(wl.center, wl.width, invert);
    for (let i = 0; i < n; i++) out[i] = lut[src[i]! + LUT16_OFFSET]!;
    return;
  }
  // float32 or uint8 grey: compute directly (a 256-entry table for uint8).
  if (src instanceof Uint8Array) {
    const table = new Uint32Array(256);
    for (let v = 0; v < 256; v++) table[v] = packGrey(windowValue(v, wl.center, wl.width, invert));
    for (let i = 0; i < n; i++) out[i] = table[src[i]!]!;
    return;
  }
  const w = Math.max(MIN_WINDOW_WIDTH, wl.width);
  const lower = wl.center - 0.5 - (w - 1) / 2;
  const scale = w > 1 ? 255 / (w - 1) : 0;
  for (let i = 0; i < n; i++) {
    const x = src[i]!;
    let g = x <= lower ? 0 : w === 1 ? 255 : Math.round((x - lower) * scale);
    if (g > 255) g = 255;
    if (g !== g) g = 0; // NaN
    out[i] = packGrey(invert ? 255 - g : g);
  }
}

/** Min and max of the finite values (for a default window on data without presets). */
export function valueRange(src: PixelData): { min: number; max: number } {
  let min = Infinity;
  let max = -Infinity;
  for (let i = 0; i < src.length; i++) {
    const v = src[i]!;
    if (v < min) min = v;
    if (v > max) max = v;
  }
  if (!Number.isFinite(min) || !Number.isFinite(max)) return { min: 0, max: 1 };
  return { min, max };
}

/** A window that spans [min, max]. */
export function windowForRange(min: number, max: number): WindowLevel {
  const width = Math.max(MIN_WINDOW_WIDTH, max - min + 1);
  return { center: min + (width - 1) / 2 + 0.5, width };
}

/**
 * Right-drag: horizontal changes the width, vertical the level (drag down = brighter image, as in most
 * PACS viewers). Sensitivity grows with the current width so both narrow and wide windows feel right.
 */
export function dragWindow(wl: WindowLevel, dx: number, dy: number): WindowLevel {
  const k = Math.max(1, wl.width / 256);
  return { center: wl.center - dy * k, width: Math.max(MIN_WINDOW_WIDTH, wl.width + dx * k) };
}
