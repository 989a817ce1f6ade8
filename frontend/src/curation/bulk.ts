/** Bulk actions: which apply to which target (as backend/curation/services.bulk_apply allows), and the
 * result in words. */

import type { BulkAction, BulkResult, CurationTarget } from "../api/types";
import { FLAG_KINDS } from "./filterModel";

export const ACTIONS: Array<{ value: BulkAction; text: string; targets: CurationTarget[]; verb: string }> = [
  { value: "tag", text: "Add tag", targets: ["case", "study"], verb: "Tagged" },
  { value: "untag", text: "Remove tag", targets: ["case", "study"], verb: "Untagged" },
  { value: "flag", text: "Set quality flag", targets: ["case", "study"], verb: "Flagged" },
  { value: "unflag", text: "Clear quality flag", targets: ["case", "study"], verb: "Cleared flags on" },
  { value: "exclude", text: "Exclude (with a reason)", targets: ["case"], verb: "Excluded" },
  { value: "include", text: "Include again", targets: ["case"], verb: "Included" },
  { value: "assign", text: "Assign to a reader", targets: ["case"], verb: "Assigned" },
  { value: "add_cases", text: "Add to this project as cases", targets: ["series", "study"], verb: "Added" },
  { value: "note", text: "Add a note", targets: ["case", "study"], verb: "Noted" },
];

export const QUALITY_FLAGS = FLAG_KINDS.filter((f) => f.value !== "excluded");

function counted(n: number, target: CurationTarget | "new case"): string {
  if (target === "study") return `${n} stud${n === 1 ? "y" : "ies"}`;
  if (target === "series") return `${n} series`;
  return `${n} ${target}${n === 1 ? "" : "s"}`;
}

/** "Tagged 3 cases; 1 skipped (unchanged: 1)." (add_cases reports the cases it made.) */
export function describeResult(result: BulkResult): string {
  const verb = ACTIONS.find((a) => a.value === result.action)?.verb ?? result.action;
  let text = `${verb} ${counted(result.done.length, result.action === "add_cases" ? "new case" : result.target)}`;
  if (result.skipped.length) {
    const codes = new Map<string, number>();
    for (const s of result.skipped) codes.set(s.code, (codes.get(s.code) ?? 0) + 1);
    text += `; ${result.skipped.length} skipped (${[...codes].map(([code, n]) => `${code.replace(/_/g, " ")}: ${n}`).join(", ")})`;
  }
  return `${text}.`;
}

/** The actions offered for rows of a target, in menu order. */
export function actionsFor(target: CurationTarget): typeof ACTIONS {
  return ACTIONS.filter((a) => a.targets.includes(target));
}
