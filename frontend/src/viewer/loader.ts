/**
 * Progressive fetch of a series' slices: the current slice first, then outward, a few requests at a time,
 * into the byte-bounded SliceCache. Re-prioritises on every slice change, so scrolling stays responsive.
 */

import { toApiError } from "../api/client";
import type { FramePixels } from "../api/types";
import { DEFAULT_CACHE_BYTES, SliceCache, prefetchOrder } from "./sliceCache";

export interface SliceSource {
  instanceId: number;
  frameIndex: number;
}

export type FetchSlice = (source: SliceSource, signal: AbortSignal) => Promise<FramePixels>;

export interface LoaderEvents {
  loaded(z: number, pixels: FramePixels): void;
  evicted(z: number[]): void;
  failed(z: number, message: string): void;
}

const MAX_ATTEMPTS = 3;

export class SliceLoader {
  readonly cache: SliceCache<FramePixels>;
  private current = 0;
  private capacity: number;
  private readonly inflight = new Map<number, AbortController>();
  private readonly attempts = new Map<number, number>();
  private readonly failed = new Set<number>();
  private disposed = false;

  constructor(
    private readonly sources: readonly SliceSource[],
    private readonly fetchSlice: FetchSlice,
    private readonly events: LoaderEvents,
    budgetBytes = DEFAULT_CACHE_BYTES,
    private readonly concurrency = 6,
  ) {
    this.cache = new SliceCache<FramePixels>(budgetBytes);
    this.capacity = sources.length;
  }

  get count(): number {
    return this.sources.length;
  }

  get(z: number): FramePixels | undefined {
    return this.cache.get(z);
  }

  isFailed(z: number): boolean {
    return this.failed.has(z);
  }

  setCurrent(z: number): void {
    this.current = z;
    const evicted = this.cache.setCurrent(z);
    if (evicted.length) this.events.evicted(evicted);
    // Requests for slices now outside the window the cache can hold are wasted bandwidth: drop them.
    const wanted = new Set(prefetchOrder(z, this.sources.length, this.capacity));
    for (const [k, ctrl] of this.inflight) {
      if (!wanted.has(k)) {
        ctrl.abort();
        this.inflight.delete(k);
      }
    }
    this.pump();
  }

  /** Try a failed slice again (the user asked). */
  retry(z: number): void {
    this.failed.delete(z);
    this.attempts.delete(z);
    this.pump();
  }

  dispose(): void {
    this.disposed = true;
    for (const ctrl of this.inflight.values()) ctrl.abort();
    this.inflight.clear();
    this.cache.clear();
  }

  private pump(): void {
    if (this.disposed) return;
    for (const z of prefetchOrder(this.current, this.sources.length, this.capacity)) {
      if (this.inflight.size >= this.concurrency) break;
      if (this.cache.has(z) || this.inflight.has(z) || this.failed.has(z)) continue;
      this.start(z);
    }
  }

  private start(z: number): void {
    const ctrl = new AbortController();
    this.inflight.set(z, ctrl);
    const source = this.sources[z]!;
    this.fetchSlice(source, ctrl.signal).then(
      (pixels) => {
        if (this.inflight.get(z) !== ctrl || this.disposed) return;
        this.inflight.delete(z);
        // Once one slice's size is known, fetch no more than the budget can hold.
        this.capacity = Math.max(1, Math.min(this.sources.length, Math.floor(this.cache.budgetBytes / pixels.bytes)));
        const evicted = this.cache.put(z, pixels);
        if (!evicted.includes(z)) this.events.loaded(z, pixels);
        if (evicted.length) this.events.evicted(evicted.filter((e) => e !== z));
        this.pump();
      },
      (err: unknown) => {
        if (this.inflight.get(z) !== ctrl || this.disposed) return;
        this.inflight.delete(z);
        const e = toApiError(err);
        if (e.isAbort) return;
        const n = (this.attempts.get(z) ?? 0) + 1;
        this.attempts.set(z, n);
        if (n >= MAX_ATTEMPTS || e.status === 404 || e.status === 403) {
          this.failed.add(z);
          this.events.failed(z, e.message);
        }
        setTimeout(() => this.pump(), 300 * n);
      },
    );
  }
}
