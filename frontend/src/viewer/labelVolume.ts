/**
 * The editor's annotation state: one uint8 label map per frame (DESIGN.md §6), allocated on first edit.
 * `dirty` names the frames changed since the last save (the save API comes with the workflow API).
 */

import type { LabelStore } from "./history";

export class LabelVolume implements LabelStore {
  private readonly maps = new Map<number, Uint8Array>();
  readonly dirty = new Set<number>();
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
  touched(frames: Iterable<number>): void {
    for (const z of frames) this.dirty.add(z);
    this.version++;
  }

  /** Frames holding any label. */
  annotatedFrames(): number[] {
    const out: number[] = [];
    for (const [z, map] of this.maps) if (map.some((v) => v !== 0)) out.push(z);
    return out.sort((a, b) => a - b);
  }
}
