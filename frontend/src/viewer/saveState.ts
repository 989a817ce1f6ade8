/**
 * The pure bookkeeping behind saving masks (no I/O): which frames changed since the last save, with
 * what kind of edit, and what the save bar shows. A save takes a snapshot of the dirty frames; when it
 * succeeds only frames not edited again meanwhile become clean, so an edit made during a save is never
 * lost. A stale base answers 409: the state becomes a conflict the user settles ("reload theirs" or
 * "keep mine as a new version" on top of the current version).
 */

import type { MaskSourceName } from "../api/types";

export type EditSource = Exclude<MaskSourceName, "import" | "mixed">;

export interface SaveSnapshot {
  /** frame index -> edit generation at the snapshot */
  frames: Map<number, number>;
  /** Highest generation included. */
  upTo: number;
  source: MaskSourceName;
}

export class DirtyTracker {
  private readonly gens = new Map<number, number>();
  private sources: Array<{ gen: number; source: EditSource | "mixed" }> = [];
  private counter = 0;

  /** Frames changed by one edit. */
  mark(frames: Iterable<number>, source: EditSource | "mixed"): void {
    const gen = ++this.counter;
    let any = false;
    for (const z of frames) {
      this.gens.set(z, gen);
      any = true;
    }
    if (any) this.sources.push({ gen, source });
  }

  get size(): number {
    return this.gens.size;
  }

  has(z: number): boolean {
    return this.gens.has(z);
  }

  frames(): number[] {
    return [...this.gens.keys()].sort((a, b) => a - b);
  }

  /** Generation of the last edit (changes whenever anything is marked). */
  get generation(): number {
    return this.counter;
  }

  /** Frames whose last edit is newer than `gen` (for draft autosave). */
  changedSince(gen: number): number[] {
    const out: number[] = [];
    for (const [z, g] of this.gens) if (g > gen) out.push(z);
    return out.sort((a, b) => a - b);
  }

  /** What a save sends now. */
  snapshot(): SaveSnapshot {
    return { frames: new Map(this.gens), upTo: this.counter, source: combineSources(this.sources.map((s) => s.source)) };
  }

  /** A save of `snap` succeeded: frames not edited since become clean. */
  settle(snap: SaveSnapshot): void {
    for (const [z, g] of snap.frames) if (this.gens.get(z) === g) this.gens.delete(z);
    this.sources = this.sources.filter((s) => s.gen > snap.upTo);
  }

  clear(): void {
    this.gens.clear();
    this.sources = [];
  }
}

/** One kind of edit names itself; several are "mixed"; none (a restored draft) counts as a brush edit. */
export function combineSources(sources: ReadonlyArray<EditSource | "mixed">): MaskSourceName {
  const set = new Set(sources);
  if (set.size === 0) return "brush";
  if (set.size === 1) return [...set][0]!;
  return "mixed";
}

export type SaveStatus =
  | { kind: "loading" }
  /** Viewing only: another reader's work, a submitted read, or no task. */
  | { kind: "readonly"; reason: string }
  | { kind: "scratch" }
  | { kind: "idle" }
  | { kind: "saving" }
  /** Saves fail on the network: kept here and retried when the connection is back. */
  | { kind: "offline"; message: string }
  | { kind: "conflict"; current: number; base: number; by: string | null }
  | { kind: "error"; message: string };

export interface SaveView {
  status: SaveStatus;
  head: number;
  dirtyFrames: number;
}

/** The words on the save bar. */
export function describeSave(v: SaveView): { text: string; tone: "muted" | "ok" | "warn" | "error" } {
  const s = v.status;
  const n = v.dirtyFrames;
  const slices = `${n} slice${n === 1 ? "" : "s"}`;
  switch (s.kind) {
    case "loading":
      return { text: "Loading the annotation…", tone: "muted" };
    case "readonly":
      return { text: s.reason, tone: "muted" };
    case "scratch":
      return { text: "Scratch: edits here are not saved", tone: "muted" };
    case "saving":
      return { text: "Saving…", tone: "muted" };
    case "offline":
      return { text: n ? `Offline: ${slices} kept here, saved when back` : s.message, tone: "warn" };
    case "conflict":
      return { text: `Version ${s.current} was saved elsewhere`, tone: "error" };
    case "error":
      return { text: s.message, tone: "error" };
    case "idle":
      if (n) return { text: `Unsaved changes on ${slices}`, tone: "warn" };
      return { text: v.head ? `All changes saved · version ${v.head}` : "Nothing saved yet", tone: v.head ? "ok" : "muted" };
  }
}

/** Conflict resolution: what the next save uses as its base, and whether local edits survive. */
export function resolveConflict(
  choice: "reload" | "keep",
  conflict: { current: number; base: number },
): { base: number; keepLocal: boolean; saveNow: boolean } {
  return choice === "keep"
    ? { base: conflict.current, keepLocal: true, saveNow: true }
    : { base: conflict.current, keepLocal: false, saveNow: false };
}

/** Whether a failed save is worth retrying automatically (the network, not the request, failed). */
export function isRetryable(err: { status: number; code: string }): boolean {
  return err.code === "network" || err.status === 502 || err.status === 503 || err.status === 504;
}
