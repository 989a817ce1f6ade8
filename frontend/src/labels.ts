/**
 * The label schema the editor paints with. Until the project label API exists, every project uses the
 * default below; when it does, `labelSchemaFor` is the one place to fetch it.
 */

export interface Label {
  /** The value written into the uint8 label map (1..255; 0 is "no label"). */
  id: number;
  name: string;
  /** CSS hex colour, #rrggbb. */
  color: string;
}

export const DEFAULT_LABEL_SCHEMA: readonly Label[] = [{ id: 1, name: "Lesion", color: "#ff3b30" }];

export function labelSchemaFor(_projectSlug: string): readonly Label[] {
  return DEFAULT_LABEL_SCHEMA;
}

/** #rrggbb -> [r, g, b]; falls back to white for a malformed colour. */
export function hexToRgb(hex: string): [number, number, number] {
  const m = /^#?([0-9a-f]{2})([0-9a-f]{2})([0-9a-f]{2})$/i.exec(hex.trim());
  if (!m) return [255, 255, 255];
  return [parseInt(m[1]!, 16), parseInt(m[2]!, 16), parseInt(m[3]!, 16)];
}
