/** Text over the image (corners), orientation markers, the prompt status and the proposal bar. */

import { Check, RotateCcw, X } from "lucide-preact";
import type { SeriesDetail } from "../api/types";
import { Spinner } from "../components/ui";
import { useStore } from "../state/store";
import type { ViewerController } from "./controller";
import { orientationMarkers } from "./geometry";

function CursorReadout(props: { controller: ViewerController }) {
  const cur = useStore(props.controller.cursor);
  if (!cur) return <div class="corner__line muted">Move over the image for values</div>;
  return (
    <>
      <div class="corner__line" data-testid="cursor-value">
        {cur.value ?? "—"}
      </div>
      <div class="corner__line">
        Pixel ({cur.col}, {cur.row})
      </div>
      {cur.mm && (
        <div class="corner__line" data-testid="cursor-mm">
          ({cur.mm[0].toFixed(1)}, {cur.mm[1].toFixed(1)}, {cur.mm[2].toFixed(1)}) mm
        </div>
      )}
    </>
  );
}

export function StageOverlays(props: { controller: ViewerController; series: SeriesDetail }) {
  const c = props.controller;
  const s = useStore(c.state, (v) => ({
    z: v.z,
    count: v.count,
    window: v.window,
    windowName: v.windowName,
    zoomPct: v.zoomPct,
    modality: v.modality,
    sliceReady: v.sliceReady,
    sliceFailed: v.sliceFailed,
    phase: v.phase,
    error: v.error,
    promptPending: v.promptPending,
    promptSlow: v.promptSlow,
    proposal: v.proposal,
    proposalPaintMs: v.proposalPaintMs,
    cols: v.cols,
    rows: v.rows,
  }));
  const frame = props.series.frames[s.z];
  const markers = orientationMarkers(props.series.image_orientation);
  const p = s.proposal;
  return (
    <>
      <div class="corner corner--tl">
        <div class="corner__title">{props.series.series_description || s.modality}</div>
        <div class="corner__line corner__strong" data-testid="slice-indicator">
          Slice {s.z + 1} / {s.count}
        </div>
        {frame?.slice_position != null && <div class="corner__line">Location {frame.slice_position.toFixed(1)} mm</div>}
        <div class="corner__line muted">
          {s.modality} · {s.cols}×{s.rows}
        </div>
      </div>
      <div class="corner corner--tr">
        <div class="corner__line corner__strong">
          W {Math.round(s.window.width)} / L {Math.round(s.window.center)}
        </div>
        {s.windowName && <div class="corner__line muted">{s.windowName}</div>}
        <div class="corner__line">Zoom {s.zoomPct}%</div>
      </div>
      <div class="corner corner--bl">
        <CursorReadout controller={c} />
      </div>
      {markers && (
        <>
          <div class="marker marker--left">{markers.left}</div>
          <div class="marker marker--right">{markers.right}</div>
          <div class="marker marker--top">{markers.top}</div>
          <div class="marker marker--bottom">{markers.bottom}</div>
        </>
      )}
      {s.phase === "error" && (
        <div class="stage-message" role="alert">
          {s.error}
        </div>
      )}
      {s.phase !== "error" && !s.sliceReady && !s.sliceFailed && (
        <div class="stage-message">
          <Spinner /> Loading slice {s.z + 1}…
        </div>
      )}
      {s.sliceFailed && (
        <div class="stage-message stage-message--error" role="alert">
          Slice {s.z + 1} could not be loaded.
          <button class="button button--small" onClick={() => c.retrySlice()}>
            <RotateCcw size={14} /> Retry
          </button>
        </div>
      )}
      {s.promptPending && (
        <div class="pill pill--top" role="status" data-testid="prompt-pending">
          <Spinner /> Segmenting…
          {s.promptSlow && <span class="muted"> first prompt on a slice computes its embedding</span>}
        </div>
      )}
      {p && (
        <div class="proposal-bar" role="region" aria-label="AI proposal" data-testid="proposal-bar">
          <span class="proposal-bar__title">
            {p.kind === "propagation" ? `Propagated on ${p.slices.length} slices` : "AI proposal"}
          </span>
          {p.onCurrent && p.scores.length > 1 && (
            <div class="segmented" role="radiogroup" aria-label="Candidate masks">
              {p.scores.map((score, i) => (
                <button
                  key={i}
                  role="radio"
                  aria-checked={p.selected === i}
                  class={`segmented__item${p.selected === i ? " segmented__item--on" : ""}`}
                  onClick={() => c.selectCandidate(i)}
                  title="Candidate mask (M cycles)"
                >
                  Mask {i + 1} <span class="muted">{score.toFixed(2)}</span>
                </button>
              ))}
            </div>
          )}
          {p.onCurrent && p.scores.length === 1 && (
            <span class="muted" title="The model's predicted IoU">
              score {p.scores[0]!.toFixed(2)}
            </span>
          )}
          {!p.onCurrent && (
            <button class="button button--small button--ghost" onClick={() => c.setSlice(p.slices[0]!)}>
              Go to slice {p.slices[0]! + 1}
            </button>
          )}
          <button class="button button--small button--primary" onClick={() => c.acceptProposal()} title="Accept (Enter)">
            <Check size={14} /> Accept
          </button>
          <button class="button button--small" onClick={() => c.rejectProposal()} title="Reject (Esc)">
            <X size={14} /> Reject
          </button>
          {s.proposalPaintMs !== null && p.kind === "prompt" && (
            <span class="sr-only" data-testid="proposal-paint-ms">
              {s.proposalPaintMs.toFixed(1)}
            </span>
          )}
        </div>
      )}
    </>
  );
}
