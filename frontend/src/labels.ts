/**
 * The label schema the editor paints with: the project's labels from the API (GET labels/), owners edit
 * them on the project's settings page. A label's `id` here is its value in the uint8 label maps (what
 * the server stores), not the label row's id.
 */

import { api } from "./api/client";
import type { ApiLabel } from "./api/types";

export interface Label {
  /** The value written into the uint8 label map (1..255; 0 is "no label"). */
  id: number;
  name: string;
  /** CSS hex colour, #rrggbb. */
  color: string;
  /** The label row's id on the server (for edits); absent for labels made on the client. */
  rowId?: number;
  /** SNOMED CT segmented property type, when set ("Liver"). */
  typeMeaning?: string;
}

/** API labels -> the editor's schema, ordered by value; labels with an invalid value are dropped. */
export function schemaFromApi(labels: readonly ApiLabel[]): Label[] {
  return labels
    .filter((l) => Number.isInteger(l.value) && l.value >= 1 && l.value <= 255)
    .map((l) => {
      const label: Label = { id: l.value, name: l.name, color: l.color, rowId: l.id };
      const meaning = "meaning" in l.type_code ? l.type_code.meaning : undefined;
      if (meaning) label.typeMeaning = meaning;
      return label;
    })
    .sort((a, b) => a.id - b.id);
}

/** The project's label schema (may be empty: then nothing can be painted until an owner adds labels). */
export async function loadLabelSchema(projectSlug: string, signal?: AbortSignal): Promise<Label[]> {
  return schemaFromApi(await api.labels.list(projectSlug, signal));
}

/** The smallest label value not yet used (1..255), or null when all are taken. */
export function nextFreeValue(labels: readonly { value: number }[]): number | null {
  const used = new Set(labels.map((l) => l.value));
  for (let v = 1; v <= 255; v++) if (!used.has(v)) return v;
  return null;
}

/** A distinct default colour for the n-th label. */
export const LABEL_COLORS = ["#ff3b30", "#34c759", "#ffcc00", "#af52de", "#ff9500", "#5ac8fa", "#ff2d55", "#a2845e"];

/** #rrggbb -> [r, g, b]; falls back to white for a malformed colour. */
export function hexToRgb(hex: string): [number, number, number] {
  const m = /^#?([0-9a-f]{2})([0-9a-f]{2})([0-9a-f]{2})$/i.exec(hex.trim());
  if (!m) return [255, 255, 255];
  return [parseInt(m[1]!, 16), parseInt(m[2]!, 16), parseInt(m[3]!, 16)];
}
