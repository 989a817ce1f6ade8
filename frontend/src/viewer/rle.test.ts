import { describe, expect, it } from "vitest";
import { RleError, decodeBinary, decodeLabels, encodeBinary, encodeLabels } from "./rle";

describe("binary RLE", () => {
  it("decodes the backend's format: runs alternate and start with 0s", () => {
    expect([...decodeBinary({ size: [2, 3], counts: [1, 2, 3] })]).toEqual([0, 1, 1, 0, 0, 0]);
    expect([...decodeBinary({ size: [1, 3], counts: [0, 3] })]).toEqual([1, 1, 1]);
  });

  it("encodes with a leading zero-length run when the mask starts with 1", () => {
    expect(encodeBinary([1, 1, 0, 1], 2, 2)).toEqual({ size: [2, 2], counts: [0, 2, 1, 1] });
    expect(encodeBinary([0, 0, 0, 0], 2, 2).counts).toEqual([4]);
  });

  it("round-trips random masks", () => {
    let seed = 7;
    const rand = () => ((seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648);
    for (let t = 0; t < 50; t++) {
      const rows = 1 + Math.floor(rand() * 40);
      const cols = 1 + Math.floor(rand() * 40);
      const density = rand();
      const mask = new Uint8Array(rows * cols).map(() => (rand() < density ? 1 : 0));
      expect(decodeBinary(encodeBinary(mask, rows, cols))).toEqual(mask);
    }
  });

  it("rejects runs that do not cover the mask", () => {
    expect(() => decodeBinary({ size: [2, 2], counts: [1, 1] })).toThrow(RleError);
    expect(() => decodeBinary({ size: [2, 2], counts: [3, 3] })).toThrow(RleError);
    expect(() => decodeBinary({ size: [2, 2], counts: [-1, 5] })).toThrow(RleError);
  });
});

describe("label RLE", () => {
  it("round-trips label maps", () => {
    const labels = Uint8Array.from([0, 0, 3, 3, 3, 1, 0, 255, 255]);
    const rle = encodeLabels(labels, 3, 3);
    expect(rle.values).toEqual([0, 3, 1, 0, 255]);
    expect(rle.counts).toEqual([2, 3, 1, 1, 2]);
    expect(decodeLabels(rle)).toEqual(labels);
  });

  it("rejects mismatched values and counts", () => {
    expect(() => decodeLabels({ size: [1, 2], values: [1], counts: [1, 1] })).toThrow(RleError);
    expect(() => decodeLabels({ size: [1, 2], values: [300], counts: [2] })).toThrow(RleError);
  });
});

describe("label-map RLE as the save API takes it (values/counts pairs, row-major)", () => {
  it("matches backend/common/rle.py rle_encode_labels on the same map", () => {
    // numpy: m = zeros((4, 5)); m[1, 1:4] = 2; m[2, 2] = 7; m[3, 4] = 2
    const m = new Uint8Array(20);
    m.set([2, 2, 2], 6);
    m[12] = 7;
    m[19] = 2;
    expect(encodeLabels(m, 4, 5)).toEqual({ size: [4, 5], values: [0, 2, 0, 7, 0, 2], counts: [6, 3, 3, 1, 6, 1] });
    expect(decodeLabels({ size: [4, 5], values: [0, 2, 0, 7, 0, 2], counts: [6, 3, 3, 1, 6, 1] })).toEqual(m);
  });

  it("an empty frame is one run of 0s", () => {
    expect(encodeLabels(new Uint8Array(6), 2, 3)).toEqual({ size: [2, 3], values: [0], counts: [6] });
  });

  it("round-trips random multi-label maps", () => {
    let seed = 11;
    const rand = () => ((seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648);
    for (let t = 0; t < 40; t++) {
      const rows = 1 + Math.floor(rand() * 30);
      const cols = 1 + Math.floor(rand() * 30);
      const map = new Uint8Array(rows * cols);
      let v = 0;
      for (let i = 0; i < map.length; i++) {
        if (rand() < 0.2) v = rand() < 0.5 ? 0 : Math.floor(rand() * 256);
        map[i] = v;
      }
      const rle = encodeLabels(map, rows, cols);
      expect(rle.counts.reduce((a, b) => a + b, 0)).toBe(rows * cols);
      for (let i = 1; i < rle.values.length; i++) expect(rle.values[i]).not.toBe(rle.values[i - 1]);
      expect(decodeLabels(rle)).toEqual(map);
    }
  });

  it("rejects a map of the wrong size and runs that overflow", () => {
    expect(() => encodeLabels(new Uint8Array(5), 2, 3)).toThrow(RleError);
    expect(() => decodeLabels({ size: [2, 2], values: [0, 1], counts: [3, 3] })).toThrow(RleError);
    expect(() => decodeLabels({ size: [2, 2], values: [0], counts: [3] })).toThrow(RleError);
  });
});
