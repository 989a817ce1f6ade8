/**
 * Run-length encoding of masks, row-major, as the backend writes it (backend/common/rle.py).
 *
 * Binary: {size: [rows, cols], counts}: runs alternate 0 and 1 and start with a run of 0s (a mask that
 * starts with 1 has a leading 0-length run). Label maps: {size, values, counts}: (value, length) pairs.
 */

export interface BinaryRle {
  size: [number, number];
  counts: number[];
}

export interface LabelRle {
  size: [number, number];
  values: number[];
  counts: number[];
}

export class RleError extends Error {}

function total(size: readonly number[]): number {
  if (size.length !== 2) throw new RleError(`an RLE mask is 2D, got size ${JSON.stringify(size)}`);
  const [rows, cols] = size as [number, number];
  if (!Number.isInteger(rows) || !Number.isInteger(cols) || rows < 0 || cols < 0) {
    throw new RleError(`invalid mask size ${JSON.stringify(size)}`);
  }
  return rows * cols;
}

/** Decode a binary RLE into a 0/1 Uint8Array of rows * cols (into `out` if given). */
export function decodeBinary(rle: BinaryRle, out?: Uint8Array): Uint8Array {
  const n = total(rle.size);
  const mask = out ?? new Uint8Array(n);
  if (mask.length !== n) throw new RleError(`output holds ${mask.length} pixels, the mask has ${n}`);
  let pos = 0;
  let value = 0;
  for (const run of rle.counts) {
    if (!Number.isInteger(run) || run < 0) throw new RleError("negative or fractional run length");
    if (pos + run > n) throw new RleError(`runs cover more than the ${n} pixels of the mask`);
    mask.fill(value, pos, pos + run);
    pos += run;
    value ^= 1;
  }
  if (pos !== n) throw new RleError(`runs cover ${pos} pixels, the mask has ${n}`);
  return mask;
}

/** Encode a mask (any non-zero value counts as 1). */
export function encodeBinary(mask: ArrayLike<number>, rows: number, cols: number): BinaryRle {
  const n = rows * cols;
  if (mask.length !== n) throw new RleError(`mask has ${mask.length} pixels, expected ${rows}x${cols}`);
  const counts: number[] = [];
  let value = 0;
  let run = 0;
  for (let i = 0; i < n; i++) {
    const v = mask[i] ? 1 : 0;
    if (v === value) {
      run++;
    } else {
      counts.push(run);
      value = v;
      run = 1;
    }
  }
  if (n > 0) counts.push(run);
  return { size: [rows, cols], counts };
}

export function decodeLabels(rle: LabelRle, out?: Uint8Array): Uint8Array {
  const n = total(rle.size);
  if (rle.values.length !== rle.counts.length) throw new RleError("values and counts differ in length");
  const labels = out ?? new Uint8Array(n);
  if (labels.length !== n) throw new RleError(`output holds ${labels.length} pixels, the mask has ${n}`);
  let pos = 0;
  for (let i = 0; i < rle.counts.length; i++) {
    const run = rle.counts[i]!;
    const value = rle.values[i]!;
    if (!Number.isInteger(run) || run < 0) throw new RleError("negative or fractional run length");
    if (!Number.isInteger(value) || value < 0 || value > 255) throw new RleError(`label ${value} is not a uint8`);
    if (pos + run > n) throw new RleError(`runs cover more than the ${n} pixels of the mask`);
    labels.fill(value, pos, pos + run);
    pos += run;
  }
  if (pos !== n) throw new RleError(`runs cover ${pos} pixels, the mask has ${n}`);
  return labels;
}

export function encodeLabels(labels: Uint8Array, rows: number, cols: number): LabelRle {
  const n = rows * cols;
  if (labels.length !== n) throw new RleError(`label map has ${labels.length} pixels, expected ${rows}x${cols}`);
  const values: number[] = [];
  const counts: number[] = [];
  for (let i = 0; i < n; ) {
    const v = labels[i]!;
    let j = i + 1;
    while (j < n && labels[j] === v) j++;
    values.push(v);
    counts.push(j - i);
    i = j;
  }
  return { size: [rows, cols], values, counts };
}
