/**
 * The mask overlay at image resolution: each label filled at its opacity with a solid outline, and the
 * model's proposal (not yet accepted) in its own colour on top. Packed little-endian RGBA in a Uint32Array.
 */

import { hexToRgb, type Label } from "../labels";

export interface LabelStyle {
  visible: boolean;
  /** 0..1, the fill; the outline is always opaque. */
  opacity: number;
}

export const PROPOSAL_COLOR = "#27d3ff";
const PROPOSAL_FILL = 0.35;

function pack(r: number, g: number, b: number, a: number): number {
  return ((Math.round(a) << 24) | (b << 16) | (g << 8) | r) >>> 0;
}

/** Per label id: [fill, edge] packed colours (0 = not drawn). */
export function labelPalette(schema: readonly Label[], styles: Record<number, LabelStyle>): Uint32Array[] {
  const fill = new Uint32Array(256);
  const edge = new Uint32Array(256);
  for (const label of schema) {
    const style = styles[label.id] ?? { visible: true, opacity: 0.4 };
    if (!style.visible) continue;
    const [r, g, b] = hexToRgb(label.color);
    fill[label.id] = pack(r, g, b, 255 * Math.min(1, Math.max(0, style.opacity)));
    edge[label.id] = pack(r, g, b, 255);
  }
  return [fill, edge];
}

/** True when pixel i (at x, y) differs from one of its 4 neighbours or lies on the image border. */
function isEdge(map: Uint8Array, i: number, x: number, y: number, cols: number, rows: number): boolean {
  const v = map[i];
  return (
    x === 0 ||
    y === 0 ||
    x === cols - 1 ||
    y === rows - 1 ||
    map[i - 1] !== v ||
    map[i + 1] !== v ||
    map[i - cols] !== v ||
    map[i + cols] !== v
  );
}

export function renderOverlay(
  out: Uint32Array,
  cols: number,
  rows: number,
  labels: Uint8Array | null,
  palette: Uint32Array[],
  proposal: Uint8Array | null,
): boolean {
  out.fill(0);
  let any = false;
  const [fill, edge] = palette as [Uint32Array, Uint32Array];
  if (labels) {
    for (let y = 0, i = 0; y < rows; y++) {
      for (let x = 0; x < cols; x++, i++) {
        const v = labels[i]!;
        if (v === 0 || (fill[v] === 0 && edge[v] === 0)) continue;
        out[i] = isEdge(labels, i, x, y, cols, rows) ? edge[v]! : fill[v]!;
        any = true;
      }
    }
  }
  if (proposal) {
    const [r, g, b] = hexToRgb(PROPOSAL_COLOR);
    const pFill = pack(r, g, b, 255 * PROPOSAL_FILL);
    const pEdge = pack(r, g, b, 255);
    for (let y = 0, i = 0; y < rows; y++) {
      for (let x = 0; x < cols; x++, i++) {
        if (!proposal[i]) continue;
        out[i] = isEdge(proposal, i, x, y, cols, rows) ? pEdge : out[i] ? pEdge & 0xb0ffffff : pFill;
        any = true;
      }
    }
  }
  return any;
}
