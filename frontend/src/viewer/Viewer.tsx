import { useEffect, useRef } from "preact/hooks";
import type { Project, SeriesDetail } from "../api/types";
import { HelpOverlay } from "./HelpOverlay";
import { SidePanel } from "./SidePanel";
import { SliceBar } from "./SliceBar";
import { StageOverlays } from "./StageOverlays";
import { Toolbar } from "./Toolbar";
import type { ViewerController } from "./controller";

function isTyping(target: EventTarget | null): boolean {
  if (!(target instanceof HTMLElement)) return false;
  if (target.isContentEditable) return true;
  const tag = target.tagName;
  if (tag === "TEXTAREA" || tag === "SELECT") return true;
  if (tag === "INPUT") {
    const type = (target as HTMLInputElement).type;
    return !["range", "checkbox", "radio", "button"].includes(type);
  }
  return false;
}

export function Viewer(props: { controller: ViewerController; slug: string; project: Project; series: SeriesDetail }) {
  const c = props.controller;
  const canvasRef = useRef<HTMLCanvasElement>(null);

  useEffect(() => {
    if (canvasRef.current) c.attach(canvasRef.current);
    canvasRef.current?.focus({ preventScroll: true });
  }, [c]);

  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      if (isTyping(e.target) && e.key !== "Escape") return;
      // Sliders keep their own arrow keys; everything else goes to the viewer.
      if (e.target instanceof HTMLInputElement && e.target.type === "range" && e.key.startsWith("Arrow")) return;
      if (c.handleKey(e)) e.preventDefault();
    };
    window.addEventListener("keydown", onKey);
    return () => window.removeEventListener("keydown", onKey);
  }, [c]);

  const s = props.series;
  return (
    <div class="viewer" data-testid="viewer">
      <div class="viewer__titlebar">
        <nav class="breadcrumbs breadcrumbs--dense" aria-label="Breadcrumb">
          <a href="/">Projects</a>
          <span aria-hidden="true">/</span>
          <a href={`/projects/${props.slug}`}>{props.project.name}</a>
          <span aria-hidden="true">/</span>
          <span>{s.series_description || `Series ${s.series_number ?? s.id}`}</span>
        </nav>
      </div>
      <Toolbar controller={c} />
      <div class="viewer__body">
        <div class="viewer__stage">
          <canvas
            ref={canvasRef}
            class="viewer__canvas"
            tabIndex={0}
            aria-label="Image viewer: wheel scrolls slices, right-drag sets window/level"
            data-testid="viewer-canvas"
          />
          <StageOverlays controller={c} series={s} />
        </div>
        <SidePanel controller={c} series={s} />
      </div>
      <SliceBar controller={c} />
      <HelpOverlay controller={c} />
    </div>
  );
}
