import { describe, expect, it } from "vitest";
import { SliceCache, prefetchOrder } from "./sliceCache";

const slice = (bytes = 100) => ({ bytes });

describe("slice cache", () => {
  it("keeps within its byte budget by evicting the slice farthest from the current one", () => {
    const c = new SliceCache(500);
    c.setCurrent(10);
    for (const z of [10, 11, 9, 12, 8]) expect(c.put(z, slice())).toEqual([]);
    expect(c.bytes).toBe(500);
    // 13 is 3 away, farther than anything held: it is the one that goes.
    expect(c.put(13, slice())).toEqual([13]);
    expect(c.keys()).toEqual([8, 9, 10, 11, 12]);
    // Moving the focus to 12 makes 8 the farthest once a new slice arrives.
    c.setCurrent(12);
    expect(c.put(13, slice())).toEqual([8]);
    expect(c.keys()).toEqual([9, 10, 11, 12, 13]);
  });

  it("breaks ties toward the higher index and never evicts the current slice", () => {
    const c = new SliceCache(300);
    c.setCurrent(5);
    c.put(4, slice());
    c.put(6, slice());
    c.put(5, slice());
    expect(c.put(3, slice(100))).toEqual([3]);
    expect(c.put(7, slice(100))).toEqual([7]);
    const big = new SliceCache(50);
    big.setCurrent(0);
    expect(big.put(0, slice(100))).toEqual([]);
    expect(big.has(0)).toBe(true);
    expect(big.put(1, slice(100))).toEqual([1]);
  });

  it("evicts on a focus change when slices have different sizes", () => {
    const c = new SliceCache(1000);
    c.setCurrent(0);
    c.put(0, slice(400));
    c.put(1, slice(400));
    c.put(2, slice(200));
    expect(c.bytes).toBe(1000);
    c.put(1, slice(500)); // replacing a slice updates the accounting
    expect(c.keys()).toEqual([0, 1]);
    expect(c.bytes).toBe(900);
    expect(c.setCurrent(1)).toEqual([]);
  });
});

describe("prefetch order", () => {
  it("starts at the current slice and alternates outward", () => {
    expect(prefetchOrder(5, 10)).toEqual([5, 6, 4, 7, 3, 8, 2, 9, 1, 0]);
    expect(prefetchOrder(0, 4)).toEqual([0, 1, 2, 3]);
    expect(prefetchOrder(3, 4)).toEqual([3, 2, 1, 0]);
  });

  it("stops at the cache capacity", () => {
    expect(prefetchOrder(150, 300, 5)).toEqual([150, 151, 149, 152, 148]);
    expect(prefetchOrder(0, 0)).toEqual([]);
  });
});
