/** Slice slider with previous/next, the slice number, and a strip showing cached and annotated slices. */

import { ChevronLeft, ChevronRight } from "lucide-preact";
import { useEffect, useRef } from "preact/hooks";
import { useStore } from "../state/store";
import type { ViewerController } from "./controller";

function CacheStrip(props: { controller: ViewerController }) {
  const c = props.controller;
  const s = useStore(c.state, (v) => ({ count: v.count, version: v.loadedVersion, annotated: v.annotated, z: v.z }));
  const ref = useRef<HTMLCanvasElement>(null);
  useEffect(() => {
    const canvas = ref.current;
    if (!canvas || s.count === 0) return;
    const w = canvas.clientWidth || 300;
    const dpr = window.devicePixelRatio || 1;
    canvas.width = Math.round(w * dpr);
    canvas.height = Math.round(6 * dpr);
    const ctx = canvas.getContext("2d");
    if (!ctx) return;
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, w, 6);
    const cell = w / s.count;
    ctx.fillStyle = "rgba(120, 160, 220, 0.45)";
    for (const z of c.cachedSlices()) ctx.fillRect(z * cell, 0, Math.max(1, cell), 3);
    ctx.fillStyle = c.schemaLabels()[0]?.color ?? "#ff3b30";
    for (const z of s.annotated) ctx.fillRect(z * cell, 3, Math.max(2, cell), 3);
  }, [s.version, s.count, s.annotated]);
  return <canvas ref={ref} class="slicebar__strip" aria-hidden="true" />;
}

export function SliceBar(props: { controller: ViewerController }) {
  const c = props.controller;
  const s = useStore(c.state, (v) => ({ z: v.z, count: v.count }));
  return (
    <div class="slicebar">
      <button class="icon-button" aria-label="Previous slice" title="Previous slice (↑)" onClick={() => c.step(-1)}>
        <ChevronLeft size={18} />
      </button>
      <div class="slicebar__track">
        <input
          type="range"
          min={1}
          max={Math.max(1, s.count)}
          value={s.z + 1}
          aria-label="Slice"
          onInput={(e) => c.setSlice(Number(e.currentTarget.value) - 1)}
        />
        <CacheStrip controller={c} />
      </div>
      <button class="icon-button" aria-label="Next slice" title="Next slice (↓)" onClick={() => c.step(1)}>
        <ChevronRight size={18} />
      </button>
      <span class="slicebar__readout" data-testid="slice-readout">
        {s.z + 1} / {s.count}
      </span>
    </div>
  );
}
