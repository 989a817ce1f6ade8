import { Eye, FileUp, Upload, X } from "lucide-preact";
import { useEffect, useRef, useState } from "preact/hooks";
import { api, toApiError } from "../api/client";
import type { IngestJob } from "../api/types";
import { ProgressBar, Spinner, formatBytes } from "../components/ui";
import { useAsync } from "../components/useAsync";
import { notify } from "../state/notify";

const ACCEPT = ".dcm,.dicom,.zip,.nii,.nii.gz,.png,.jpg,.jpeg,.tif,.tiff,application/dicom,application/zip,image/*";
const RASTER = /\.(png|jpe?g|tiff?)$/i;

type Phase =
  | { kind: "idle" }
  | { kind: "uploading"; loaded: number; total: number }
  | { kind: "processing"; job: IngestJob }
  | { kind: "done"; job: IngestJob }
  | { kind: "failed"; message: string };

function describeError(e: IngestJob["errors"][number]): string {
  if (typeof e === "string") return e;
  const name = typeof e.name === "string" ? e.name : typeof e.file === "string" ? e.file : "";
  const msg = typeof e.message === "string" ? e.message : typeof e.reason === "string" ? e.reason : JSON.stringify(e);
  return name ? `${name}: ${msg}` : msg;
}

export function UploadPage(props: { params?: Record<string, string> }) {
  const slug = props.params?.slug ?? "";
  const [files, setFiles] = useState<File[]>([]);
  const [noBurnedIn, setNoBurnedIn] = useState(false);
  const [phase, setPhase] = useState<Phase>({ kind: "idle" });
  const [dragging, setDragging] = useState(false);
  const abortRef = useRef<(() => void) | null>(null);
  const live = useRef(true);
  const inputRef = useRef<HTMLInputElement>(null);
  const project = useAsync(() => api.projects.get(slug), [slug]);

  useEffect(
    () => () => {
      live.current = false;
    },
    [],
  );

  const hasRaster = files.some((f) => RASTER.test(f.name));
  const totalBytes = files.reduce((s, f) => s + f.size, 0);
  const busy = phase.kind === "uploading" || phase.kind === "processing";

  const addFiles = (list: FileList | null) => {
    if (!list) return;
    const incoming = [...list];
    setFiles((prev) => {
      const seen = new Set(prev.map((f) => `${f.name}:${f.size}`));
      return [...prev, ...incoming.filter((f) => !seen.has(`${f.name}:${f.size}`))];
    });
    if (phase.kind === "done" || phase.kind === "failed") setPhase({ kind: "idle" });
  };

  const poll = async (job: IngestJob) => {
    let current = job;
    while (live.current && (current.status === "queued" || current.status === "running")) {
      setPhase({ kind: "processing", job: current });
      await new Promise((r) => setTimeout(r, 1000));
      try {
        current = await api.imaging.ingestJob(slug, current.id);
      } catch (err) {
        const e = toApiError(err);
        if (e.code !== "network") throw e;
      }
    }
    return current;
  };

  const start = async () => {
    if (!files.length) return;
    if (hasRaster && !noBurnedIn) {
      notify("error", "Confirm that the images show no identifying text, or remove them from the list.");
      return;
    }
    setPhase({ kind: "uploading", loaded: 0, total: totalBytes });
    const handle = api.imaging.upload(slug, files, {
      burnedInAnnotation: hasRaster ? "NO" : undefined,
      onProgress: (loaded, total) => live.current && setPhase({ kind: "uploading", loaded, total }),
    });
    abortRef.current = handle.abort;
    try {
      const { job } = await handle.promise;
      abortRef.current = null;
      const finished = await poll(job);
      if (!live.current) return;
      setPhase({ kind: "done", job: finished });
      setFiles([]);
    } catch (err) {
      abortRef.current = null;
      if (live.current) setPhase({ kind: "failed", message: toApiError(err).message });
    }
  };

  return (
    <div class="page page--narrow">
      <nav class="breadcrumbs" aria-label="Breadcrumb">
        <a href="/">Projects</a>
        <span aria-hidden="true">/</span>
        <a href={`/projects/${slug}`}>{project.status === "ready" ? project.data.name : slug}</a>
        <span aria-hidden="true">/</span>
        <span>Upload</span>
      </nav>
      <div class="page__header">
        <div>
          <h1>Upload studies</h1>
          <p class="muted">
            DICOM files, a zip of them, NIfTI volumes or PNG/JPEG/TIFF images. Files are de-identified on arrival;
            ones that cannot be are held in quarantine for the project owner.
          </p>
        </div>
      </div>

      <div
        class={`dropzone${dragging ? " dropzone--over" : ""}`}
        onDragOver={(e) => {
          e.preventDefault();
          setDragging(true);
        }}
        onDragLeave={() => setDragging(false)}
        onDrop={(e) => {
          e.preventDefault();
          setDragging(false);
          addFiles(e.dataTransfer?.files ?? null);
        }}
      >
        <FileUp size={28} />
        <div>
          Drop files here, or{" "}
          <button class="link-button" type="button" onClick={() => inputRef.current?.click()} disabled={busy}>
            choose files
          </button>
        </div>
        <input
          ref={inputRef}
          class="visually-hidden"
          type="file"
          multiple
          accept={ACCEPT}
          aria-label="Files to upload"
          onChange={(e) => {
            addFiles(e.currentTarget.files);
            e.currentTarget.value = "";
          }}
        />
      </div>

      {files.length > 0 && (
        <div class="panel">
          <div class="panel__header">
            <span>
              {files.length} file{files.length === 1 ? "" : "s"} · {formatBytes(totalBytes)}
            </span>
            <button class="button button--ghost" onClick={() => setFiles([])} disabled={busy}>
              Clear
            </button>
          </div>
          <ul class="file-list">
            {files.slice(0, 200).map((f) => (
              <li key={`${f.name}:${f.size}`}>
                <span class="file-list__name">{f.name}</span>
                <span class="muted small">{formatBytes(f.size)}</span>
              </li>
            ))}
            {files.length > 200 && <li class="muted">… and {files.length - 200} more</li>}
          </ul>
          {hasRaster && (
            <label class="checkbox">
              <input type="checkbox" checked={noBurnedIn} onChange={(e) => setNoBurnedIn(e.currentTarget.checked)} />
              The images show no identifying text (names, dates, IDs burned into the pixels).
            </label>
          )}
        </div>
      )}

      <div class="actions">
        <button class="button button--primary" onClick={start} disabled={busy || files.length === 0}>
          <Upload size={16} /> Upload
        </button>
        {phase.kind === "uploading" && (
          <button class="button button--ghost" onClick={() => abortRef.current?.()}>
            <X size={16} /> Cancel
          </button>
        )}
      </div>

      {phase.kind === "uploading" && (
        <div class="panel" aria-live="polite">
          <div class="panel__row">
            <span>Uploading…</span>
            <span class="muted">
              {formatBytes(phase.loaded)} of {formatBytes(phase.total)} ·{" "}
              {phase.total ? Math.round((phase.loaded / phase.total) * 100) : 0}%
            </span>
          </div>
          <ProgressBar value={phase.loaded} max={phase.total} label="Upload progress" />
        </div>
      )}
      {phase.kind === "processing" && (
        <div class="panel" aria-live="polite">
          <div class="panel__row">
            <span>
              <Spinner /> Processing on the server…
            </span>
            <span class="muted">
              {phase.job.processed} of {phase.job.total || "?"} files
            </span>
          </div>
          <ProgressBar
            value={phase.job.processed}
            max={phase.job.total}
            label="Processing progress"
            indeterminate={!phase.job.total}
          />
        </div>
      )}
      {phase.kind === "failed" && (
        <div class="panel panel--error" role="alert">
          Upload failed: {phase.message}
        </div>
      )}
      {phase.kind === "done" && <IngestSummary slug={slug} job={phase.job} />}
    </div>
  );
}

function IngestSummary(props: { slug: string; job: IngestJob }) {
  const j = props.job;
  return (
    <div class="panel" role="region" aria-label="Upload result">
      <div class="panel__header">
        <span>Upload {j.status === "failed" ? "failed" : "finished"}</span>
      </div>
      <dl class="stats">
        <div>
          <dt>New instances</dt>
          <dd>{j.created}</dd>
        </div>
        <div>
          <dt>Duplicates</dt>
          <dd>{j.duplicates}</dd>
        </div>
        <div>
          <dt>Quarantined</dt>
          <dd>{j.quarantined}</dd>
        </div>
        <div>
          <dt>Refused</dt>
          <dd>{j.refused}</dd>
        </div>
      </dl>
      {j.errors.length > 0 && (
        <ul class="error-list">
          {j.errors.slice(0, 20).map((e, i) => (
            <li key={i}>{describeError(e)}</li>
          ))}
        </ul>
      )}
      {j.series_ids.length > 0 && (
        <div class="actions">
          {j.series_ids.map((id) => (
            <a key={id} class="button" href={`/projects/${props.slug}/series/${id}`}>
              <Eye size={16} /> Open series {id}
            </a>
          ))}
        </div>
      )}
    </div>
  );
}
