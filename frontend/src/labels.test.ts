import { describe, expect, it } from "vitest";
import { nextFreeValue, schemaFromApi } from "./labels";

describe("the project's label schema", () => {
  it("maps API labels to map values, sorted, with their SNOMED type", () => {
    const schema = schemaFromApi([
      { id: 9, value: 3, name: "Tumour", color: "#00ff00", category_code: {}, type_code: {}, window: null },
      {
        id: 4,
        value: 1,
        name: "Liver",
        color: "#ff0000",
        category_code: { scheme: "SCT", value: "123037004", meaning: "Anatomical Structure" },
        type_code: { scheme: "SCT", value: "10200004", meaning: "Liver" },
        window: null,
      },
      { id: 5, value: 0, name: "Bad", color: "#000000", category_code: {}, type_code: {}, window: null },
    ]);
    expect(schema).toEqual([
      { id: 1, name: "Liver", color: "#ff0000", rowId: 4, typeMeaning: "Liver" },
      { id: 3, name: "Tumour", color: "#00ff00", rowId: 9 },
    ]);
  });

  it("suggests the smallest unused value", () => {
    expect(nextFreeValue([])).toBe(1);
    expect(nextFreeValue([{ value: 1 }, { value: 2 }, { value: 4 }])).toBe(3);
    expect(nextFreeValue(Array.from({ length: 255 }, (_, i) => ({ value: i + 1 })))).toBeNull();
  });
});
