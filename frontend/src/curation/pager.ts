/** Keyset pages (the backend's `next_cursor`) with a way back, and row selection kept across pages. */

export interface Pager {
  /** The cursor each visited page was fetched with (null: the first page). */
  cursors: Array<string | null>;
  index: number;
}

export const firstPage = (): Pager => ({ cursors: [null], index: 0 });

export const currentCursor = (p: Pager): string | null => p.cursors[p.index] ?? null;

/** Forward to the page after the current one (a revisited page keeps the cursor it had). */
export function nextPage(p: Pager, nextCursor: string | null): Pager {
  if (!nextCursor) return p;
  const cursors = p.cursors.slice(0, p.index + 1);
  cursors.push(nextCursor);
  return { cursors, index: p.index + 1 };
}

export function previousPage(p: Pager): Pager {
  return p.index === 0 ? p : { cursors: p.cursors, index: p.index - 1 };
}

/** "Rows 51–100 of 230" (count when known). */
export function rangeText(p: Pager, pageSize: number, shown: number, count?: number): string {
  if (shown === 0) return count === undefined ? "No rows" : `No rows of ${count}`;
  const first = p.index * pageSize + 1;
  const last = first + shown - 1;
  return count === undefined ? `Rows ${first}–${last}` : `Rows ${first}–${last} of ${count}`;
}

/** Select every row of the page, or, when all of them already are, unselect them. */
export function toggleAll(selected: ReadonlySet<number>, pageIds: number[]): Set<number> {
  const next = new Set(selected);
  const all = pageIds.length > 0 && pageIds.every((id) => next.has(id));
  for (const id of pageIds) {
    if (all) next.delete(id);
    else next.add(id);
  }
  return next;
}

export function toggleOne(selected: ReadonlySet<number>, id: number): Set<number> {
  const next = new Set(selected);
  if (next.has(id)) next.delete(id);
  else next.add(id);
  return next;
}

/** "all" | "some" | "none" of the page selected: drives the header checkbox (checked / indeterminate). */
export function pageSelection(selected: ReadonlySet<number>, pageIds: number[]): "all" | "some" | "none" {
  const n = pageIds.filter((id) => selected.has(id)).length;
  return n === 0 ? "none" : n === pageIds.length ? "all" : "some";
}
