/** Small shared pieces: progress bar, spinner, toasts, empty and error states. */

import type { ComponentChildren } from "preact";
import { CircleAlert, CircleCheck, Info, LoaderCircle, X } from "lucide-preact";
import { dismiss, toasts } from "../state/notify";
import { useStore } from "../state/store";

export function ProgressBar(props: { value: number; max: number; label: string; indeterminate?: boolean }) {
  const pct = props.max > 0 ? Math.min(100, Math.max(0, (props.value / props.max) * 100)) : 0;
  return (
    <div
      class={`progress${props.indeterminate ? " progress--indeterminate" : ""}`}
      role="progressbar"
      aria-label={props.label}
      aria-valuemin={0}
      aria-valuemax={props.max}
      aria-valuenow={props.indeterminate ? undefined : props.value}
    >
      <div class="progress__fill" style={{ width: props.indeterminate ? "35%" : `${pct}%` }} />
    </div>
  );
}

export function Spinner(props: { size?: number; label?: string }) {
  return <LoaderCircle class="spin" size={props.size ?? 16} aria-label={props.label ?? "Loading"} />;
}

export function Toaster() {
  const list = useStore(toasts);
  return (
    <div class="toasts" aria-live="polite">
      {list.map((t) => (
        <div key={t.id} class={`toast toast--${t.kind}`} role={t.kind === "error" ? "alert" : "status"}>
          {t.kind === "error" ? <CircleAlert size={16} /> : t.kind === "success" ? <CircleCheck size={16} /> : <Info size={16} />}
          <span class="toast__text">{t.text}</span>
          <button class="icon-button icon-button--small" aria-label="Dismiss" onClick={() => dismiss(t.id)}>
            <X size={14} />
          </button>
        </div>
      ))}
    </div>
  );
}

export function PageState(props: { kind: "loading" | "error" | "empty"; children?: ComponentChildren }) {
  return (
    <div class={`page-state page-state--${props.kind}`} role={props.kind === "error" ? "alert" : undefined}>
      {props.kind === "loading" && <Spinner size={20} />}
      {props.kind === "error" && <CircleAlert size={20} />}
      <div>{props.children}</div>
    </div>
  );
}

/** Checkboxes for export formats (the project export and a snapshot's export offer the same choice). */
export function FormatChecklist<T extends string>(props: {
  options: Array<{ value: T; text: string; hint: string }>;
  selected: Set<T>;
  onChange: (next: Set<T>) => void;
}) {
  return (
    <div class="format-list">
      {props.options.map((f) => (
        <label key={f.value} class="checkbox checkbox--inline">
          <input
            type="checkbox"
            checked={props.selected.has(f.value)}
            onChange={(e) => {
              const next = new Set(props.selected);
              if (e.currentTarget.checked) next.add(f.value);
              else next.delete(f.value);
              props.onChange(next);
            }}
          />
          <span>
            {f.text} <span class="muted small">{f.hint}</span>
          </span>
        </label>
      ))}
    </div>
  );
}

/** An inline labelled select over a few numbers (histogram bins, days, a distance). */
export function NumberSelect(props: {
  label: ComponentChildren;
  ariaLabel: string;
  value: number;
  options: readonly number[];
  onChange: (value: number) => void;
}) {
  return (
    <label class="field field--inline small">
      {props.label}
      <select
        class="select"
        aria-label={props.ariaLabel}
        value={String(props.value)}
        onChange={(e) => props.onChange(Number(e.currentTarget.value))}
      >
        {props.options.map((n) => (
          <option key={n} value={String(n)}>
            {n}
          </option>
        ))}
      </select>
    </label>
  );
}

export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  if (n < 1024 * 1024 * 1024) return `${(n / 1024 / 1024).toFixed(1)} MiB`;
  return `${(n / 1024 / 1024 / 1024).toFixed(2)} GiB`;
}
