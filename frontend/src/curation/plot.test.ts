import { describe, expect, it } from "vitest";
import { binValues, dayRange, daySeries, formatNumber, histogramBins, niceTicks } from "./plot";

describe("plot numbers", () => {
  it("chooses round ticks covering the maximum", () => {
    expect(niceTicks(7)).toEqual([0, 2, 4, 6, 8]);
    expect(niceTicks(1)).toEqual([0, 0.5, 1]);
    expect(niceTicks(100)).toEqual([0, 50, 100]);
    expect(niceTicks(0)).toEqual([0, 1]);
    const t = niceTicks(0.83);
    expect(t[0]).toBe(0);
    expect(t[t.length - 1]).toBeGreaterThanOrEqual(0.83);
  });

  it("labels the backend's histogram bins", () => {
    expect(histogramBins({ edges: [0, 0.5, 1], counts: [2, 3] })).toEqual([
      { from: 0, to: 0.5, count: 2, label: "0–0.5" },
      { from: 0.5, to: 1, count: 3, label: "0.5–1" },
    ]);
    expect(histogramBins({ edges: [], counts: [] })).toEqual([]);
    expect(histogramBins({ edges: [0, 1], counts: [1, 2] })).toEqual([]);
    expect(formatNumber(1234)).toBe("1.2k");
    expect(formatNumber(12.34)).toBe("12.3");
    expect(formatNumber(0.123)).toBe("0.12");
  });

  it("bins values like numpy.histogram (last bin closed)", () => {
    expect(binValues([0, 0.1, 0.5, 1], 2, 0, 1)).toEqual({ edges: [0, 0.5, 1], counts: [2, 2] });
    expect(binValues([1, 2, 3, 4], 3)).toEqual({ edges: [1, 2, 3, 4], counts: [1, 1, 2] });
    expect(binValues([5, 5], 2)).toEqual({ edges: [5, 5.5, 6], counts: [2, 0] });
    expect(binValues([-1, 2], 2, 0, 1).counts).toEqual([0, 0]);
    expect(binValues([], 4)).toEqual({ edges: [], counts: [] });
  });

  it("fills reader throughput over every day of the window", () => {
    expect(dayRange("2024-02-28", "2024-03-01")).toEqual(["2024-02-28", "2024-02-29", "2024-03-01"]);
    expect(dayRange("2024-03-02", "2024-03-01")).toEqual([]);
    const { days, series } = daySeries("2024-05-01", "2024-05-03", [
      { reader: "reader1", per_day: { "2024-05-01": 2, "2024-05-03": 1 } },
      { reader: "", per_day: { "2024-05-02": 4 } },
    ]);
    expect(days).toHaveLength(3);
    expect(series).toEqual([
      { name: "reader1", values: [2, 0, 1], total: 3 },
      { name: "(deleted user)", values: [0, 4, 0], total: 4 },
    ]);
  });
});
