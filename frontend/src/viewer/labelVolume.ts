/**
 * The editor's annotation state: one uint8 label map per frame (DESIGN.md §6), allocated on first edit.
 * Which frames are unsaved is the AnnotationSession's business (saveState.ts), not this store's.
 */

import type { LabelStore } from "./history";

export class LabelVolume implements LabelStore {
  private readonly maps = new Map<number, Uint8Array>();
  /** Bumped on every change, so renderers know to repaint. */
  version = 0;

  constructor(
    readonly rows: number,
    readonly cols: number,
    readonly count: number,
  ) {}

  /** The frame's label map, created empty on first use (for writing). */
  frame(z: number): Uint8Array {
    let map = this.maps.get(z);
    if (!map) {
      map = new Uint8Array(this.rows * this.cols);
      this.maps.set(z, map);
    }
    return map;
  }

  /** The frame's label map if it has one (for reading: never allocates). */
  peek(z: number): Uint8Array | undefined {
    return this.maps.get(z);
  }

  /** Record that frames changed. */
  touched(_frames?: Iterable<number>): void {
    this.version++;
  }

  /** Put a frame's map as loaded from the server (null: no label on it). Not an edit. */
  replace(z: number, map: Uint8Array | null): void {
    if (map && map.length !== this.rows * this.cols) throw new Error(`frame ${z}: ${map.length} pixels, expected ${this.rows * this.cols}`);
    if (map && map.some((v) => v !== 0)) this.maps.set(z, map);
    else this.maps.delete(z);
    this.version++;
  }

  /** Drop every map (before reloading a whole annotation). */
  clear(): void {
    this.maps.clear();
    this.version++;
  }

  /** Frames holding any label. */
  annotatedFrames(): number[] {
    const out: number[] = [];
    for (const [z, map] of this.maps) if (map.some((v) => v !== 0)) out.push(z);
    return out.sort((a, b) => a - b);
  }
}
