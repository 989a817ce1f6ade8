import { describe, expect, it } from "vitest";
import {
  type Condition,
  addableFields,
  describeFilterErrors,
  fromDocument,
  newCondition,
  parseNumber,
  splitList,
  toDocument,
} from "./filterModel";

/** A new condition of the field with some values typed in. */
function edit(field: Exclude<Condition["field"], "raw">, values: Record<string, unknown>): Condition {
  return { ...newCondition(field), ...values } as Condition;
}

describe("the filter builder's document", () => {
  it("builds the backend's grammar from conditions", () => {
    const doc = toDocument("case", [
      edit("modality", { text: "CT, mr , " }),
      edit("manufacturer", { text: "siemens" }),
      edit("slice_thickness", { min: "1", max: "2.5" }),
      edit("study_date", { from: "2020-01-01", to: "" }),
      edit("label", { label: "1", volumeMin: "50", volumeMax: "" }),
      edit("label", { label: "Tumor", present: false, volumeMin: "9" }),
      edit("status", { values: ["unread", "in_review"] }),
      edit("agreement", { meanMax: "0.8" }),
      edit("readers", { text: "reader1, reader2" }),
      edit("tags", { text: "good" }),
      edit("flagged", { value: false }),
      edit("flags", { values: ["motion_artefact"] }),
      edit("case_ids", { text: "3, 4" }),
    ]);
    expect(doc).toEqual({
      target: "case",
      modality: ["CT", "mr"],
      manufacturer: ["siemens"],
      slice_thickness: { min: 1, max: 2.5 },
      study_date: { from: "2020-01-01" },
      labels: [{ label: 1, volume_ml: { min: 50 } }, { label: "Tumor", present: false }],
      status: ["unread", "in_review"],
      agreement: { mean_dice: { max: 0.8 } },
      readers: ["reader1", "reader2"],
      tags: ["good"],
      flagged: false,
      flags: ["motion_artefact"],
      case_ids: [3, 4],
    });
  });

  it("passes half-filled or non-numeric values on, so the backend names the problem", () => {
    const doc = toDocument("series", [edit("slice_thickness", { min: "", max: "" }), edit("agreement", { meanMin: "abc" })]);
    expect(doc).toEqual({ target: "series", slice_thickness: {}, agreement: { mean_dice: { min: "abc" } } });
    expect(parseNumber(" 2 ")).toBe(2);
    expect(parseNumber("")).toBeUndefined();
    expect(splitList(" , ,")).toEqual([]);
  });

  it("loads a saved document into the same conditions (round trip), unknown keys as raw JSON", () => {
    const saved = {
      target: "study" as const,
      body_part: ["HEAD"],
      labels: [{ label: "Liver", dice: { min: 0.9 }, slices: { max: 4 } }],
      agreement: { min_dice: { min: 0.5 }, min_readers: 2 },
      has_case: true,
      some_future_key: { a: 1 },
    };
    const loaded = fromDocument(saved);
    expect(loaded.target).toBe("study");
    expect(loaded.conditions.map((c) => c.field)).toEqual(["body_part", "label", "agreement", "has_case", "raw"]);
    expect(toDocument(loaded.target, loaded.conditions)).toEqual(saved);
    expect(fromDocument(null)).toEqual({ target: "case", conditions: [] });
  });

  it("offers each field once, labels as often as wanted", () => {
    const offered = addableFields([newCondition("modality"), newCondition("label")]).map((f) => f.field);
    expect(offered).not.toContain("modality");
    expect(offered).toContain("label");
    expect(offered).toContain("status");
  });

  it("describes the backend's invalid_filter errors", () => {
    expect(
      describeFilterErrors({
        errors: [
          { loc: ["labels", "0", "volume_ml"], msg: "Value error, min is greater than max", type: "value_error" },
          { loc: ["readers"], msg: ["nobody"] },
        ],
      }),
    ).toEqual(["labels.0.volume_ml: Value error, min is greater than max", "readers: nobody"]);
    expect(describeFilterErrors({})).toEqual([]);
  });
});
