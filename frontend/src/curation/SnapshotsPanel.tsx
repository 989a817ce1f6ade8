/**
 * Snapshots: a split preview (cases, patients and labels per split) before creating an immutable snapshot,
 * the list of snapshots, one snapshot's items, the diff of two, and exports with their progress.
 */

import { ChevronLeft, ChevronRight, Download, Eye, FileArchive, GitCompare, Plus, X } from "lucide-preact";
import { useEffect, useRef, useState } from "preact/hooks";
import { type ApiError, api, toApiError, uuid } from "../api/client";
import type {
  ApiLabel,
  FilterDocument,
  Snapshot,
  SnapshotDiff,
  SnapshotExport,
  SnapshotExportFormat,
  SnapshotItem,
  SnapshotPreview,
  SnapshotSelection,
  SplitCounts,
  SplitName,
} from "../api/types";
import { FormatChecklist, PageState, ProgressBar, Spinner, formatBytes } from "../components/ui";
import { notify } from "../state/notify";
import { parseNumber } from "./filterModel";
import { type Pager, currentCursor, firstPage, nextPage, previousPage } from "./pager";
import { SPLITS, checkRatios } from "./ratios";

export const EXPORT_FORMATS: Array<{ value: SnapshotExportFormat; text: string; hint: string }> = [
  { value: "nnunet", text: "nnU-Net v2", hint: "imagesTr/labelsTr NIfTI, dataset.json, splits_final.json" },
  { value: "monai", text: "MONAI datalist", hint: "NIfTI images and labels with a datalist JSON per split" },
  { value: "seg", text: "DICOM SEG", hint: "one DICOM Segmentation object per case" },
  { value: "coco", text: "COCO", hint: "JSON with RLE masks per slice, one file per split" },
];

const SPLIT_TEXT: Record<SplitName, string> = { train: "Train", val: "Validation", test: "Test" };
const shortHash = (h: string) => h.slice(0, 12);

function ErrorLine(props: { error: ApiError | null; testid?: string }) {
  if (!props.error) return null;
  return (
    <p class="form-error" role="alert" data-testid={props.testid}>
      <strong class="mono">{props.error.code}</strong>: {props.error.message}
    </p>
  );
}

export function SplitTable(props: { counts: SplitCounts; labels: Array<{ value: number; name: string }>; testid?: string }) {
  const total = (row: Record<SplitName, number>) => SPLITS.reduce((n, s) => n + (row[s] ?? 0), 0);
  const name = (value: string) => props.labels.find((l) => String(l.value) === value)?.name ?? `Label ${value}`;
  return (
    <table class="table table--dense split-table" data-testid={props.testid} aria-label="Cases per split">
      <thead>
        <tr>
          <th />
          {SPLITS.map((s) => (
            <th key={s} class="num">
              {SPLIT_TEXT[s]}
            </th>
          ))}
          <th class="num">Total</th>
        </tr>
      </thead>
      <tbody>
        <tr data-row="cases">
          <td>Cases</td>
          {SPLITS.map((s) => (
            <td key={s} class="num" data-split={s}>
              {props.counts.cases[s] ?? 0}
            </td>
          ))}
          <td class="num">{total(props.counts.cases)}</td>
        </tr>
        <tr data-row="patients">
          <td>Patients</td>
          {SPLITS.map((s) => (
            <td key={s} class="num" data-split={s}>
              {props.counts.patients[s] ?? 0}
            </td>
          ))}
          <td class="num">{total(props.counts.patients)}</td>
        </tr>
        {Object.entries(props.counts.labels).map(([value, row]) => (
          <tr key={value} data-row={`label-${value}`}>
            <td>Cases with {name(value)}</td>
            {SPLITS.map((s) => (
              <td key={s} class="num" data-split={s}>
                {row[s] ?? 0}
              </td>
            ))}
            <td class="num">{total(row)}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

export function SnapshotsPanel(props: {
  slug: string;
  /** The builder's current filter document. */
  filter: () => FilterDocument;
  /** Selected case ids (empty when the results are not cases). */
  selectedCases: number[];
  labels: ApiLabel[];
}) {
  const [snapshots, setSnapshots] = useState<Snapshot[] | null>(null);
  const [listError, setListError] = useState<ApiError | null>(null);
  const [open, setOpen] = useState<number | null>(null);
  const [compare, setCompare] = useState<number[]>([]);
  const [diff, setDiff] = useState<SnapshotDiff | null>(null);
  const [diffError, setDiffError] = useState<ApiError | null>(null);
  const reload = async () => {
    try {
      setSnapshots(await api.curation.snapshots(props.slug));
      setListError(null);
    } catch (err) {
      setListError(toApiError(err));
    }
  };
  useEffect(() => {
    void reload();
  }, [props.slug]);
  const runDiff = async () => {
    const [a, b] = [...compare].sort((x, y) => x - y);
    if (a === undefined || b === undefined) return;
    try {
      setDiff(await api.curation.diff(props.slug, a, b));
      setDiffError(null);
    } catch (err) {
      setDiffError(toApiError(err));
    }
  };
  return (
    <div class="snapshots">
      <NewSnapshot
        slug={props.slug}
        filter={props.filter}
        selectedCases={props.selectedCases}
        labels={props.labels}
        knownIds={(snapshots ?? []).map((x) => x.id)}
        onCreated={(s) => {
          void reload();
          setOpen(s.id);
        }}
      />
      <section class="panel" aria-labelledby="snapshots-title">
        <div class="panel__header">
          <h2 id="snapshots-title">Snapshots</h2>
          <button class="button button--small" disabled={compare.length !== 2} onClick={() => void runDiff()}>
            <GitCompare size={14} /> Compare the two checked
          </button>
        </div>
        <ErrorLine error={listError} />
        {snapshots === null && !listError && <PageState kind="loading">Loading snapshots…</PageState>}
        {snapshots && snapshots.length === 0 && <p class="muted small">No snapshot yet: preview a split above and create one.</p>}
        {snapshots && snapshots.length > 0 && (
          <table class="table table--dense" data-testid="snapshot-table">
            <thead>
              <tr>
                <th>Compare</th>
                <th>Name</th>
                <th>Hash</th>
                <th class="num">Cases</th>
                <th class="num">Train / val / test</th>
                <th>Created</th>
                <th />
              </tr>
            </thead>
            <tbody>
              {snapshots.map((s) => (
                <tr key={s.id} data-id={s.id} class={open === s.id ? "row--selected" : ""}>
                  <td>
                    <input
                      type="checkbox"
                      aria-label={`Compare ${s.name} v${s.version}`}
                      checked={compare.includes(s.id)}
                      onChange={(e) =>
                        setCompare(e.currentTarget.checked ? [...compare, s.id].slice(-2) : compare.filter((id) => id !== s.id))
                      }
                    />
                  </td>
                  <td>
                    {s.name} <span class="badge">v{s.version}</span>
                  </td>
                  <td class="mono small" title={s.content_hash}>
                    {shortHash(s.content_hash)}
                  </td>
                  <td class="num">{s.case_count}</td>
                  <td class="num">{SPLITS.map((x) => s.split_counts.cases?.[x] ?? 0).join(" / ")}</td>
                  <td class="small">
                    {new Date(s.created_at).toLocaleString()} · {s.created_by}
                  </td>
                  <td class="table__actions">
                    <button class="button button--small" onClick={() => setOpen(open === s.id ? null : s.id)} aria-label={`${open === s.id ? "Close" : "Open"} ${s.name} v${s.version}`}>
                      <Eye size={14} /> {open === s.id ? "Close" : "Open"}
                    </button>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
        <ErrorLine error={diffError} />
        {diff && <DiffView diff={diff} onClose={() => setDiff(null)} />}
      </section>
      {open !== null && snapshots?.find((s) => s.id === open) && (
        <SnapshotDetail key={open} slug={props.slug} snapshot={snapshots.find((s) => s.id === open)!} labels={props.labels} onClose={() => setOpen(null)} />
      )}
    </div>
  );
}

function NewSnapshot(props: {
  slug: string;
  filter: () => FilterDocument;
  selectedCases: number[];
  labels: ApiLabel[];
  /** Snapshots listed already: creating identical content returns one of them (200, not 201). */
  knownIds: number[];
  onCreated: (s: Snapshot) => void;
}) {
  const [source, setSource] = useState<"filter" | "selection">("filter");
  const [name, setName] = useState("");
  const [description, setDescription] = useState("");
  const [seed, setSeed] = useState("0");
  const [ratios, setRatios] = useState<Record<SplitName, string>>({ train: "0.8", val: "0.1", test: "0.1" });
  const [includeFlagged, setIncludeFlagged] = useState(false);
  const [preview, setPreview] = useState<SnapshotPreview | null>(null);
  const [error, setError] = useState<ApiError | null>(null);
  const [busy, setBusy] = useState<"preview" | "create" | null>(null);
  const check = checkRatios(ratios);
  const useSelection = source === "selection" && props.selectedCases.length > 0;

  const selection = (): SnapshotSelection => ({
    ...(useSelection ? { case_ids: props.selectedCases } : { filter: props.filter() }),
    include_flagged: includeFlagged,
    split: check.ratios,
    // Text that is not a number goes as it is: the backend's 400 names the field.
    seed: (parseNumber(seed) ?? 0) as number,
  });
  const runPreview = async () => {
    setBusy("preview");
    setError(null);
    try {
      setPreview(await api.curation.preview(props.slug, selection()));
    } catch (err) {
      setPreview(null);
      setError(toApiError(err));
    } finally {
      setBusy(null);
    }
  };
  const create = async () => {
    setBusy("create");
    setError(null);
    try {
      const snapshot = await api.curation.createSnapshot(props.slug, { ...selection(), name: name.trim(), description }, uuid());
      const fresh = !props.knownIds.includes(snapshot.id);
      notify(
        "success",
        fresh
          ? `Snapshot ${snapshot.name} v${snapshot.version} created: ${snapshot.case_count} cases.`
          : `The same content exists already: snapshot ${snapshot.name} v${snapshot.version}.`,
      );
      props.onCreated(snapshot);
    } catch (err) {
      setError(toApiError(err));
    } finally {
      setBusy(null);
    }
  };
  const schema = preview?.label_schema ?? props.labels;
  const crossSplit = preview?.duplicates.pairs.filter((p) => p.cross_split) ?? [];
  return (
    <section class="panel" aria-labelledby="new-snapshot-title">
      <div class="panel__header">
        <h2 id="new-snapshot-title">New snapshot</h2>
      </div>
      <p class="muted small">
        A snapshot freezes the selected cases with their exact annotation versions and a train/validation/test split grouped by patient and
        stratified by label. Flagged cases stay out unless included.
      </p>
      <div class="snapshot-form">
        <fieldset class="fieldset snapshot-form__source">
          <legend>Cases</legend>
          <label class="check-row__item">
            <input type="radio" name="snapshot-source" checked={source === "filter"} onChange={() => setSource("filter")} />
            Cases matching the current filter
          </label>
          <label class="check-row__item">
            <input
              type="radio"
              name="snapshot-source"
              checked={source === "selection"}
              disabled={props.selectedCases.length === 0}
              onChange={() => setSource("selection")}
            />
            The {props.selectedCases.length} selected case{props.selectedCases.length === 1 ? "" : "s"}
          </label>
        </fieldset>
        <label class="field">
          Name
          <input class="input" aria-label="Snapshot name" placeholder="e.g. liver-train" value={name} onInput={(e) => setName(e.currentTarget.value)} />
        </label>
        <label class="field snapshot-form__wide">
          Description
          <input class="input" aria-label="Snapshot description" value={description} onInput={(e) => setDescription(e.currentTarget.value)} />
        </label>
        <label class="field">
          Seed
          <input class="input input--number" aria-label="Seed" inputMode="numeric" value={seed} onInput={(e) => setSeed(e.currentTarget.value)} />
        </label>
        {SPLITS.map((s) => (
          <label key={s} class="field">
            {SPLIT_TEXT[s]}
            <input
              class="input input--number"
              aria-label={`${SPLIT_TEXT[s]} ratio`}
              inputMode="decimal"
              value={ratios[s]}
              onInput={(e) => setRatios({ ...ratios, [s]: e.currentTarget.value })}
            />
          </label>
        ))}
        <label class="checkbox checkbox--inline snapshot-form__flagged">
          <input type="checkbox" checked={includeFlagged} onChange={(e) => setIncludeFlagged(e.currentTarget.checked)} />
          <span>Include flagged cases</span>
        </label>
      </div>
      <p class={`small ${check.error ? "ratio-error" : "muted"}`} data-testid="ratio-sum" role={check.error ? "alert" : undefined}>
        {check.error ?? `Ratios sum to ${check.sum}.`}
      </p>
      <div class="actions">
        <button class="button" onClick={() => void runPreview()} disabled={busy !== null || check.error !== null}>
          {busy === "preview" ? <Spinner size={14} /> : <Eye size={16} />} Preview
        </button>
        <button class="button button--primary" onClick={() => void create()} disabled={busy !== null || check.error !== null || !name.trim()}>
          {busy === "create" ? <Spinner size={14} /> : <Plus size={16} />} Create snapshot
        </button>
      </div>
      <ErrorLine error={error} testid="snapshot-error" />
      {preview && (
        <div class="preview" data-testid="split-preview">
          <p class="small">
            <strong>{preview.cases}</strong> case{preview.cases === 1 ? "" : "s"} · hash <span class="mono">{shortHash(preview.content_hash)}</span>
            {preview.signed_only ? " · signed annotations only" : ""}
            {preview.flagged_excluded_count > 0 && ` · ${preview.flagged_excluded_count} flagged case(s) left out`}
          </p>
          {preview.existing_snapshot_id !== null && (
            <p class="status status--info">Identical to an existing snapshot (id {preview.existing_snapshot_id}): creating returns that one.</p>
          )}
          {preview.problem && (
            <p class="form-error" data-testid="preview-problem">
              <strong class="mono">{preview.problem.code}</strong>: {preview.problem.message}
              {typeof preview.problem.extra.count === "number" ? ` (${preview.problem.extra.count} cases)` : ""}
            </p>
          )}
          <SplitTable counts={preview.split_counts} labels={schema} testid="preview-splits" />
          {crossSplit.length > 0 && (
            <p class="status status--warn">
              {crossSplit.length} duplicate pair{crossSplit.length === 1 ? "" : "s"} fall in different splits (series{" "}
              {crossSplit
                .slice(0, 5)
                .map((p) => `${p.series_a}↔${p.series_b}`)
                .join(", ")}
              ).
            </p>
          )}
        </div>
      )}
    </section>
  );
}

function DiffView(props: { diff: SnapshotDiff; onClose: () => void }) {
  const d = props.diff;
  const list = (ids: number[]) => (ids.length === 0 ? "—" : ids.slice(0, 50).join(", ") + (ids.length > 50 ? ` … (${ids.length})` : ""));
  return (
    <div class="diff" data-testid="snapshot-diff">
      <div class="panel__header">
        <h3>
          {d.from.name} v{d.from.version} → {d.to.name} v{d.to.version}
        </h3>
        <button class="icon-button icon-button--small" aria-label="Close the comparison" onClick={props.onClose}>
          <X size={14} />
        </button>
      </div>
      {d.identical ? (
        <p class="status status--ok">Identical content (same hash).</p>
      ) : (
        <dl class="stats">
          <div>
            <dt>Added</dt>
            <dd>{d.added.length}</dd>
          </div>
          <div>
            <dt>Removed</dt>
            <dd>{d.removed.length}</dd>
          </div>
          <div>
            <dt>Changed annotation</dt>
            <dd>{d.changed.length}</dd>
          </div>
          <div>
            <dt>Moved split</dt>
            <dd>{d.moved.length}</dd>
          </div>
        </dl>
      )}
      <ul class="small diff__lists">
        <li>Added cases: {list(d.added)}</li>
        <li>Removed cases: {list(d.removed)}</li>
        <li>Changed: {d.changed.length === 0 ? "—" : d.changed.slice(0, 50).map((c) => `case ${c.case_id} (version ${c.from.version_id} → ${c.to.version_id})`).join(", ")}</li>
        <li>Moved: {d.moved.length === 0 ? "—" : d.moved.slice(0, 50).map((m) => `case ${m.case_id} ${m.from} → ${m.to}`).join(", ")}</li>
        <li>Unchanged: {d.unchanged}</li>
        {d.label_schema_changed && <li>The label schema changed.</li>}
      </ul>
    </div>
  );
}

function SnapshotDetail(props: { slug: string; snapshot: Snapshot; labels: ApiLabel[]; onClose: () => void }) {
  const s = props.snapshot;
  const [split, setSplit] = useState<SplitName | "">("");
  const [pager, setPager] = useState<Pager>(firstPage());
  const [page, setPage] = useState<{ items: SnapshotItem[]; next_cursor: string | null } | null>(null);
  const [error, setError] = useState<ApiError | null>(null);
  useEffect(() => {
    let live = true;
    const cursor = currentCursor(pager);
    api.curation
      .snapshotItems(props.slug, s.id, { ...(split ? { split } : {}), ...(cursor ? { cursor } : {}), limit: 50 })
      .then(
        (p) => live && (setPage(p), setError(null)),
        (err: unknown) => live && setError(toApiError(err)),
      );
    return () => {
      live = false;
    };
  }, [props.slug, s.id, split, pager]);
  const schema = s.label_schema.length ? s.label_schema : props.labels;
  const labelName = (v: number) => schema.find((l) => l.value === v)?.name ?? `Label ${v}`;
  return (
    <section class="panel" aria-labelledby="snapshot-detail-title" data-testid="snapshot-detail">
      <div class="panel__header">
        <h2 id="snapshot-detail-title">
          {s.name} <span class="badge">v{s.version}</span>
        </h2>
        <button class="icon-button" aria-label="Close the snapshot" onClick={props.onClose}>
          <X size={16} />
        </button>
      </div>
      <p class="small muted">
        {s.case_count} cases · seed {s.seed} · ratios {SPLITS.map((x) => s.ratios[x]).join(" / ")} · hash <span class="mono">{s.content_hash}</span>
        {s.description ? ` · ${s.description}` : ""}
      </p>
      <SplitTable counts={s.split_counts} labels={schema} testid="snapshot-splits" />
      {s.reader_stats.length > 0 && (
        <table class="table table--dense" aria-label="Readers in this snapshot">
          <thead>
            <tr>
              <th>Reader</th>
              <th class="num">Reads</th>
              <th class="num">Pairs</th>
              <th class="num">Mean Dice</th>
            </tr>
          </thead>
          <tbody>
            {s.reader_stats.map((r) => (
              <tr key={r.reader}>
                <td>{r.reader}</td>
                <td class="num">{r.reads}</td>
                <td class="num">{r.pairs}</td>
                <td class="num">{r.mean_dice?.toFixed(3) ?? "—"}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <Exports slug={props.slug} snapshot={s} />
      <div class="results__bar">
        <h3>Items</h3>
        <span class="results__spacer" />
        <label class="field field--inline small">
          Split
          <select
            class="select"
            aria-label="Items of split"
            value={split}
            onChange={(e) => {
              setSplit(e.currentTarget.value as SplitName | "");
              setPager(firstPage());
            }}
          >
            <option value="">all</option>
            {SPLITS.map((x) => (
              <option key={x} value={x}>
                {SPLIT_TEXT[x]}
              </option>
            ))}
          </select>
        </label>
        <button class="button button--small" disabled={pager.index === 0} onClick={() => setPager(previousPage(pager))}>
          <ChevronLeft size={14} /> Previous
        </button>
        <button class="button button--small" disabled={!page?.next_cursor} onClick={() => page && setPager(nextPage(pager, page.next_cursor))}>
          Next <ChevronRight size={14} />
        </button>
      </div>
      <ErrorLine error={error} />
      {page && (
        <table class="table table--dense" data-testid="snapshot-items">
          <thead>
            <tr>
              <th>Case</th>
              <th>Split</th>
              <th>Patient</th>
              <th>Labels</th>
              <th>Annotation</th>
              <th>Licence</th>
            </tr>
          </thead>
          <tbody>
            {page.items.map((i) => (
              <tr key={i.case_id}>
                <td>Case {i.case_id}</td>
                <td>{SPLIT_TEXT[i.split] ?? i.split}</td>
                <td class="mono small">{i.patient_key.slice(0, 16)}</td>
                <td>{i.labels.map(labelName).join(", ") || "—"}</td>
                <td class="small">
                  #{i.annotation_id} v{String(i.source.version_number ?? "")} ({String(i.source.reference ?? "")})
                </td>
                <td class="small">{i.licence || "—"}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}

const RUNNING = new Set(["queued", "running"]);

function Exports(props: { slug: string; snapshot: Snapshot }) {
  const [formats, setFormats] = useState<Set<SnapshotExportFormat>>(new Set(["nnunet"]));
  const [jobs, setJobs] = useState<SnapshotExport[]>([]);
  const [error, setError] = useState<ApiError | null>(null);
  const [busy, setBusy] = useState(false);
  const timer = useRef<ReturnType<typeof setTimeout> | null>(null);
  const live = useRef(true);
  useEffect(() => {
    live.current = true;
    api.curation.exports(props.slug, props.snapshot.id).then(
      (list) => {
        if (!live.current) return;
        setJobs(list);
        const running = list.find((j) => RUNNING.has(j.state));
        if (running) poll(running.id);
      },
      (err: unknown) => live.current && setError(toApiError(err)),
    );
    return () => {
      live.current = false;
      if (timer.current) clearTimeout(timer.current);
    };
  }, [props.slug, props.snapshot.id]);
  const poll = (id: number) => {
    timer.current = setTimeout(async () => {
      try {
        const job = await api.curation.exportJob(props.slug, props.snapshot.id, id);
        if (!live.current) return;
        setJobs((list) => list.map((j) => (j.id === id ? job : j)));
        if (RUNNING.has(job.state)) poll(id);
        else if (job.state === "done") notify("success", `Export ${job.id} is ready to download.`);
      } catch (err) {
        if (live.current) setError(toApiError(err));
      }
    }, 1000);
  };
  const start = async () => {
    setBusy(true);
    setError(null);
    try {
      const job = await api.curation.startExport(props.slug, props.snapshot.id, [...formats], uuid());
      setJobs((list) => [job, ...list.filter((j) => j.id !== job.id)]);
      poll(job.id);
    } catch (err) {
      setError(toApiError(err));
    } finally {
      setBusy(false);
    }
  };
  const formatText = (f: string) => EXPORT_FORMATS.find((x) => x.value === f)?.text ?? f;
  return (
    <div class="exports" data-testid="snapshot-exports">
      <h3>Export</h3>
      <FormatChecklist options={EXPORT_FORMATS} selected={formats} onChange={setFormats} />
      <div class="actions">
        <button class="button" onClick={() => void start()} disabled={busy || formats.size === 0}>
          {busy ? <Spinner size={14} /> : <FileArchive size={16} />} Start export
        </button>
      </div>
      <ErrorLine error={error} />
      {jobs.length > 0 && (
        <ul class="export-jobs" aria-label="Exports">
          {jobs.map((j) => (
            <li key={j.id} data-testid="export-job" data-state={j.state}>
              <span>
                Export {j.id} · {j.formats.map(formatText).join(", ")} ·{" "}
                <span class={`status ${j.state === "done" ? "status--ok" : j.state === "failed" ? "" : "status--info"}`}>{j.state}</span>
              </span>
              {RUNNING.has(j.state) && <ProgressBar value={j.done} max={j.total || 1} label={`Export ${j.id} progress`} indeterminate={j.total === 0} />}
              {j.state === "done" && (
                <a class="button button--small button--primary" href={api.curation.exportUrl(props.slug, props.snapshot.id, j.id)} download>
                  <Download size={14} /> Download export {j.id}
                  {j.size ? ` (${formatBytes(j.size)})` : ""}
                </a>
              )}
              {j.state === "failed" && <span class="form-error">The export failed ({j.error_code || "unknown error"}).</span>}
            </li>
          ))}
        </ul>
      )}
    </div>
  );
}
