/** The review queue (reviewers, owners): cases whose reads are all submitted; and the project export. */

import { Download, FileArchive, Scale, ShieldCheck } from "lucide-preact";
import { useEffect, useRef, useState } from "preact/hooks";
import { api, saveDownload, toApiError, uuid } from "../api/client";
import type { ExportFormat, ExportJob } from "../api/types";
import { ProjectHeader, canReview, useProjectRole } from "../components/ProjectNav";
import { FormatChecklist, PageState, ProgressBar, Spinner } from "../components/ui";
import { useAsync } from "../components/useAsync";
import { notify } from "../state/notify";

export const FORMATS: Array<{ value: ExportFormat; text: string; hint: string }> = [
  { value: "seg", text: "DICOM SEG", hint: "one DICOM Segmentation object, SNOMED-coded segments" },
  { value: "nifti", text: "NIfTI", hint: "a label volume" },
  { value: "png", text: "PNG", hint: "one label-map PNG per slice, zipped" },
  { value: "coco", text: "COCO", hint: "JSON with RLE masks" },
];

export function ReviewQueuePage(props: { params?: Record<string, string> }) {
  const slug = props.params?.slug ?? "";
  const role = useProjectRole(slug);
  const data = useAsync(async () => {
    const [project, cases, signed] = await Promise.all([
      api.projects.get(slug),
      api.review.queue(slug),
      api.cases.list(slug, "signed").catch(() => []),
    ]);
    return { project, cases, signed };
  }, [slug]);
  return (
    <div class="page">
      <ProjectHeader slug={slug} project={data.status === "ready" ? data.data.project : null} here="Review" />
      {role !== undefined && !canReview(role) && <PageState kind="error">Only reviewers and owners review cases.</PageState>}
      {data.status === "loading" && <PageState kind="loading">Loading the review queue…</PageState>}
      {data.status === "error" && <PageState kind="error">{data.error.message}</PageState>}
      {data.status === "ready" && (
        <>
          <h2 class="section-title">Waiting for review</h2>
          {data.data.cases.length === 0 ? (
            <p class="muted empty-line" data-testid="review-empty">
              No case is waiting: a case arrives here when all its readers have submitted.
            </p>
          ) : (
            <table class="table" data-testid="review-table">
              <thead>
                <tr>
                  <th>Case</th>
                  <th>Modality</th>
                  <th>Slices</th>
                  <th>Priority</th>
                  <th>Due</th>
                  <th />
                </tr>
              </thead>
              <tbody>
                {data.data.cases.map((c) => (
                  <tr key={c.id}>
                    <td>Case {c.id}</td>
                    <td>
                      <span class="badge badge--flush">{c.modality}</span>
                    </td>
                    <td>{c.frame_count}</td>
                    <td>{c.priority || "—"}</td>
                    <td>{c.due_date ?? "—"}</td>
                    <td class="table__actions">
                      <a class="button button--small button--primary" href={`/projects/${slug}/review/${c.id}`}>
                        <Scale size={14} /> Review
                      </a>
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
          {data.data.signed.length > 0 && (
            <>
              <h2 class="section-title">Signed</h2>
              <table class="table" data-testid="signed-table">
                <thead>
                  <tr>
                    <th>Case</th>
                    <th>Modality</th>
                    <th>Slices</th>
                    <th />
                  </tr>
                </thead>
                <tbody>
                  {data.data.signed.map((c) => (
                    <tr key={c.id}>
                      <td>Case {c.id}</td>
                      <td>
                        <span class="badge badge--flush">{c.modality}</span>
                      </td>
                      <td>{c.frame_count}</td>
                      <td class="table__actions">
                        <a class="button button--small" href={`/projects/${slug}/review/${c.id}`}>
                          <ShieldCheck size={14} /> Open
                        </a>
                      </td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </>
          )}
          <ProjectExport slug={slug} />
        </>
      )}
    </div>
  );
}

function ProjectExport(props: { slug: string }) {
  const [formats, setFormats] = useState<Set<ExportFormat>>(new Set(["seg"]));
  const [job, setJob] = useState<ExportJob | null>(null);
  const [busy, setBusy] = useState(false);
  const timer = useRef<ReturnType<typeof setTimeout> | null>(null);
  useEffect(() => () => void (timer.current && clearTimeout(timer.current)), []);
  const poll = (id: number) => {
    timer.current = setTimeout(async () => {
      try {
        const j = await api.exports.job(props.slug, id);
        setJob(j);
        if (j.status === "queued" || j.status === "running") poll(id);
      } catch (err) {
        notify("error", `Export status: ${toApiError(err).message}`);
      }
    }, 800);
  };
  const start = async () => {
    setBusy(true);
    try {
      const j = await api.exports.start(props.slug, [...formats], uuid());
      setJob(j);
      poll(j.id);
    } catch (err) {
      notify("error", `Export not started: ${toApiError(err).message}`);
    } finally {
      setBusy(false);
    }
  };
  const fetchZip = async () => {
    if (!job) return;
    try {
      saveDownload(await api.exports.file(props.slug, job.id));
    } catch (err) {
      notify("error", `Download failed: ${toApiError(err).message}`);
    }
  };
  const running = job && (job.status === "queued" || job.status === "running");
  return (
    <section class="panel" aria-labelledby="export-title">
      <div class="panel__header">
        <h2 id="export-title">Export the project</h2>
      </div>
      <p class="muted small">
        Every exportable case (its signed consensus, or a signed read) in the chosen formats, as one zip built in the
        background.
      </p>
      <FormatChecklist options={FORMATS} selected={formats} onChange={setFormats} />
      <div class="actions">
        <button class="button" onClick={() => void start()} disabled={busy || formats.size === 0 || !!running}>
          {busy ? <Spinner size={14} /> : <FileArchive size={16} />} Build export
        </button>
        {job?.status === "done" && (
          <button class="button button--primary" onClick={() => void fetchZip()}>
            <Download size={16} /> Download export {job.id}
          </button>
        )}
      </div>
      {running && <ProgressBar value={job.done} max={job.total || 1} label="Export progress" indeterminate={job.total === 0} />}
      {job?.status === "failed" && <p class="form-error">The export failed ({job.error_code || "unknown error"}).</p>}
    </section>
  );
}
