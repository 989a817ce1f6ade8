import { describe, expect, it } from "vitest";
import { actionsFor, describeResult } from "./bulk";

describe("bulk actions", () => {
  it("offers what the backend allows for each target", () => {
    expect(actionsFor("case").map((a) => a.value)).toEqual(["tag", "untag", "flag", "unflag", "exclude", "include", "assign", "note"]);
    expect(actionsFor("study").map((a) => a.value)).toEqual(["tag", "untag", "flag", "unflag", "add_cases", "note"]);
    expect(actionsFor("series").map((a) => a.value)).toEqual(["add_cases"]);
  });

  it("says what happened, with the skipped ones by reason", () => {
    expect(describeResult({ action: "tag", target: "case", done: [1, 2, 3], skipped: [] })).toBe("Tagged 3 cases.");
    expect(
      describeResult({
        action: "flag",
        target: "study",
        done: [4],
        skipped: [
          { id: 5, code: "already_flagged" },
          { id: 6, code: "already_flagged" },
        ],
      }),
    ).toBe("Flagged 1 study; 2 skipped (already flagged: 2).");
    expect(describeResult({ action: "add_cases", target: "series", done: [9, 10], skipped: [{ id: 3, code: "already_a_case" }] })).toBe(
      "Added 2 new cases; 1 skipped (already a case: 1).",
    );
    expect(describeResult({ action: "assign", target: "case", done: [], skipped: [{ id: 1, code: "no_open_task" }] })).toBe(
      "Assigned 0 cases; 1 skipped (no open task: 1).",
    );
  });
});
