/** The results of a search: one row per case, series or study, with a thumbnail, selection and keyset pages. */

import { ChevronLeft, ChevronRight } from "lucide-preact";
import { useEffect, useRef } from "preact/hooks";
import { api } from "../api/client";
import type { ApiLabel, CaseRow, CurationTarget, FindPage, SeriesRow, StudyRow, Thumbnail } from "../api/types";
import { FLAG_KINDS } from "./filterModel";
import { type Pager, pageSelection, rangeText } from "./pager";

export const PAGE_SIZES = [5, 10, 25, 50, 100];

const STATUS_TEXT: Record<string, { text: string; cls: string }> = {
  reading: { text: "Reading", cls: "status--info" },
  in_review: { text: "In review", cls: "status--warn" },
  signed: { text: "Signed", cls: "status--ok" },
};

export function diceClass(d: number | null | undefined): string {
  if (d === null || d === undefined) return "";
  return d >= 0.8 ? "metric--good" : d >= 0.6 ? "metric--fair" : "metric--poor";
}

const flagText = (kind: string) => FLAG_KINDS.find((f) => f.value === kind)?.text ?? kind;

function Thumb(props: { project: string; thumbnail: Thumbnail | null; alt: string }) {
  if (!props.thumbnail) return <span class="thumb thumb--none" aria-label="No image" />;
  return (
    <img
      class="thumb"
      loading="lazy"
      width={64}
      height={64}
      alt={props.alt}
      src={api.imaging.framePngUrl(props.project, props.thumbnail.instance_id, props.thumbnail.frame_index, { size: 128 })}
    />
  );
}

function Marks(props: { tags: string[]; flags: Array<{ kind: string; reason: string }> }) {
  return (
    <span class="marks">
      {props.tags.map((t) => (
        <span key={t} class="chip" data-tag={t}>
          {t}
        </span>
      ))}
      {props.flags.map((f, i) => (
        <span key={`${f.kind}-${i}`} class="chip chip--flag" data-flag={f.kind} title={f.reason || undefined}>
          {flagText(f.kind)}
        </span>
      ))}
    </span>
  );
}

export function ResultsTable(props: {
  slug: string;
  scope: "project" | "all";
  page: FindPage;
  pager: Pager;
  pageSize: number;
  count: number | undefined;
  selected: ReadonlySet<number>;
  onToggle: (id: number) => void;
  onToggleAll: (ids: number[]) => void;
  onNext: () => void;
  onPrevious: () => void;
  onPageSize: (n: number) => void;
  labels: ApiLabel[];
  busy: boolean;
  /** How many searches have answered so far (data-answers). */
  answers: number;
}) {
  const target: CurationTarget = props.page.target;
  // Rows of other projects (search across projects) are shown, but bulk actions act in this project only.
  const selectable = props.page.items.filter((r) => r.project === props.slug).map((r) => r.id);
  const state = pageSelection(props.selected, selectable);
  const header = useRef<HTMLInputElement>(null);
  useEffect(() => {
    if (header.current) header.current.indeterminate = state === "some";
  }, [state]);
  const labelName = (value: number) => props.labels.find((l) => l.value === value)?.name ?? `Label ${value}`;
  const labelColor = (value: number) => props.labels.find((l) => l.value === value)?.color ?? "#8593a6";
  const showProject = props.scope === "all";
  const noun = target === "case" ? "cases" : target === "series" ? "series" : "studies";
  return (
    <section class="results" aria-label="Results" aria-busy={props.busy} data-answers={props.answers}>
      <div class="results__bar">
        <span data-testid="results-range">{rangeText(props.pager, props.pageSize, props.page.items.length, props.count)}</span>
        <span class="muted small">{props.selected.size > 0 ? `${props.selected.size} selected` : ""}</span>
        <span class="results__spacer" />
        <label class="field field--inline small">
          Rows per page
          <select class="select" aria-label="Rows per page" value={String(props.pageSize)} onChange={(e) => props.onPageSize(Number(e.currentTarget.value))}>
            {PAGE_SIZES.map((n) => (
              <option key={n} value={String(n)}>
                {n}
              </option>
            ))}
          </select>
        </label>
        <button class="button button--small" onClick={props.onPrevious} disabled={props.busy || props.pager.index === 0}>
          <ChevronLeft size={14} /> Previous
        </button>
        <button class="button button--small" onClick={props.onNext} disabled={props.busy || !props.page.next_cursor}>
          Next <ChevronRight size={14} />
        </button>
      </div>
      {props.page.items.length === 0 ? (
        <p class="muted empty-line" data-testid="results-empty">
          No {noun} match this filter.
        </p>
      ) : (
        <div class="table-scroll">
          <table class="table table--dense results__table" data-testid="results-table" data-target={target}>
            <thead>
              <tr>
                <th class="col-check">
                  <input
                    ref={header}
                    type="checkbox"
                    aria-label="Select all on this page"
                    checked={state === "all"}
                    disabled={selectable.length === 0}
                    onChange={() => props.onToggleAll(selectable)}
                  />
                </th>
                {target !== "study" && <th>Image</th>}
                <th>{target === "case" ? "Case" : target === "series" ? "Series" : "Study"}</th>
                {showProject && <th>Project</th>}
                {target === "case" && <CaseHeads />}
                {target === "series" && <SeriesHeads />}
                {target === "study" && <StudyHeads />}
              </tr>
            </thead>
            <tbody>
              {props.page.items.map((row) => {
                const mine = row.project === props.slug;
                const check = (
                  <td class="col-check">
                    <input
                      type="checkbox"
                      aria-label={`Select ${target} ${row.id}`}
                      checked={props.selected.has(row.id)}
                      disabled={!mine}
                      title={mine ? undefined : "Bulk actions work within this project"}
                      onChange={() => props.onToggle(row.id)}
                    />
                  </td>
                );
                const project = showProject ? <td>{row.project}</td> : null;
                const rowClass = props.selected.has(row.id) ? "row--selected" : "";
                const lead = (thumbnail: Thumbnail | null, href: string, label: string) => (
                  <>
                    {check}
                    <td>
                      <Thumb project={row.project} thumbnail={thumbnail} alt={label} />
                    </td>
                    <td>
                      <a href={href}>{label}</a>
                    </td>
                    {project}
                  </>
                );
                if (target === "case") {
                  const r = row as CaseRow;
                  return (
                    <tr key={r.id} data-id={r.id} class={rowClass}>
                      {lead(r.thumbnail, `/projects/${r.project}/series/${r.series_id}`, `Case ${r.id}`)}
                      <td class="mono small" title={r.patient_key}>
                        {r.patient_key ? r.patient_key.slice(0, 12) : "—"}
                      </td>
                      <td>{r.study_date ?? "—"}</td>
                      <td>
                        <span class="badge badge--flush">{r.modality || "?"}</span> <span class="small">{r.body_part}</span>
                      </td>
                      <td class="small">{r.manufacturer || "—"}</td>
                      <td class="num">{r.slice_thickness ?? "—"}</td>
                      <td class="num">{r.frame_count}</td>
                      <td>
                        <span class={`status ${STATUS_TEXT[r.status]?.cls ?? ""}`}>{STATUS_TEXT[r.status]?.text ?? r.status}</span>
                      </td>
                      <td>
                        {r.labels.length === 0 ? (
                          <span class="muted">—</span>
                        ) : (
                          r.labels.map((l) => (
                            <span key={l.value} class="label-pill" data-label={l.value}>
                              <span class="label-pill__dot" style={{ background: labelColor(l.value) }} aria-hidden="true" />
                              {labelName(l.value)} {l.volume_ml.toFixed(1)} mL
                            </span>
                          ))
                        )}
                      </td>
                      <td class="num">
                        {r.mean_dice === null ? (
                          <span class="muted">—</span>
                        ) : (
                          <span class={diceClass(r.mean_dice)} title={`${r.readers} readers; lowest pair ${r.min_dice?.toFixed(3) ?? "—"}`}>
                            {r.mean_dice.toFixed(3)}
                          </span>
                        )}
                      </td>
                      <td>
                        <Marks tags={r.tags} flags={r.flags} />
                      </td>
                    </tr>
                  );
                }
                if (target === "series") {
                  const r = row as SeriesRow;
                  return (
                    <tr key={r.id} data-id={r.id} class={rowClass}>
                      {lead(r.thumbnail, `/projects/${r.project}/series/${r.id}`, `Series ${r.id}`)}
                      <td class="small">{r.series_description || "—"}</td>
                      <td>
                        <span class="badge badge--flush">{r.modality || "?"}</span> <span class="small">{r.body_part}</span>
                      </td>
                      <td class="small">{r.manufacturer || "—"}</td>
                      <td class="num">{r.slice_thickness ?? "—"}</td>
                      <td class="num">{r.frame_count}</td>
                      <td>{r.case_id ? `Case ${r.case_id}` : <span class="muted">no case</span>}</td>
                    </tr>
                  );
                }
                const r = row as StudyRow;
                return (
                  <tr key={r.id} data-id={r.id} class={rowClass}>
                    {check}
                    <td>Study {r.id}</td>
                    {project}
                    <td class="mono small" title={r.patient_key}>
                      {r.patient_key ? r.patient_key.slice(0, 12) : "—"}
                    </td>
                    <td>{r.study_date ?? "—"}</td>
                    <td>{(Array.isArray(r.modalities) ? r.modalities : [r.modalities]).join(", ") || "—"}</td>
                    <td class="num">{r.series_count}</td>
                    <td>
                      <Marks tags={r.tags} flags={r.flags} />
                    </td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        </div>
      )}
    </section>
  );
}

function CaseHeads() {
  return (
    <>
      <th>Patient</th>
      <th>Study date</th>
      <th>Modality</th>
      <th>Manufacturer</th>
      <th class="num">Thickness</th>
      <th class="num">Slices</th>
      <th>Status</th>
      <th>Labels</th>
      <th class="num">Dice</th>
      <th>Tags / flags</th>
    </>
  );
}

function SeriesHeads() {
  return (
    <>
      <th>Description</th>
      <th>Modality</th>
      <th>Manufacturer</th>
      <th class="num">Thickness</th>
      <th class="num">Slices</th>
      <th>Case</th>
    </>
  );
}

function StudyHeads() {
  return (
    <>
      <th>Patient</th>
      <th>Study date</th>
      <th>Modalities</th>
      <th class="num">Series</th>
      <th>Tags / flags</th>
    </>
  );
}
