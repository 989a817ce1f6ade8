/**
 * Decoded slices in memory under a byte budget (DESIGN.md §8: at most 512 MiB in the browser). When over
 * budget, the slice farthest from the current one goes first; the current slice is never evicted.
 */

export const DEFAULT_CACHE_BYTES = 512 * 1024 * 1024;

export interface Sized {
  bytes: number;
}

export class SliceCache<T extends Sized> {
  private readonly items = new Map<number, T>();
  private used = 0;
  private current = 0;

  constructor(readonly budgetBytes = DEFAULT_CACHE_BYTES) {}

  get size(): number {
    return this.items.size;
  }

  get bytes(): number {
    return this.used;
  }

  has(index: number): boolean {
    return this.items.has(index);
  }

  get(index: number): T | undefined {
    return this.items.get(index);
  }

  keys(): number[] {
    return [...this.items.keys()].sort((a, b) => a - b);
  }

  /** Move the focus; evicts if the new focus leaves the cache over budget. Returns evicted indices. */
  setCurrent(index: number): number[] {
    this.current = index;
    return this.evict();
  }

  /** Store a slice; returns the indices evicted to make room (possibly the new one, if it is farthest). */
  put(index: number, item: T): number[] {
    const old = this.items.get(index);
    if (old) this.used -= old.bytes;
    this.items.set(index, item);
    this.used += item.bytes;
    return this.evict();
  }

  clear(): void {
    this.items.clear();
    this.used = 0;
  }

  /** Evict the farthest from the current slice until within budget; ties go to the higher index. */
  private evict(): number[] {
    const evicted: number[] = [];
    while (this.used > this.budgetBytes && this.items.size > 1) {
      let victim: number | null = null;
      let far = -1;
      for (const k of this.items.keys()) {
        if (k === this.current) continue;
        const d = Math.abs(k - this.current);
        if (d > far || (d === far && victim !== null && k > victim)) {
          far = d;
          victim = k;
        }
      }
      if (victim === null) break;
      this.used -= this.items.get(victim)!.bytes;
      this.items.delete(victim);
      evicted.push(victim);
    }
    return evicted;
  }
}

/**
 * The order to fetch slices in: the current one, then outward alternating ahead and behind, limited to
 * the `capacity` nearest (more would only be evicted again).
 */
export function prefetchOrder(current: number, count: number, capacity = count): number[] {
  const order: number[] = [];
  const limit = Math.min(count, Math.max(1, capacity));
  if (current >= 0 && current < count) order.push(current);
  for (let d = 1; order.length < limit && (current + d < count || current - d >= 0); d++) {
    if (current + d < count) order.push(current + d);
    if (order.length < limit && current - d >= 0) order.push(current - d);
  }
  return order;
}
