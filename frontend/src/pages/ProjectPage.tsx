import { Eye, Upload } from "lucide-preact";
import { useState } from "preact/hooks";
import { api } from "../api/client";
import type { Series, Study } from "../api/types";
import { ProjectHeader } from "../components/ProjectNav";
import { PageState } from "../components/ui";
import { useAsync } from "../components/useAsync";

interface StudyWithSeries {
  study: Study;
  series: Series[];
}

async function loadProject(slug: string) {
  const [project, studies] = await Promise.all([api.projects.get(slug), api.imaging.studies(slug)]);
  // Projects hold tens of studies at this stage; fetch their series together.
  const withSeries: StudyWithSeries[] = await Promise.all(
    studies.map(async (study) => ({ study, series: await api.imaging.studySeries(slug, study.id) })),
  );
  return { project, studies: withSeries };
}

function modalities(m: Study["modalities"]): string {
  return Array.isArray(m) ? m.join(", ") : m;
}

function SeriesRow(props: { slug: string; series: Series }) {
  const s = props.series;
  const [thumbFailed, setThumbFailed] = useState(false);
  return (
    <li class="series-row">
      <a class="series-row__thumb" href={`/projects/${props.slug}/series/${s.id}`} tabIndex={-1} aria-hidden="true">
        {!thumbFailed && s.frame_count > 0 ? (
          <SeriesThumb slug={props.slug} series={s} onError={() => setThumbFailed(true)} />
        ) : (
          <span class="series-row__nothumb">{s.modality}</span>
        )}
      </a>
      <div class="series-row__body">
        <div class="series-row__title">
          {s.series_description || `Series ${s.series_number ?? s.id}`}
          <span class="badge">{s.modality}</span>
        </div>
        <div class="muted small">
          {s.frame_count} slice{s.frame_count === 1 ? "" : "s"} · {s.columns}×{s.rows}
          {s.pixel_spacing ? ` · ${s.pixel_spacing.map((v) => v.toFixed(2)).join(" × ")} mm` : ""}
          {s.slice_spacing ? ` · ${s.slice_spacing.toFixed(2)} mm apart` : ""}
        </div>
      </div>
      <a class="button button--primary" href={`/projects/${props.slug}/series/${s.id}`} data-modality={s.modality}>
        <Eye size={16} /> Open viewer
      </a>
    </li>
  );
}

/** The middle slice as a small PNG, rendered by the server with the file's default window. */
function SeriesThumb(props: { slug: string; series: Series; onError: () => void }) {
  const detail = useAsync(() => api.imaging.series(props.slug, props.series.id), [props.slug, props.series.id]);
  if (detail.status !== "ready") return <span class="series-row__nothumb" />;
  const frames = detail.data.frames;
  const mid = frames[Math.floor((frames.length - 1) / 2)];
  if (!mid) return <span class="series-row__nothumb" />;
  return (
    <img
      src={api.imaging.framePngUrl(props.slug, mid.instance_id, mid.frame_index, { size: 96 })}
      alt=""
      width={64}
      height={64}
      loading="lazy"
      onError={props.onError}
    />
  );
}

export function ProjectPage(props: { slug?: string; params?: Record<string, string> }) {
  const slug = props.params?.slug ?? props.slug ?? "";
  const data = useAsync(() => loadProject(slug), [slug]);
  return (
    <div class="page">
      <ProjectHeader
        slug={slug}
        project={data.status === "ready" ? data.data.project : null}
        actions={
          <a class="button" href={`/projects/${slug}/upload`}>
            <Upload size={16} /> Upload studies
          </a>
        }
      />
      {data.status === "loading" && <PageState kind="loading">Loading the project…</PageState>}
      {data.status === "error" && (
        <PageState kind="error">
          {data.error.status === 404 ? "This project does not exist, or you are not a member." : data.error.message}
        </PageState>
      )}
      {data.status === "ready" && (
        <>
          <h2 class="section-title">Studies</h2>
          {data.data.studies.length === 0 && (
            <PageState kind="empty">
              No studies yet. <a href={`/projects/${slug}/upload`}>Upload DICOM files, images or NIfTI volumes</a>.
            </PageState>
          )}
          <ul class="study-list" aria-label="Studies">
            {data.data.studies.map(({ study, series }) => (
              <li key={study.id} class="study">
                <div class="study__header">
                  <div>
                    <div class="study__title">
                      {study.study_description || "Study"} <span class="badge">{modalities(study.modalities)}</span>
                    </div>
                    <div class="muted small">
                      Patient {study.patient_key || "—"} · {study.study_date || "no date"} · {study.series_count} series
                    </div>
                  </div>
                </div>
                <ul class="series-list" aria-label="Series">
                  {series.map((s) => (
                    <SeriesRow key={s.id} slug={slug} series={s} />
                  ))}
                </ul>
              </li>
            ))}
          </ul>
        </>
      )}
    </div>
  );
}
