/** Duplicate pairs from the backend grouped into sets of series that are copies of each other. */

import type { DuplicatePair } from "../api/types";

export interface DuplicateGroup {
  /** "exact" when every pair in it has identical pixels; "near" when any pair is only similar. */
  kind: "exact" | "near";
  series: number[];
  /** Case of each series in it, where it has one. */
  cases: Record<number, number | null>;
  /** Project of each series. */
  projects: Record<number, string>;
  pairs: DuplicatePair[];
  samePatient: boolean;
  crossProject: boolean;
}

/** Connected components of the pairs (union-find), exact groups first, then larger groups first. */
export function groupDuplicates(pairs: DuplicatePair[]): DuplicateGroup[] {
  const parent = new Map<number, number>();
  const find = (x: number): number => {
    let root = x;
    while (parent.get(root) !== root) root = parent.get(root)!;
    let node = x;
    while (node !== root) {
      const up = parent.get(node)!;
      parent.set(node, root);
      node = up;
    }
    return root;
  };
  for (const p of pairs) {
    for (const s of [p.series_a, p.series_b]) if (!parent.has(s)) parent.set(s, s);
    const a = find(p.series_a);
    const b = find(p.series_b);
    if (a !== b) parent.set(Math.max(a, b), Math.min(a, b));
  }
  const groups = new Map<number, DuplicateGroup>();
  for (const p of pairs) {
    const root = find(p.series_a);
    let g = groups.get(root);
    if (!g) {
      g = { kind: "exact", series: [], cases: {}, projects: {}, pairs: [], samePatient: false, crossProject: false };
      groups.set(root, g);
    }
    g.pairs.push(p);
    if (p.kind !== "exact") g.kind = "near";
    if (p.same_patient) g.samePatient = true;
    g.cases[p.series_a] = p.case_a;
    g.cases[p.series_b] = p.case_b;
    g.projects[p.series_a] = p.project_a;
    g.projects[p.series_b] = p.project_b;
  }
  const out = [...groups.values()];
  for (const g of out) {
    g.series = Object.keys(g.projects)
      .map(Number)
      .sort((a, b) => a - b);
    g.crossProject = new Set(Object.values(g.projects)).size > 1;
  }
  return out.sort((a, b) => (a.kind === b.kind ? b.series.length - a.series.length || a.series[0]! - b.series[0]! : a.kind === "exact" ? -1 : 1));
}
