/** Non-blocking messages (toasts): API errors in words, confirmations. Nothing here ever blocks the UI. */

import { toApiError } from "../api/client";
import { Store } from "./store";

export type ToastKind = "error" | "info" | "success";

export interface Toast {
  id: number;
  kind: ToastKind;
  text: string;
}

export const toasts = new Store<Toast[]>([]);
let nextId = 1;

export function dismiss(id: number): void {
  toasts.set(toasts.get().filter((t) => t.id !== id));
}

export function notify(kind: ToastKind, text: string, ms = kind === "error" ? 8000 : 4000): number {
  const id = nextId++;
  // The same message twice in a row replaces the first rather than stacking.
  const rest = toasts.get().filter((t) => t.text !== text);
  toasts.set([...rest.slice(-3), { id, kind, text }]);
  setTimeout(() => dismiss(id), ms);
  return id;
}

/** Show what went wrong, in words; aborted requests are silent. */
export function notifyError(err: unknown, context?: string): void {
  const e = toApiError(err);
  if (e.isAbort) return;
  notify("error", context ? `${context}: ${e.message}` : e.message);
}
