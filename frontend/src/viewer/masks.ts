/**
 * Label-map editing: brush and eraser rasterization, hole filling, merging a proposal.
 *
 * A label map is a row-major Uint8Array of rows * cols holding label ids (0 = none). Every operation
 * returns the bounding rectangle it may have changed (or null) so the caller can diff only that part.
 */

export interface Rect {
  x0: number;
  y0: number;
  /** exclusive */
  x1: number;
  /** exclusive */
  y1: number;
}

export function unionRect(a: Rect | null, b: Rect | null): Rect | null {
  if (!a) return b;
  if (!b) return a;
  return { x0: Math.min(a.x0, b.x0), y0: Math.min(a.y0, b.y0), x1: Math.max(a.x1, b.x1), y1: Math.max(a.y1, b.y1) };
}

export type BrushMode = "paint" | "erase";

/**
 * Rasterize a stroke segment of a round brush: every pixel whose centre lies within `radius` of the
 * segment (x0,y0)-(x1,y1) (a capsule; a dot when both ends are equal). Coordinates are continuous image
 * coordinates. "paint" writes `label`; "erase" clears only pixels holding `label`, so other labels survive.
 */
export function paintStroke(
  map: Uint8Array,
  cols: number,
  rows: number,
  x0: number,
  y0: number,
  x1: number,
  y1: number,
  radius: number,
  label: number,
  mode: BrushMode = "paint",
): Rect | null {
  const r = Math.max(0.5, radius);
  const bx0 = Math.max(0, Math.floor(Math.min(x0, x1) - r));
  const by0 = Math.max(0, Math.floor(Math.min(y0, y1) - r));
  const bx1 = Math.min(cols, Math.ceil(Math.max(x0, x1) + r));
  const by1 = Math.min(rows, Math.ceil(Math.max(y0, y1) + r));
  if (bx0 >= bx1 || by0 >= by1) return null;
  const dx = x1 - x0;
  const dy = y1 - y0;
  const len2 = dx * dx + dy * dy;
  const r2 = r * r;
  for (let y = by0; y < by1; y++) {
    const py = y + 0.5;
    const row = y * cols;
    for (let x = bx0; x < bx1; x++) {
      const px = x + 0.5;
      let t = len2 > 0 ? ((px - x0) * dx + (py - y0) * dy) / len2 : 0;
      if (t < 0) t = 0;
      else if (t > 1) t = 1;
      const ex = px - (x0 + t * dx);
      const ey = py - (y0 + t * dy);
      if (ex * ex + ey * ey <= r2) {
        const i = row + x;
        if (mode === "paint") map[i] = label;
        else if (map[i] === label) map[i] = 0;
      }
    }
  }
  return { x0: bx0, y0: by0, x1: bx1, y1: by1 };
}

/**
 * Fill the holes of one label: pixels not holding `label` that cannot reach the image border through
 * other non-`label` pixels (4-connectivity) become `label`. Only unlabelled (0) pixels are filled, so a
 * different label enclosed by this one is kept. Returns the changed bounding rectangle, or null.
 */
export function fillHoles(map: Uint8Array, cols: number, rows: number, label: number): Rect | null {
  const n = cols * rows;
  const outside = new Uint8Array(n);
  const queue = new Int32Array(n);
  let head = 0;
  let tail = 0;
  const seed = (i: number) => {
    if (!outside[i] && map[i] !== label) {
      outside[i] = 1;
      queue[tail++] = i;
    }
  };
  for (let x = 0; x < cols; x++) {
    seed(x);
    seed((rows - 1) * cols + x);
  }
  for (let y = 0; y < rows; y++) {
    seed(y * cols);
    seed(y * cols + cols - 1);
  }
  while (head < tail) {
    const i = queue[head++]!;
    const x = i % cols;
    if (x > 0) seed(i - 1);
    if (x < cols - 1) seed(i + 1);
    if (i >= cols) seed(i - cols);
    if (i < n - cols) seed(i + cols);
  }
  let rect: Rect | null = null;
  for (let i = 0; i < n; i++) {
    if (!outside[i] && map[i] === 0) {
      map[i] = label;
      const x = i % cols;
      const y = (i - x) / cols;
      rect = unionRect(rect, { x0: x, y0: y, x1: x + 1, y1: y + 1 });
    }
  }
  return rect;
}

/**
 * Write a binary proposal into the label map as `label`. "replace" first clears `label` on this slice
 * (an accepted proposal is the new outline); "add" keeps what is there.
 */
export function mergeMask(
  map: Uint8Array,
  mask: Uint8Array,
  label: number,
  mode: "replace" | "add" = "add",
): boolean {
  let changed = false;
  for (let i = 0; i < map.length; i++) {
    const m = mask[i];
    const v = map[i];
    if (m) {
      if (v !== label) {
        map[i] = label;
        changed = true;
      }
    } else if (mode === "replace" && v === label) {
      map[i] = 0;
      changed = true;
    }
  }
  return changed;
}

/** Number of pixels holding `label`. */
export function countLabel(map: Uint8Array, label: number): number {
  let c = 0;
  for (let i = 0; i < map.length; i++) if (map[i] === label) c++;
  return c;
}

/** Bounding box [x0, y0, x1, y1] (continuous, exclusive ends) of the non-zero pixels of a mask, or null. */
export function maskBounds(mask: Uint8Array, cols: number, rows: number): [number, number, number, number] | null {
  let x0 = cols;
  let y0 = rows;
  let x1 = -1;
  let y1 = -1;
  for (let y = 0; y < rows; y++) {
    const row = y * cols;
    for (let x = 0; x < cols; x++) {
      if (mask[row + x]) {
        if (x < x0) x0 = x;
        if (x > x1) x1 = x;
        if (y < y0) y0 = y;
        y1 = y;
      }
    }
  }
  return x1 < 0 ? null : [x0, y0, x1 + 1, y1 + 1];
}
