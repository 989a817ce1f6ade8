/** The right-hand panel: labels (visibility, opacity, active), propagation, and series facts. */

import { Eye, EyeOff, Play, Square } from "lucide-preact";
import type { SeriesDetail } from "../api/types";
import { ProgressBar, formatBytes } from "../components/ui";
import { useStore } from "../state/store";
import type { ViewerController } from "./controller";

function LabelsSection(props: { controller: ViewerController; slug: string }) {
  const c = props.controller;
  const s = useStore(c.state, (v) => ({ active: v.activeLabel, styles: v.labelStyles, annotated: v.annotated }));
  const labels = c.schemaLabels();
  return (
    <section class="side__section" aria-label="Labels">
      <h3 class="side__title">Labels</h3>
      {labels.length === 0 && (
        <p class="muted small" data-testid="no-labels">
          This project has no labels yet. An owner adds them in the{" "}
          <a href={`/projects/${props.slug}/settings`}>project settings</a>; until then the AI tools propose but nothing
          can be painted.
        </p>
      )}
      <ul class="labels">
        {labels.map((l) => {
          const style = s.styles[l.id] ?? { visible: true, opacity: 0.45 };
          const active = s.active === l.id;
          return (
            <li key={l.id} class={`label-row${active ? " label-row--active" : ""}`}>
              <button
                class="label-row__main"
                onClick={() => c.setActiveLabel(l.id)}
                aria-pressed={active}
                title="Paint with this label"
              >
                <span class="swatch" style={{ background: l.color }} />
                <span class="label-row__name" title={l.typeMeaning ? `SNOMED CT: ${l.typeMeaning}` : undefined}>
                  {l.name}
                </span>
                <span class="muted small">#{l.id}</span>
              </button>
              <button
                class="icon-button"
                aria-label={style.visible ? `Hide ${l.name}` : `Show ${l.name}`}
                title={style.visible ? "Hide (L)" : "Show (L)"}
                onClick={() => c.setLabelStyle(l.id, { visible: !style.visible })}
              >
                {style.visible ? <Eye size={16} /> : <EyeOff size={16} />}
              </button>
              <input
                class="label-row__opacity"
                type="range"
                min={0}
                max={100}
                value={Math.round(style.opacity * 100)}
                aria-label={`${l.name} opacity`}
                title={`Opacity ${Math.round(style.opacity * 100)}%`}
                onInput={(e) => c.setLabelStyle(l.id, { opacity: Number(e.currentTarget.value) / 100 })}
              />
            </li>
          );
        })}
      </ul>
      <p class="muted small" data-testid="annotated-slices">
        {s.annotated.length === 0
          ? "No slice annotated yet."
          : `Annotated on ${s.annotated.length} slice${s.annotated.length === 1 ? "" : "s"}.`}
      </p>
    </section>
  );
}

function PropagationSection(props: { controller: ViewerController }) {
  const c = props.controller;
  const s = useStore(c.state, (v) => ({ p: v.propagation, count: v.count }));
  const p = s.p;
  const running = p.status === "running" || p.status === "starting";
  return (
    <section class="side__section" aria-label="Propagate">
      <h3 class="side__title">Propagate through the volume</h3>
      <p class="muted small">
        Segments slice by slice from the box on the start slice, following the structure up and down.
      </p>
      <div class="range-inputs">
        <label class="field field--inline">
          <span>From</span>
          <input
            type="number"
            min={1}
            max={s.count}
            value={p.z0 + 1}
            disabled={running}
            aria-label="First slice"
            onChange={(e) => c.setPropagationRange(Number(e.currentTarget.value) - 1, p.z1)}
          />
        </label>
        <label class="field field--inline">
          <span>to</span>
          <input
            type="number"
            min={1}
            max={s.count}
            value={p.z1 + 1}
            disabled={running}
            aria-label="Last slice"
            onChange={(e) => c.setPropagationRange(p.z0, Number(e.currentTarget.value) - 1)}
          />
        </label>
      </div>
      {!running ? (
        <button class="button button--block" onClick={() => c.startPropagation()}>
          <Play size={16} /> Propagate
        </button>
      ) : (
        <>
          <div class="panel__row small">
            <span>{p.status === "starting" ? "Starting…" : "Segmenting slices…"}</span>
            <span class="muted" data-testid="propagation-count">
              {p.done} / {p.total}
            </span>
          </div>
          <ProgressBar value={p.done} max={p.total} label="Propagation progress" indeterminate={p.status === "starting"} />
          <button class="button button--block" onClick={() => c.cancelPropagation()}>
            <Square size={14} /> Cancel
          </button>
        </>
      )}
      {p.message && (
        <p class={`small ${p.status === "failed" ? "text-error" : "muted"}`} role="status" data-testid="propagation-message">
          {p.message}
        </p>
      )}
    </section>
  );
}

function SeriesSection(props: { controller: ViewerController; series: SeriesDetail }) {
  const s = useStore(props.controller.state, (v) => ({
    loaded: v.loaded,
    count: v.count,
    bytes: v.cacheBytes,
  }));
  const se = props.series;
  return (
    <section class="side__section" aria-label="Series">
      <h3 class="side__title">Series</h3>
      <dl class="facts">
        <dt>Modality</dt>
        <dd>{se.modality || "—"}</dd>
        <dt>Matrix</dt>
        <dd>
          {se.columns} × {se.rows} × {se.frame_count}
        </dd>
        {se.pixel_spacing && (
          <>
            <dt>Pixel</dt>
            <dd>{se.pixel_spacing.map((v) => v.toFixed(3)).join(" × ")} mm</dd>
          </>
        )}
        {se.slice_spacing != null && (
          <>
            <dt>Slices</dt>
            <dd>{se.slice_spacing.toFixed(2)} mm apart</dd>
          </>
        )}
        <dt>In memory</dt>
        <dd data-testid="cache-status">
          {s.loaded} / {s.count} slices · {formatBytes(s.bytes)}
        </dd>
      </dl>
    </section>
  );
}

export function SidePanel(props: { controller: ViewerController; series: SeriesDetail; slug: string }) {
  return (
    <aside class="side" aria-label="Viewer panel">
      <LabelsSection controller={props.controller} slug={props.slug} />
      {props.series.frames.length > 1 && <PropagationSection controller={props.controller} />}
      <SeriesSection controller={props.controller} series={props.series} />
    </aside>
  );
}
