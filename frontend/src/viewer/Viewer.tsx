import { ListTodo } from "lucide-preact";
import { useLocation } from "preact-iso";
import { useEffect, useRef } from "preact/hooks";
import type { ImageRoom } from "../api/room";
import type { Project, SeriesDetail, Task } from "../api/types";
import { notify } from "../state/notify";
import { useStore } from "../state/store";
import { HelpOverlay } from "./HelpOverlay";
import { ConflictDialog, ConnectionBanner, Presence, RemoteNotice, SaveControls, TaskNotice } from "./SessionBar";
import { SidePanel } from "./SidePanel";
import { SliceBar } from "./SliceBar";
import { StageOverlays } from "./StageOverlays";
import { Toolbar } from "./Toolbar";
import type { ViewerController } from "./controller";
import type { AnnotationSession } from "./session";

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

export function Viewer(props: {
  controller: ViewerController;
  session: AnnotationSession;
  room: ImageRoom;
  slug: string;
  project: Project;
  series: SeriesDetail;
  ownTask: Task | null;
}) {
  const c = props.controller;
  const session = props.session;
  const canvasRef = useRef<HTMLCanvasElement>(null);
  const { route } = useLocation();
  const sess = useStore(session.state, (v) => ({ kind: v.kind, task: v.task, annotation: v.annotation }));

  useEffect(() => {
    if (canvasRef.current) c.attach(canvasRef.current);
    canvasRef.current?.focus({ preventScroll: true });
  }, [c]);

  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      if ((e.ctrlKey || e.metaKey) && !e.altKey && e.key.toLowerCase() === "s") {
        // Save, not the browser's "save page".
        e.preventDefault();
        if (session.editable) void session.save();
        return;
      }
      if (isTyping(e.target) && e.key !== "Escape") return;
      // Sliders keep their own arrow keys; everything else goes to the viewer.
      if (e.target instanceof HTMLInputElement && e.target.type === "range" && e.key.startsWith("Arrow")) return;
      if (c.handleKey(e)) e.preventDefault();
    };
    window.addEventListener("keydown", onKey);
    return () => window.removeEventListener("keydown", onKey);
  }, [c]);

  const s = props.series;
  const t = sess.task;
  const a = sess.annotation;
  const context =
    sess.kind === "read" && t
      ? `Case ${t.case_id} · read ${t.slot}`
      : sess.kind === "consensus" && a
        ? `Case ${a.case_id} · consensus`
        : sess.kind === "view" && a
          ? `Case ${a.case_id} · ${a.author}'s ${a.kind === "consensus" ? "consensus" : "read"}`
          : null;
  return (
    <div class="viewer" data-testid="viewer">
      <div class="viewer__titlebar">
        <nav class="breadcrumbs breadcrumbs--dense" aria-label="Breadcrumb">
          <a href="/">Projects</a>
          <span aria-hidden="true">/</span>
          <a href={`/projects/${props.slug}`}>{props.project.name}</a>
          <span aria-hidden="true">/</span>
          <span>{s.series_description || `Series ${s.series_number ?? s.id}`}</span>
          {context && (
            <>
              <span aria-hidden="true">/</span>
              <span class="breadcrumbs__current" data-testid="viewer-context">
                {context}
              </span>
            </>
          )}
        </nav>
        <div class="viewer__titlebar-right">
          <Presence room={props.room} controller={c} />
          {sess.kind === "scratch" && props.ownTask && (
            <a
              class="button button--small"
              href={`/projects/${props.slug}/series/${s.id}?task=${props.ownTask.id}`}
              title="Open your read of this case, which saves"
            >
              <ListTodo size={14} /> Open my read
            </a>
          )}
          <SaveControls
            session={session}
            onSubmitted={() => {
              notify("success", "Read submitted for review. Thank you!");
              route(`/projects/${props.slug}/queue`);
            }}
          />
        </div>
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
          <div class="stage-banners">
            <ConnectionBanner room={props.room} session={session} />
            <TaskNotice task={t} />
            <RemoteNotice session={session} />
          </div>
        </div>
        <SidePanel controller={c} series={s} slug={props.slug} />
      </div>
      <SliceBar controller={c} />
      <HelpOverlay controller={c} />
      <ConflictDialog session={session} />
    </div>
  );
}
