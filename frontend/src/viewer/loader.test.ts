import { describe, expect, it } from "vitest";
import type { FramePixels } from "../api/types";
import { SliceLoader, type SliceSource } from "./loader";

const SLICE_BYTES = 512 * 512 * 2;

function pixels(): FramePixels {
  return {
    rows: 512,
    columns: 512,
    samples: 1,
    dtype: "int16",
    data: new Int16Array(0),
    photometric: "MONOCHROME2",
    modality: "CT",
    pixelSpacing: null,
    presets: [],
    bytes: SLICE_BYTES,
  };
}

/** A fetch whose requests the test answers by hand, in any order. */
function manualFetch() {
  const pending = new Map<number, { resolve: (p: FramePixels) => void; reject: (e: unknown) => void; signal: AbortSignal }>();
  const requested: number[] = [];
  const fetchSlice = (s: SliceSource, signal: AbortSignal) =>
    new Promise<FramePixels>((resolve, reject) => {
      requested.push(s.frameIndex);
      pending.set(s.frameIndex, { resolve, reject, signal });
      signal.addEventListener("abort", () => reject(new DOMException("aborted", "AbortError")));
    });
  const answer = async (z: number) => {
    pending.get(z)!.resolve(pixels());
    pending.delete(z);
    await Promise.resolve();
    await Promise.resolve();
  };
  return { fetchSlice, requested, pending, answer };
}

const sources = (n: number) => Array.from({ length: n }, (_, i) => ({ instanceId: 1, frameIndex: i }));
const noEvents = { loaded: () => undefined, evicted: () => undefined, failed: () => undefined };

describe("progressive slice loader", () => {
  it("fetches the current slice first, then outward, a few at a time", async () => {
    const f = manualFetch();
    const loaded: number[] = [];
    const loader = new SliceLoader(sources(300), f.fetchSlice, { ...noEvents, loaded: (z) => loaded.push(z) }, 512 << 20, 4);
    loader.setCurrent(150);
    expect(f.requested).toEqual([150, 151, 149, 152]);
    await f.answer(151);
    expect(loaded).toEqual([151]);
    expect(f.requested).toEqual([150, 151, 149, 152, 148]);
    loader.dispose();
  });

  it("re-prioritises on a jump and drops requests the cache could not keep", async () => {
    const f = manualFetch();
    // Room for 3 slices: only the 3 nearest the current one are worth fetching.
    const loader = new SliceLoader(sources(100), f.fetchSlice, noEvents, 3 * SLICE_BYTES, 2);
    loader.setCurrent(10);
    await f.answer(10);
    expect(f.requested).toEqual([10, 11, 9]);
    loader.setCurrent(80);
    expect(f.pending.get(11)?.signal.aborted ?? true).toBe(true);
    expect(f.requested.slice(-2)).toEqual([80, 81]);
    await f.answer(80);
    await f.answer(81);
    expect(f.requested.at(-1)).toBe(79);
    await f.answer(79);
    // 10 is now the farthest of four: evicted to stay within three slices.
    expect(loader.cache.keys()).toEqual([79, 80, 81]);
    loader.dispose();
  });

  it("keeps 300 CT slices of 512x512 within the 512 MiB budget", async () => {
    const f = manualFetch();
    const loader = new SliceLoader(sources(300), f.fetchSlice, noEvents);
    loader.setCurrent(0);
    for (let i = 0; i < 300; i++) {
      const next = [...f.pending.keys()][0]!;
      await f.answer(next);
    }
    expect(loader.cache.size).toBe(300);
    expect(loader.cache.bytes).toBe(300 * SLICE_BYTES);
    expect(loader.cache.bytes).toBeLessThanOrEqual(512 << 20);
    loader.dispose();
  });

  it("gives up on a slice after repeated failures and reports it", async () => {
    let calls = 0;
    const failed: number[] = [];
    const loader = new SliceLoader(
      sources(1),
      () => {
        calls++;
        return Promise.reject(Object.assign(new Error("gone"), {}));
      },
      { ...noEvents, failed: (z) => failed.push(z) },
    );
    loader.setCurrent(0);
    for (let i = 0; i < 3; i++) {
      await new Promise((r) => setTimeout(r, 300 * (i + 1) + 20));
    }
    expect(failed).toEqual([0]);
    expect(calls).toBe(3);
    expect(loader.isFailed(0)).toBe(true);
    loader.dispose();
  });
});
