import { describe, expect, it } from "vitest";
import type { DuplicatePair } from "../api/types";
import { groupDuplicates } from "./duplicates";

const pair = (a: number, b: number, kind: "exact" | "near", extra: Partial<DuplicatePair> = {}): DuplicatePair => ({
  series_a: a,
  series_b: b,
  case_a: a * 10,
  case_b: b * 10,
  project_a: "demo",
  project_b: "demo",
  same_patient: false,
  kind,
  exact_instances: kind === "exact" ? 1 : 0,
  near_instances: kind === "near" ? 1 : 0,
  min_distance: kind === "exact" ? 0 : 3,
  ...extra,
});

describe("duplicate groups", () => {
  it("joins pairs into groups; exact groups first", () => {
    const groups = groupDuplicates([
      pair(5, 6, "near"),
      pair(1, 2, "exact"),
      pair(2, 3, "exact", { project_b: "other", case_b: null }),
      pair(6, 7, "near", { same_patient: true }),
    ]);
    expect(groups).toHaveLength(2);
    expect(groups[0]).toMatchObject({ kind: "exact", series: [1, 2, 3], crossProject: true, samePatient: false });
    expect(groups[0]!.cases[3]).toBeNull();
    expect(groups[1]).toMatchObject({ kind: "near", series: [5, 6, 7], crossProject: false, samePatient: true });
    expect(groups[1]!.pairs).toHaveLength(2);
  });

  it("a group with one near pair is near", () => {
    const [g] = groupDuplicates([pair(1, 2, "exact"), pair(3, 1, "near")]);
    expect(g).toMatchObject({ kind: "near", series: [1, 2, 3] });
    expect(groupDuplicates([])).toEqual([]);
  });
});
