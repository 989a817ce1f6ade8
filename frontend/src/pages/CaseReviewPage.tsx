/**
 * Reviewing one case: the readers' masks side by side and overlaid on a slice, agreement per label
 * (Dice, IoU, HD95, volumes), sending a read back with a comment, building the consensus (STAPLE,
 * majority or a pick), signing it with the password, and exporting it.
 */

import { ChevronLeft, ChevronRight, Download, ExternalLink, GitMerge, PenLine, ShieldCheck, Undo2 } from "lucide-preact";
import { useEffect, useMemo, useRef, useState } from "preact/hooks";
import { ApiError, api, saveDownload, toApiError, uuid } from "../api/client";
import type { Annotation, AnnotationDetail, CaseReview, ConsensusMethod, ExportFormat, FramePixels, SeriesDetail, Task } from "../api/types";
import { Modal } from "../components/Modal";
import { ProjectHeader } from "../components/ProjectNav";
import { PageState, Spinner } from "../components/ui";
import { useAsync } from "../components/useAsync";
import { type Label, loadLabelSchema } from "../labels";
import { CONSENSUS_COLOR, READER_COLORS, blendLabels, drawOutline, labelColors, pack } from "../review/compose";
import { notify } from "../state/notify";
import { hexToRgb } from "../labels";
import { decodeLabels } from "../viewer/rle";
import { CT_PRESETS, renderWindowed, valueRange, windowForRange } from "../viewer/windowing";
import { FORMATS } from "./ReviewQueuePage";
import { CONSENSUS_METHODS } from "./SettingsPage";
import { TASK_STATUS } from "./QueuePage";

interface Loaded {
  review: CaseReview;
  series: SeriesDetail;
  schema: Label[];
  details: Record<number, AnnotationDetail>;
  defaultMethod: ConsensusMethod;
}

async function loadCase(slug: string, caseId: number): Promise<Loaded> {
  const [review, schema, policy] = await Promise.all([
    api.review.case(slug, caseId),
    loadLabelSchema(slug),
    api.policy.get(slug).catch(() => null),
  ]);
  const [series, ...details] = await Promise.all([
    api.imaging.series(slug, review.case.series_id),
    ...review.annotations.map((a) => api.annotations.get(slug, a.id)),
  ]);
  return {
    review,
    series: series as SeriesDetail,
    schema,
    details: Object.fromEntries(details.map((d) => [(d as AnnotationDetail).id, d as AnnotationDetail])),
    defaultMethod: policy?.consensus_method ?? "staple",
  };
}

const fmt = (v: number | null | undefined, digits = 3) => (v === null || v === undefined ? "—" : v.toFixed(digits));

export function CaseReviewPage(props: { params?: Record<string, string> }) {
  const slug = props.params?.slug ?? "";
  const caseId = Number(props.params?.caseId);
  const project = useAsync(() => api.projects.get(slug), [slug]);
  const data = useAsync(() => loadCase(slug, caseId), [slug, caseId]);
  const [signing, setSigning] = useState(false);
  const [returning, setReturning] = useState<Task | null>(null);

  const reads = data.status === "ready" ? data.data.review.annotations.filter((a) => a.kind === "read") : [];
  const consensus = data.status === "ready" ? (data.data.review.annotations.find((a) => a.kind === "consensus") ?? null) : null;

  return (
    <div class="page page--wide">
      <ProjectHeader
        slug={slug}
        project={project.status === "ready" ? project.data : null}
        here={`Review · case ${Number.isInteger(caseId) ? caseId : "?"}`}
      />
      {data.status === "loading" && <PageState kind="loading">Loading the case, its reads and their agreement…</PageState>}
      {data.status === "error" && (
        <PageState kind="error">
          {data.error.status === 404 ? "This case is not in review, or you cannot review it." : data.error.message}{" "}
          <a href={`/projects/${slug}/review`}>Back to the review queue</a>
        </PageState>
      )}
      {data.status === "ready" && (
        <>
          <div class="case-summary">
            <span class={`status status--${data.data.review.case.status === "signed" ? "ok" : "info"}`} data-testid="case-status">
              {data.data.review.case.status === "in_review" ? "In review" : data.data.review.case.status === "signed" ? "Signed" : "Reading"}
            </span>
            <span class="muted">
              {data.data.series.modality} · {data.data.series.columns}×{data.data.series.rows}×{data.data.series.frame_count} ·{" "}
              {reads.length} submitted read{reads.length === 1 ? "" : "s"}
            </span>
          </div>
          <div class="review-grid">
            <div class="review-grid__main">
              <Agreement data={data.data} reads={reads} />
              <Compare slug={slug} data={data.data} reads={reads} consensus={consensus} />
            </div>
            <div class="review-grid__side">
              <Readers slug={slug} data={data.data} onReturn={setReturning} />
              <Consensus
                slug={slug}
                data={data.data}
                reads={reads}
                consensus={consensus}
                onChanged={data.reload}
                onSign={() => setSigning(true)}
              />
              <Exports slug={slug} caseId={caseId} consensus={consensus} />
            </div>
          </div>
          {signing && consensus && (
            <SignDialog
              slug={slug}
              annotation={consensus}
              onClose={() => setSigning(false)}
              onSigned={() => {
                setSigning(false);
                data.reload();
              }}
            />
          )}
          {returning && (
            <ReturnDialog
              slug={slug}
              caseId={caseId}
              task={returning}
              onClose={() => setReturning(null)}
              onDone={() => {
                setReturning(null);
                data.reload();
              }}
            />
          )}
        </>
      )}
    </div>
  );
}

// ---- side by side and overlaid -------------------------------------------------------------------

function initialSlice(details: AnnotationDetail[], series: SeriesDetail): number {
  // The middle of the slices anyone annotated, else the middle of the series.
  const zs = new Set<number>();
  for (const d of details) {
    for (const fid of Object.keys(d.frames)) {
      const z = series.frames.findIndex((f) => f.id === Number(fid));
      if (z >= 0 && d.frames[fid]!.labels.length) zs.add(z);
    }
  }
  const sorted = [...zs].sort((a, b) => a - b);
  return sorted.length ? sorted[Math.floor((sorted.length - 1) / 2)]! : Math.floor((series.frames.length - 1) / 2);
}

function Compare(props: { slug: string; data: Loaded; reads: Annotation[]; consensus: Annotation | null }) {
  const { series, details, schema } = props.data;
  const shown = useMemo(() => (props.consensus ? [...props.reads, props.consensus] : props.reads), [props.reads, props.consensus]);
  const [z, setZ] = useState(() => initialSlice(Object.values(details), series));
  const [slice, setSlice] = useState<{ z: number; px: FramePixels; maps: Record<number, Uint8Array | null> } | null>(null);
  const [error, setError] = useState<string | null>(null);
  const cache = useRef(new Map<string, Uint8Array | null>());
  const pixels = useRef(new Map<number, FramePixels>());
  const heads = shown.map((a) => `${a.id}:${a.head}`).join(",");

  useEffect(() => {
    let live = true;
    const frame = series.frames[z];
    if (!frame) return;
    (async () => {
      let px = pixels.current.get(z);
      if (!px) {
        px = await api.imaging.framePixels(props.slug, frame.instance_id, frame.frame_index);
        pixels.current.set(z, px);
      }
      const maps: Record<number, Uint8Array | null> = {};
      await Promise.all(
        shown.map(async (a) => {
          const key = `${a.id}:${a.head}:${frame.id}`;
          if (!cache.current.has(key)) {
            const info = details[a.id]?.frames[String(frame.id)];
            if (!info || info.labels.length === 0) cache.current.set(key, null);
            else {
              const f = await api.annotations.frame(props.slug, a.id, frame.id);
              cache.current.set(key, decodeLabels(f.mask));
            }
          }
          maps[a.id] = cache.current.get(key) ?? null;
        }),
      );
      if (live) {
        setSlice({ z, px, maps });
        setError(null);
      }
    })().catch((err: unknown) => live && setError(toApiError(err).message));
    return () => {
      live = false;
    };
  }, [z, heads]);

  const base = useMemo(() => {
    if (!slice) return null;
    const out = new Uint32Array(slice.px.rows * slice.px.columns);
    const isCt = slice.px.modality === "CT";
    const fp = slice.px.presets[0];
    const wl = isCt ? CT_PRESETS[0]! : fp ? { center: fp.center, width: fp.width } : windowForRange(valueRange(slice.px.data).min, valueRange(slice.px.data).max);
    renderWindowed(slice.px.data, slice.px.samples, out, wl, slice.px.photometric === "MONOCHROME1");
    return out;
  }, [slice]);

  const colors = useMemo(() => labelColors(schema), [schema]);
  const readerColor = (a: Annotation, i: number) => (a.kind === "consensus" ? CONSENSUS_COLOR : READER_COLORS[i % READER_COLORS.length]!);

  const panels =
    slice && base
      ? shown.map((a) => ({ a, pixels: blendLabels(base, slice.maps[a.id] ?? null, slice.px.columns, slice.px.rows, colors) }))
      : [];
  const overlay = useMemo(() => {
    if (!slice || !base) return null;
    const out = base.slice();
    shown.forEach((a, i) => drawOutline(out, slice.maps[a.id] ?? null, slice.px.columns, slice.px.rows, pack(...hexToRgb(readerColor(a, i))), 2));
    return out;
  }, [slice, base]);

  const count = series.frames.length;
  return (
    <section class="panel" aria-labelledby="compare-title">
      <div class="panel__header">
        <h2 id="compare-title">Reads overlaid and side by side</h2>
        <div class="stepper">
          <button class="icon-button" aria-label="Previous slice" onClick={() => setZ((v) => Math.max(0, v - 1))}>
            <ChevronLeft size={18} />
          </button>
          <input
            type="range"
            min={1}
            max={count}
            value={z + 1}
            aria-label="Review slice"
            onInput={(e) => setZ(Number(e.currentTarget.value) - 1)}
          />
          <button class="icon-button" aria-label="Next slice" onClick={() => setZ((v) => Math.min(count - 1, v + 1))}>
            <ChevronRight size={18} />
          </button>
          <span class="mono small" data-testid="review-slice">
            {z + 1} / {count}
          </span>
        </div>
      </div>
      {error && <p class="form-error">The slice could not be loaded: {error}</p>}
      {shown.length === 0 && <p class="muted">No submitted reads to compare yet.</p>}
      <div class="compare" data-testid="compare">
        {slice && overlay && shown.length > 0 && (
          <figure class="compare__item compare__item--overlay">
            <PixelCanvas pixels={overlay} cols={slice.px.columns} rows={slice.px.rows} label={`All reads overlaid on slice ${z + 1}`} />
            <figcaption>
              Overlay
              <span class="legend">
                {shown.map((a, i) => (
                  <span key={a.id} class="legend__item">
                    <span class="swatch swatch--line" style={{ background: readerColor(a, i) }} />
                    {a.kind === "consensus" ? "consensus" : a.author}
                  </span>
                ))}
              </span>
            </figcaption>
          </figure>
        )}
        {slice &&
          panels.map(({ a, pixels: px }, i) => (
            <figure key={a.id} class="compare__item">
              <PixelCanvas pixels={px} cols={slice.px.columns} rows={slice.px.rows} label={`${a.author}'s ${a.kind} on slice ${z + 1}`} />
              <figcaption>
                <span class="swatch" style={{ background: readerColor(a, i) }} />
                {a.kind === "consensus" ? "Consensus" : a.author} <span class="muted">v{a.head}</span>
                <a class="compare__open" href={`/projects/${props.slug}/series/${series.id}?annotation=${a.id}`} title="Open in the viewer">
                  <ExternalLink size={13} />
                </a>
              </figcaption>
            </figure>
          ))}
        {!slice && shown.length > 0 && !error && (
          <div class="compare__loading">
            <Spinner /> Loading slice {z + 1}…
          </div>
        )}
      </div>
    </section>
  );
}

function PixelCanvas(props: { pixels: Uint32Array; cols: number; rows: number; label: string }) {
  const ref = useRef<HTMLCanvasElement>(null);
  useEffect(() => {
    const c = ref.current;
    if (!c) return;
    c.width = props.cols;
    c.height = props.rows;
    const ctx = c.getContext("2d");
    if (!ctx) return;
    const img = ctx.createImageData(props.cols, props.rows);
    new Uint32Array(img.data.buffer).set(props.pixels);
    ctx.putImageData(img, 0, 0);
  }, [props.pixels]);
  return <canvas ref={ref} class="compare__canvas" role="img" aria-label={props.label} />;
}

// ---- agreement -----------------------------------------------------------------------------------

function Agreement(props: { data: Loaded; reads: Annotation[] }) {
  const { agreement } = props.data.review;
  const name = (id: number) => agreement.readers.find((r) => r.annotation_id === id)?.reader ?? `#${id}`;
  const dice = (v: number | null) => (v === null ? "" : v >= 0.9 ? "good" : v >= 0.7 ? "fair" : "poor");
  return (
    <section class="panel" aria-labelledby="agreement-title">
      <div class="panel__header">
        <h2 id="agreement-title">Agreement between readers</h2>
        <span class="muted small">per label, over the whole volume</span>
      </div>
      {props.reads.length < 2 && <p class="muted">Agreement needs two or more submitted reads.</p>}
      {props.reads.length >= 2 &&
        agreement.labels.map((l) => (
          <div key={l.label} class="agreement">
            <h3 class="agreement__label">
              <span class="swatch" style={{ background: props.data.schema.find((s) => s.id === l.label)?.color ?? "#fff" }} />
              {l.name} <span class="muted small">value {l.label}</span>
            </h3>
            <table class="table table--dense" data-testid={`agreement-${l.label}`}>
              <thead>
                <tr>
                  <th>Readers</th>
                  <th class="num">Dice</th>
                  <th class="num">IoU</th>
                  <th class="num">HD95 (mm)</th>
                  <th class="num">Volume A (ml)</th>
                  <th class="num">Volume B (ml)</th>
                  <th class="num">Δ volume (ml)</th>
                </tr>
              </thead>
              <tbody>
                {l.pairs.map((p) => (
                  <tr key={`${p.a}-${p.b}`}>
                    <td>
                      {name(p.a)} vs {name(p.b)}
                    </td>
                    <td class={`num metric metric--${dice(p.dice)}`}>{fmt(p.dice)}</td>
                    <td class="num">{fmt(p.iou)}</td>
                    <td class="num">{fmt(p.hd95_mm, 1)}</td>
                    <td class="num">{fmt(p.volume_a_ml, 1)}</td>
                    <td class="num">{fmt(p.volume_b_ml, 1)}</td>
                    <td class="num">{fmt(p.volume_diff_ml, 1)}</td>
                  </tr>
                ))}
                {l.pairs.length > 1 && (
                  <tr class="table__total">
                    <td>Mean</td>
                    <td class="num">{fmt(l.mean.dice)}</td>
                    <td class="num">{fmt(l.mean.iou)}</td>
                    <td class="num">{fmt(l.mean.hd95_mm, 1)}</td>
                    <td />
                    <td />
                    <td class="num">{fmt(l.mean.volume_diff_ml, 1)}</td>
                  </tr>
                )}
              </tbody>
            </table>
          </div>
        ))}
    </section>
  );
}

// ---- readers, consensus, sign-off, export --------------------------------------------------------

function Readers(props: { slug: string; data: Loaded; onReturn: (t: Task) => void }) {
  const { tasks, annotations } = props.data.review;
  return (
    <section class="panel" aria-labelledby="readers-title">
      <div class="panel__header">
        <h2 id="readers-title">Reads</h2>
      </div>
      <ul class="read-list">
        {tasks.map((t) => {
          const a = annotations.find((x) => x.task_id === t.id);
          const st = TASK_STATUS[t.status];
          return (
            <li key={t.id} class="read-list__item">
              <div>
                <div class="read-list__who">
                  #{t.slot} {t.reader ?? <span class="muted">unclaimed</span>}
                </div>
                <div class="muted small">
                  <span class={`status status--${st.tone}`}>{st.text}</span>
                  {a ? ` · version ${a.head}` : ""}
                </div>
              </div>
              <div class="read-list__actions">
                {a && (
                  <a class="button button--small button--ghost" href={`/projects/${props.slug}/series/${props.data.series.id}?annotation=${a.id}`}>
                    View
                  </a>
                )}
                {t.status === "submitted" && props.data.review.case.status !== "signed" && (
                  <button class="button button--small" onClick={() => props.onReturn(t)} title="Send the read back to its reader with a comment">
                    <Undo2 size={14} /> Return
                  </button>
                )}
              </div>
            </li>
          );
        })}
      </ul>
    </section>
  );
}

function Consensus(props: {
  slug: string;
  data: Loaded;
  reads: Annotation[];
  consensus: Annotation | null;
  onChanged: () => void;
  onSign: () => void;
}) {
  const [method, setMethod] = useState<ConsensusMethod>(props.data.defaultMethod);
  const [pick, setPick] = useState<number | null>(props.reads[0]?.id ?? null);
  const [busy, setBusy] = useState(false);
  const c = props.consensus;
  const status = props.data.review.case.status;
  const signed = c !== null && c.signed_version !== null && c.signed_version === c.head;
  const build = async () => {
    setBusy(true);
    try {
      const body: { method: ConsensusMethod; annotation_id?: number } = { method };
      if (method === "reviewer_pick" && pick !== null) body.annotation_id = pick;
      const result = await api.review.consensus(props.slug, props.data.review.case.id, body, uuid());
      notify("success", `Consensus built (${CONSENSUS_METHODS.find((m) => m.value === method)?.text.split(" (")[0]}): version ${result.head}.`);
      props.onChanged();
    } catch (err) {
      notify("error", `Consensus not built: ${toApiError(err).message}`);
    } finally {
      setBusy(false);
    }
  };
  return (
    <section class="panel" aria-labelledby="consensus-title">
      <div class="panel__header">
        <h2 id="consensus-title">Consensus</h2>
      </div>
      {status === "in_review" && (
        <>
          <label class="field">
            <span>Method</span>
            <select class="select select--wide" aria-label="Consensus method" value={method} onChange={(e) => setMethod(e.currentTarget.value as ConsensusMethod)}>
              {CONSENSUS_METHODS.map((m) => (
                <option key={m.value} value={m.value}>
                  {m.text}
                </option>
              ))}
            </select>
          </label>
          {method === "reviewer_pick" && (
            <label class="field">
              <span>Read to adopt</span>
              <select class="select select--wide" aria-label="Read to adopt" value={pick ?? ""} onChange={(e) => setPick(Number(e.currentTarget.value))}>
                {props.reads.map((a) => (
                  <option key={a.id} value={a.id}>
                    {a.author} (version {a.head})
                  </option>
                ))}
              </select>
            </label>
          )}
          <button class="button button--block" onClick={() => void build()} disabled={busy || props.reads.length === 0}>
            {busy ? <Spinner size={14} /> : <GitMerge size={16} />} {c ? "Rebuild consensus" : "Build consensus"}
          </button>
        </>
      )}
      {c ? (
        <div class={`consensus-state${status === "in_review" ? " consensus-state--ruled" : ""}`} data-testid="consensus-state">
          <div>
            Consensus <strong>version {c.head}</strong>
            {signed ? (
              <span class="status status--ok status--inline">
                <ShieldCheck size={13} /> Signed
              </span>
            ) : c.signed_version ? (
              <span class="status status--warn status--inline">amended after sign-off (v{c.signed_version})</span>
            ) : (
              <span class="status status--neutral status--inline">not signed</span>
            )}
          </div>
          <div class="actions actions--tight">
            <a class="button button--small" href={`/projects/${props.slug}/series/${props.data.series.id}?annotation=${c.id}`}>
              <PenLine size={14} /> Edit in viewer
            </a>
            {!signed && (
              <button class="button button--small button--primary" onClick={props.onSign}>
                <ShieldCheck size={14} /> Sign off…
              </button>
            )}
          </div>
        </div>
      ) : (
        <p class="muted small">No consensus yet. Build one from the submitted reads; you can then correct it in the viewer.</p>
      )}
    </section>
  );
}

function Exports(props: { slug: string; caseId: number; consensus: Annotation | null }) {
  const [busy, setBusy] = useState<ExportFormat | null>(null);
  const [problem, setProblem] = useState<string | null>(null);
  const run = async (format: ExportFormat) => {
    setBusy(format);
    setProblem(null);
    try {
      saveDownload(await api.exports.caseFile(props.slug, props.caseId, format));
    } catch (err) {
      const e = toApiError(err);
      setProblem(
        e.code === "not_signed"
          ? "Not exported: this project requires a sign-off first. Sign the consensus (above), then export."
          : e.code === "nothing_to_export"
            ? "Nothing to export yet: build a consensus (or sign a read) first."
            : `Not exported: ${e.message}`,
      );
    } finally {
      setBusy(null);
    }
  };
  return (
    <section class="panel" aria-labelledby="exports-title">
      <div class="panel__header">
        <h2 id="exports-title">Export</h2>
      </div>
      <div class="export-buttons">
        {FORMATS.map((f) => (
          <button key={f.value} class="button button--small" title={f.hint} onClick={() => void run(f.value)} disabled={busy !== null}>
            {busy === f.value ? <Spinner size={14} /> : <Download size={14} />} {f.text}
          </button>
        ))}
      </div>
      {problem && (
        <p class="form-error" role="alert" data-testid="export-problem">
          {problem}
        </p>
      )}
      {!props.consensus && <p class="muted small">Exports the signed consensus of the case.</p>}
    </section>
  );
}

function SignDialog(props: { slug: string; annotation: Annotation; onClose: () => void; onSigned: () => void }) {
  const [password, setPassword] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const submit = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const s = await api.annotations.signoff(props.slug, props.annotation.id, password);
      notify("success", `Signed version ${s.version} (digest ${s.digest.slice(0, 12)}…).`);
      props.onSigned();
    } catch (err) {
      const x = toApiError(err);
      setError(x instanceof ApiError && x.code === "reauthentication_failed" ? "The password is not correct. Try again." : x.message);
      setPassword("");
    } finally {
      setBusy(false);
    }
  };
  return (
    <Modal title="Sign off the consensus" onClose={busy ? null : props.onClose} testid="sign-dialog">
      <form onSubmit={(e) => void submit(e)}>
        <div class="modal__body">
          <p>
            You are signing <strong>version {props.annotation.head}</strong> of the consensus of case {props.annotation.case_id}. The
            signature covers the exact masks of this version (their hashes) and is recorded with your name and the time. Later
            edits become a new, unsigned amendment.
          </p>
          <label class="field">
            <span>Your password, to confirm it is you</span>
            <input
              type="password"
              autoComplete="current-password"
              value={password}
              aria-label="Password"
              onInput={(e) => setPassword(e.currentTarget.value)}
              required
            />
          </label>
          {error && (
            <p class="form-error" role="alert">
              {error}
            </p>
          )}
        </div>
        <div class="modal__footer">
          <button type="button" class="button" onClick={props.onClose} disabled={busy}>
            Cancel
          </button>
          <button type="submit" class="button button--primary" disabled={busy || !password}>
            {busy ? <Spinner size={14} /> : <ShieldCheck size={16} />} Sign
          </button>
        </div>
      </form>
    </Modal>
  );
}

function ReturnDialog(props: { slug: string; caseId: number; task: Task; onClose: () => void; onDone: () => void }) {
  const [comment, setComment] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const submit = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    try {
      await api.review.returnToReader(props.slug, props.caseId, props.task.id, comment.trim());
      notify("success", `Read #${props.task.slot} returned to ${props.task.reader}.`);
      props.onDone();
    } catch (err) {
      setError(toApiError(err).message);
    } finally {
      setBusy(false);
    }
  };
  return (
    <Modal title={`Return read #${props.task.slot} to ${props.task.reader ?? "its reader"}`} onClose={props.onClose}>
      <form onSubmit={(e) => void submit(e)}>
        <div class="modal__body">
          <p class="muted small">The read unlocks for its reader, with your comment, and the case goes back to reading.</p>
          <label class="field">
            <span>What should change?</span>
            <textarea class="textarea" rows={4} value={comment} aria-label="Comment" onInput={(e) => setComment(e.currentTarget.value)} required />
          </label>
          {error && <p class="form-error">{error}</p>}
        </div>
        <div class="modal__footer">
          <button type="button" class="button" onClick={props.onClose}>
            Cancel
          </button>
          <button type="submit" class="button button--primary" disabled={busy || !comment.trim()}>
            {busy ? <Spinner size={14} /> : <Undo2 size={14} />} Return to reader
          </button>
        </div>
      </form>
    </Modal>
  );
}
