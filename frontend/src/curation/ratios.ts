/** Train/val/test ratios as typed: checked here before a request (the backend checks again: 400 invalid_split). */

import type { SplitName, SplitRatios } from "../api/types";

export const SPLITS: SplitName[] = ["train", "val", "test"];
/** The backend's tolerance on the sum (backend/curation/splits.py). */
export const SUM_TOLERANCE = 1e-6;

export interface RatioCheck {
  ratios: SplitRatios;
  /** Sum of the parsed ratios, rounded for display. */
  sum: number;
  /** In words, or null when the ratios can be sent. */
  error: string | null;
}

/** Blank is 0; each ratio a number in [0, 1]; together they sum to 1. Percentages are not accepted. */
export function checkRatios(input: Record<SplitName, string>): RatioCheck {
  const ratios: SplitRatios = { train: 0, val: 0, test: 0 };
  let error: string | null = null;
  for (const name of SPLITS) {
    const raw = (input[name] ?? "").trim();
    if (raw === "") continue;
    const value = Number(raw);
    if (!Number.isFinite(value)) {
      error ??= `The ${name} ratio is not a number.`;
      continue;
    }
    if (value < 0 || value > 1) {
      error ??= `The ${name} ratio must be between 0 and 1 (e.g. 0.8, not 80).`;
      continue;
    }
    ratios[name] = value;
  }
  const total = ratios.train + ratios.val + ratios.test;
  const sum = Math.round(total * 1e6) / 1e6;
  if (!error && Math.abs(total - 1) > SUM_TOLERANCE) error = `The ratios sum to ${sum}, not 1.`;
  return { ratios, sum, error };
}
