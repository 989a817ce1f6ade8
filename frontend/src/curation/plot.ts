/** Numbers behind the statistics plots: axis ticks, histogram bins and per-day series. No drawing here. */

import type { Histogram } from "../api/types";

/** Round tick values from 0 to at least `max` (1, 2 or 5 times a power of ten apart). */
export function niceTicks(max: number, count = 4): number[] {
  if (!(max > 0) || !Number.isFinite(max)) return [0, 1];
  const rough = max / count;
  const power = 10 ** Math.floor(Math.log10(rough));
  const step = [1, 2, 5, 10].map((m) => m * power).find((s) => s >= rough) ?? 10 * power;
  const ticks: number[] = [];
  for (let v = 0; v < max + step / 2; v += step) ticks.push(Number(v.toPrecision(12)));
  if (ticks[ticks.length - 1]! < max) ticks.push(Number((ticks[ticks.length - 1]! + step).toPrecision(12)));
  return ticks;
}

export interface Bin {
  from: number;
  to: number;
  count: number;
  /** "0.2–0.3" */
  label: string;
}

/** Compact numbers for axis labels: 0.25, 12.5, 1200 -> "1.2k". */
export function formatNumber(value: number): string {
  const abs = Math.abs(value);
  if (abs >= 10000) return `${(value / 1000).toFixed(0)}k`;
  if (abs >= 1000) return `${(value / 1000).toFixed(1)}k`;
  if (abs >= 100 || Number.isInteger(value)) return value.toFixed(0);
  if (abs >= 10) return value.toFixed(1);
  return Number(value.toPrecision(2)).toString();
}

/** The backend's histogram ({edges: n+1, counts: n}) as bins with labels; malformed input gives none. */
export function histogramBins(h: Histogram | null | undefined): Bin[] {
  if (!h || h.counts.length === 0 || h.edges.length !== h.counts.length + 1) return [];
  return h.counts.map((count, i) => {
    const from = h.edges[i]!;
    const to = h.edges[i + 1]!;
    return { from, to, count, label: `${formatNumber(from)}–${formatNumber(to)}` };
  });
}

/**
 * Values into `bins` equal-width bins over [low, high] (the data's range when not given), the last bin
 * closed on the right, as numpy.histogram does; values outside the range are left out.
 */
export function binValues(values: number[], bins: number, low?: number, high?: number): Histogram {
  const finite = values.filter((v) => Number.isFinite(v));
  if (finite.length === 0 || bins < 1) return { edges: [], counts: [] };
  const lo = low ?? Math.min(...finite);
  let hi = high ?? Math.max(...finite);
  if (hi <= lo) hi = lo + 1;
  const width = (hi - lo) / bins;
  const edges = Array.from({ length: bins + 1 }, (_, i) => (i === bins ? hi : lo + i * width));
  const counts = new Array<number>(bins).fill(0);
  for (const v of finite) {
    if (v < lo || v > hi) continue;
    const i = v === hi ? bins - 1 : Math.min(bins - 1, Math.floor((v - lo) / width));
    counts[i]! += 1;
  }
  return { edges, counts };
}

/** Every day from `from` to `to` (ISO dates, inclusive), in order. */
export function dayRange(from: string, to: string): string[] {
  const start = Date.parse(`${from}T00:00:00Z`);
  const end = Date.parse(`${to}T00:00:00Z`);
  if (!Number.isFinite(start) || !Number.isFinite(end) || end < start) return [];
  const out: string[] = [];
  for (let t = start; t <= end; t += 86_400_000) out.push(new Date(t).toISOString().slice(0, 10));
  return out;
}

export interface DaySeries {
  name: string;
  values: number[];
  total: number;
}

/** Per-reader counts on sparse days ({"2024-05-01": 3}) as dense series over the window, zeros filled in. */
export function daySeries(
  from: string,
  to: string,
  readers: Array<{ reader: string; per_day: Record<string, number>; total?: number }>,
): { days: string[]; series: DaySeries[] } {
  const days = dayRange(from, to);
  const series = readers.map((r) => {
    const values = days.map((d) => r.per_day[d] ?? 0);
    return { name: r.reader || "(deleted user)", values, total: values.reduce((a, b) => a + b, 0) };
  });
  return { days, series };
}

/** Distinct, readable colours for series and labels (label colours come from the schema when known). */
export const PALETTE = ["#3d8bfd", "#32d583", "#ffb020", "#ff5a4f", "#b37feb", "#27d3ff", "#f78fb3", "#a3e635"];
