/**
 * The filter builder's model: a list of conditions the user edits, turned into the backend's filter
 * document (backend/curation/filters.py) and back, so saved filters load into the builder.
 *
 * Values are kept as typed text; numbers are converted when the document is built. Text that is not a
 * number is passed on as it is, so the backend's 400 `invalid_filter` names the field (the builder shows
 * it) instead of the condition silently doing nothing. Keys the builder has no editor for survive a
 * load/save round trip as raw JSON conditions.
 */

import type { CaseState, CurationTarget, FilterDocument, FlagKind, LabelConditionDoc, NumberRange } from "../api/types";

export const LIST_FIELDS = [
  "modality",
  "body_part",
  "manufacturer",
  "patient_keys",
  "readers",
  "tags",
  "exclude_tags",
  "projects",
  "case_ids",
  "series_ids",
  "study_ids",
] as const;
export type ListField = (typeof LIST_FIELDS)[number];
const ID_FIELDS: ReadonlySet<ListField> = new Set(["case_ids", "series_ids", "study_ids"]);

export const CASE_STATES: Array<{ value: CaseState; text: string }> = [
  { value: "unread", text: "Unread" },
  { value: "reading", text: "Reading" },
  { value: "in_review", text: "In review" },
  { value: "signed", text: "Signed" },
];

export const FLAG_KINDS: Array<{ value: FlagKind; text: string }> = [
  { value: "motion_artefact", text: "Motion artefact" },
  { value: "wrong_series", text: "Wrong series" },
  { value: "visible_phi", text: "Visible PHI" },
  { value: "bad_annotation", text: "Bad annotation" },
  { value: "excluded", text: "Excluded" },
];

export type Condition =
  | { id: number; field: ListField; text: string }
  | { id: number; field: "slice_thickness"; min: string; max: string }
  | { id: number; field: "study_date"; from: string; to: string }
  | { id: number; field: "status"; values: CaseState[] }
  | { id: number; field: "flags"; values: FlagKind[] }
  | { id: number; field: "has_case" | "flagged"; value: boolean }
  | {
      id: number;
      field: "label";
      label: string;
      present: boolean;
      volumeMin: string;
      volumeMax: string;
      slicesMin: string;
      slicesMax: string;
      diceMin: string;
      diceMax: string;
    }
  | {
      id: number;
      field: "agreement";
      meanMin: string;
      meanMax: string;
      minDiceMin: string;
      minDiceMax: string;
      minReaders: string;
    }
  | { id: number; field: "raw"; key: string; json: string };

export type ConditionField = Condition["field"];

/** What the "Add condition" menu offers, in its order, with the words shown for each field. */
export const FIELDS: Array<{ field: Exclude<ConditionField, "raw">; text: string; hint: string; repeatable?: boolean }> = [
  { field: "modality", text: "Modality", hint: "e.g. CT, MR (any of)" },
  { field: "body_part", text: "Body part", hint: "e.g. ABDOMEN, HEAD (any of)" },
  { field: "manufacturer", text: "Manufacturer", hint: "part of the name, e.g. siemens" },
  { field: "slice_thickness", text: "Slice thickness (mm)", hint: "from, to or both" },
  { field: "study_date", text: "Study date (shifted)", hint: "de-identified dates, shifted per patient" },
  { field: "label", text: "Label", hint: "present or absent, volume (mL), slices, Dice", repeatable: true },
  { field: "status", text: "Status", hint: "any of" },
  { field: "agreement", text: "Agreement (Dice)", hint: "between submitted reads" },
  { field: "readers", text: "Reader", hint: "usernames (any of)" },
  { field: "tags", text: "Tags", hint: "all of these tags" },
  { field: "exclude_tags", text: "Without tags", hint: "none of these tags" },
  { field: "flagged", text: "Flagged", hint: "any open quality flag" },
  { field: "flags", text: "Flags", hint: "any of these open flags" },
  { field: "has_case", text: "Has a case", hint: "series and studies: read in this project or not" },
  { field: "patient_keys", text: "Patient", hint: "pseudonymous patient keys" },
  { field: "projects", text: "Projects", hint: "slugs; only when searching all projects" },
  { field: "case_ids", text: "Case ids", hint: "numbers" },
  { field: "series_ids", text: "Series ids", hint: "numbers" },
  { field: "study_ids", text: "Study ids", hint: "numbers" },
];

export function fieldText(field: ConditionField): string {
  return field === "raw" ? "Other (JSON)" : (FIELDS.find((f) => f.field === field)?.text ?? field);
}

let nextId = 1;

/** A fresh condition of a field, with empty values to fill in. */
export function newCondition(field: Exclude<ConditionField, "raw">): Condition {
  const id = nextId++;
  switch (field) {
    case "slice_thickness":
      return { id, field, min: "", max: "" };
    case "study_date":
      return { id, field, from: "", to: "" };
    case "status":
      return { id, field, values: [] };
    case "flags":
      return { id, field, values: [] };
    case "has_case":
    case "flagged":
      return { id, field, value: true };
    case "label":
      return { id, field, label: "", present: true, volumeMin: "", volumeMax: "", slicesMin: "", slicesMax: "", diceMin: "", diceMax: "" };
    case "agreement":
      return { id, field, meanMin: "", meanMax: "", minDiceMin: "", minDiceMax: "", minReaders: "" };
    default:
      return { id, field, text: "" };
  }
}

/** Fields the menu may still add (each field once, labels as often as wanted). */
export function addableFields(conditions: Condition[]): typeof FIELDS {
  const used = new Set(conditions.map((c) => c.field));
  return FIELDS.filter((f) => f.repeatable || !used.has(f.field));
}

/** "CT, MR ,," -> ["CT", "MR"]. */
export function splitList(text: string): string[] {
  return text
    .split(",")
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
}

/** "" -> undefined; "2.5" -> 2.5; anything else is passed on for the backend to refuse by name. */
export function parseNumber(text: string): number | string | undefined {
  const t = text.trim();
  if (t === "") return undefined;
  const n = Number(t);
  return Number.isFinite(n) ? n : t;
}

function range(min: string, max: string): NumberRange {
  const out: Record<string, number | string> = {};
  const lo = parseNumber(min);
  const hi = parseNumber(max);
  if (lo !== undefined) out.min = lo;
  if (hi !== undefined) out.max = hi;
  return out as NumberRange;
}

function rangeIfAny(min: string, max: string): NumberRange | undefined {
  return min.trim() === "" && max.trim() === "" ? undefined : range(min, max);
}

function labelValue(text: string): number | string {
  const t = text.trim();
  return /^\d+$/.test(t) ? Number(t) : t;
}

/** The filter document for the backend. Every condition appears in it, even half-filled ones. */
export function toDocument(target: CurationTarget, conditions: Condition[]): FilterDocument {
  const doc: Record<string, unknown> = { target };
  const labels: LabelConditionDoc[] = [];
  for (const c of conditions) {
    switch (c.field) {
      case "slice_thickness":
        doc.slice_thickness = range(c.min, c.max);
        break;
      case "study_date": {
        const dates: Record<string, string> = {};
        if (c.from) dates.from = c.from;
        if (c.to) dates.to = c.to;
        doc.study_date = dates;
        break;
      }
      case "status":
      case "flags":
        doc[c.field] = [...c.values];
        break;
      case "has_case":
      case "flagged":
        doc[c.field] = c.value;
        break;
      case "label": {
        const entry: Record<string, unknown> = { label: labelValue(c.label) };
        if (!c.present) entry.present = false;
        else {
          const volume = rangeIfAny(c.volumeMin, c.volumeMax);
          const slices = rangeIfAny(c.slicesMin, c.slicesMax);
          const dice = rangeIfAny(c.diceMin, c.diceMax);
          if (volume) entry.volume_ml = volume;
          if (slices) entry.slices = slices;
          if (dice) entry.dice = dice;
        }
        labels.push(entry as unknown as LabelConditionDoc);
        break;
      }
      case "agreement": {
        const entry: Record<string, unknown> = {};
        const mean = rangeIfAny(c.meanMin, c.meanMax);
        const least = rangeIfAny(c.minDiceMin, c.minDiceMax);
        const readers = parseNumber(c.minReaders);
        if (mean) entry.mean_dice = mean;
        if (least) entry.min_dice = least;
        if (readers !== undefined) entry.min_readers = readers;
        doc.agreement = entry;
        break;
      }
      case "raw": {
        let value: unknown = c.json;
        try {
          value = JSON.parse(c.json);
        } catch {
          // Not JSON: sent as text, and the backend says what it expected.
        }
        doc[c.key] = value;
        break;
      }
      default: {
        const values = splitList(c.text);
        doc[c.field] = ID_FIELDS.has(c.field) ? values.map((v) => parseNumber(v) ?? v) : values;
      }
    }
  }
  if (labels.length) doc.labels = labels;
  return doc as FilterDocument;
}

const text = (v: unknown) => (v === undefined || v === null ? "" : String(v));

function rangeText(r: unknown): [string, string] {
  if (!r || typeof r !== "object") return ["", ""];
  const o = r as Record<string, unknown>;
  return [text(o.min), text(o.max)];
}

/** A saved document back into conditions (and its target); unknown keys become raw JSON conditions. */
export function fromDocument(doc: FilterDocument | Record<string, unknown> | null | undefined): {
  target: CurationTarget;
  conditions: Condition[];
} {
  const source = (doc ?? {}) as Record<string, unknown>;
  const target = (["case", "series", "study"] as const).find((t) => t === source.target) ?? "case";
  const conditions: Condition[] = [];
  for (const [key, value] of Object.entries(source)) {
    if (key === "target") continue;
    const id = nextId++;
    if ((LIST_FIELDS as readonly string[]).includes(key) && Array.isArray(value)) {
      conditions.push({ id, field: key as ListField, text: value.map(String).join(", ") });
    } else if (key === "slice_thickness") {
      const [min, max] = rangeText(value);
      conditions.push({ id, field: key, min, max });
    } else if (key === "study_date" && value && typeof value === "object") {
      const v = value as Record<string, unknown>;
      conditions.push({ id, field: key, from: text(v.from), to: text(v.to) });
    } else if (key === "status" && Array.isArray(value)) {
      conditions.push({ id, field: key, values: value as CaseState[] });
    } else if (key === "flags" && Array.isArray(value)) {
      conditions.push({ id, field: key, values: value as FlagKind[] });
    } else if ((key === "has_case" || key === "flagged") && typeof value === "boolean") {
      conditions.push({ id, field: key, value });
    } else if (key === "labels" && Array.isArray(value)) {
      for (const entry of value as Array<Record<string, unknown>>) {
        const [volumeMin, volumeMax] = rangeText(entry.volume_ml);
        const [slicesMin, slicesMax] = rangeText(entry.slices);
        const [diceMin, diceMax] = rangeText(entry.dice);
        conditions.push({
          id: nextId++,
          field: "label",
          label: text(entry.label),
          present: entry.present !== false,
          volumeMin,
          volumeMax,
          slicesMin,
          slicesMax,
          diceMin,
          diceMax,
        });
      }
    } else if (key === "agreement" && value && typeof value === "object") {
      const v = value as Record<string, unknown>;
      const [meanMin, meanMax] = rangeText(v.mean_dice);
      const [minDiceMin, minDiceMax] = rangeText(v.min_dice);
      conditions.push({ id, field: key, meanMin, meanMax, minDiceMin, minDiceMax, minReaders: text(v.min_readers) });
    } else {
      conditions.push({ id, field: "raw", key, json: JSON.stringify(value) });
    }
  }
  return { target, conditions };
}

/** The backend's `invalid_filter` errors ({loc, msg}) as lines: "labels.0.volume_ml: min is greater than max". */
export function describeFilterErrors(extra: Record<string, unknown>): string[] {
  const errors = extra.errors;
  if (!Array.isArray(errors)) return [];
  return errors.map((e) => {
    const error = (e ?? {}) as { loc?: unknown; msg?: unknown };
    const loc = Array.isArray(error.loc) ? error.loc.map(String).join(".") : "";
    const msg = Array.isArray(error.msg) ? error.msg.map(String).join(", ") : text(error.msg);
    return loc ? `${loc}: ${msg}` : msg;
  });
}
