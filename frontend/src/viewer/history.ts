/**
 * Undo/redo for label maps, stored as sparse diffs (changed indices with their before/after values), so a
 * brush stroke on a 512x512 slice costs bytes per changed pixel rather than a copy of the slice.
 */

import type { Rect } from "./masks";

export interface FrameDiff {
  frame: number;
  indices: Uint32Array;
  before: Uint8Array;
  after: Uint8Array;
}

export interface HistoryEntry {
  /** Shown in the UI: "Brush", "Accept proposal"... */
  name: string;
  diffs: FrameDiff[];
}

/** Anything that hands out a frame's label map by index (the LabelVolume). */
export interface LabelStore {
  frame(z: number): Uint8Array;
}

/** Diff two versions of one frame's label map, scanning only `rect` when given. */
export function diffFrame(
  frame: number,
  before: Uint8Array,
  after: Uint8Array,
  cols: number,
  rect: Rect | null = null,
): FrameDiff | null {
  const idx: number[] = [];
  const b: number[] = [];
  const a: number[] = [];
  const scan = (i: number) => {
    if (before[i] !== after[i]) {
      idx.push(i);
      b.push(before[i]!);
      a.push(after[i]!);
    }
  };
  if (rect) {
    for (let y = rect.y0; y < rect.y1; y++) for (let x = rect.x0; x < rect.x1; x++) scan(y * cols + x);
  } else {
    for (let i = 0; i < after.length; i++) scan(i);
  }
  if (idx.length === 0) return null;
  return { frame, indices: Uint32Array.from(idx), before: Uint8Array.from(b), after: Uint8Array.from(a) };
}

export function entryBytes(e: HistoryEntry): number {
  return e.diffs.reduce((s, d) => s + d.indices.byteLength + d.before.byteLength + d.after.byteLength, 0);
}

export class UndoStack {
  private done: HistoryEntry[] = [];
  private undone: HistoryEntry[] = [];

  constructor(
    private readonly maxEntries = 200,
    private readonly maxBytes = 64 * 1024 * 1024,
  ) {}

  /** Record an edit that has already been applied. Clears the redo branch. */
  push(entry: HistoryEntry): void {
    if (entry.diffs.length === 0) return;
    this.done.push(entry);
    this.undone = [];
    let bytes = this.done.reduce((s, e) => s + entryBytes(e), 0);
    while (this.done.length > this.maxEntries || (bytes > this.maxBytes && this.done.length > 1)) {
      const dropped = this.done.shift()!;
      bytes -= entryBytes(dropped);
    }
  }

  get canUndo(): boolean {
    return this.done.length > 0;
  }

  get canRedo(): boolean {
    return this.undone.length > 0;
  }

  get undoName(): string | null {
    return this.done.at(-1)?.name ?? null;
  }

  get redoName(): string | null {
    return this.undone.at(-1)?.name ?? null;
  }

  /** Revert the last edit; returns it (its frames need repainting) or null when there is none. */
  undo(store: LabelStore): HistoryEntry | null {
    const entry = this.done.pop();
    if (!entry) return null;
    apply(store, entry, "before");
    this.undone.push(entry);
    return entry;
  }

  redo(store: LabelStore): HistoryEntry | null {
    const entry = this.undone.pop();
    if (!entry) return null;
    apply(store, entry, "after");
    this.done.push(entry);
    return entry;
  }

  clear(): void {
    this.done = [];
    this.undone = [];
  }
}

function apply(store: LabelStore, entry: HistoryEntry, side: "before" | "after"): void {
  for (const diff of entry.diffs) {
    const map = store.frame(diff.frame);
    const values = diff[side];
    for (let k = 0; k < diff.indices.length; k++) map[diff.indices[k]!] = values[k]!;
  }
}
