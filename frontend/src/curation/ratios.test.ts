import { describe, expect, it } from "vitest";
import { checkRatios } from "./ratios";

describe("split ratios", () => {
  it("accepts ratios summing to 1, blanks as 0, within the backend's tolerance", () => {
    expect(checkRatios({ train: "0.7", val: "0.2", test: "0.1" })).toEqual({
      ratios: { train: 0.7, val: 0.2, test: 0.1 },
      sum: 1,
      error: null,
    });
    expect(checkRatios({ train: "0.8", val: "", test: "0.2" }).error).toBeNull();
    expect(checkRatios({ train: "0.3333333", val: "0.3333333", test: "0.3333334" }).error).toBeNull();
  });

  it("refuses sums other than 1, numbers outside [0, 1] and text", () => {
    expect(checkRatios({ train: "0.8", val: "0.1", test: "0.2" })).toMatchObject({ sum: 1.1, error: "The ratios sum to 1.1, not 1." });
    expect(checkRatios({ train: "80", val: "10", test: "10" }).error).toMatch(/between 0 and 1/);
    expect(checkRatios({ train: "x", val: "0.5", test: "0.5" }).error).toBe("The train ratio is not a number.");
    expect(checkRatios({ train: "", val: "", test: "" }).error).toBe("The ratios sum to 0, not 1.");
  });
});
