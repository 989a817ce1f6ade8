/**
 * The viewer page. Modes, from the address:
 *   /projects/:slug/series/:id?task=T         the reader's task: their annotation, save, submit
 *   /projects/:slug/series/:id?annotation=A   an annotation: editable when it is the user's consensus,
 *                                             else view only (a reviewer looking at a read)
 *   /projects/:slug/series/:id                scratch: the tools work, nothing is saved
 * One image room (WebSocket) per page carries prompts, propagation, presence and others' saves.
 */

import { useLocation } from "preact-iso";
import { useEffect, useState } from "preact/hooks";
import { ApiError, api } from "../api/client";
import { ImageRoom } from "../api/room";
import { SocketSegmentationTransport } from "../api/segmentation";
import type { Annotation, Task } from "../api/types";
import { PageState } from "../components/ui";
import { useAsync } from "../components/useAsync";
import { loadLabelSchema } from "../labels";
import { session as appSession } from "../state/session";
import { ViewerController } from "../viewer/controller";
import { AnnotationSession, type SessionKind } from "../viewer/session";
import { Viewer } from "../viewer/Viewer";

interface Mode {
  kind: SessionKind;
  task: Task | null;
  annotation: Annotation | null;
  readonlyReason: string | null;
  /** In scratch mode: the user's own open task on this series, to offer. */
  ownTask: Task | null;
}

async function loadMode(slug: string, seriesId: number, taskId: number | null, annotationId: number | null): Promise<Mode> {
  const me = appSession.get().user?.username ?? "";
  if (taskId !== null) {
    const task = (await api.tasks.mine(slug)).find((t) => t.id === taskId);
    if (!task) throw new ApiError(404, "task_not_found", "This task is not one of yours (any more).");
    if (task.series_id !== seriesId) throw new ApiError(404, "task_not_found", "This task belongs to another series.");
    const annotation = await api.tasks.annotation(slug, task.id);
    const open = task.status === "assigned" || task.status === "returned";
    return {
      kind: "read",
      task,
      annotation,
      readonlyReason: open ? null : "Submitted for review: the read is locked unless a reviewer returns it",
      ownTask: null,
    };
  }
  if (annotationId !== null) {
    const annotation = await api.annotations.get(slug, annotationId);
    const mine = annotation.author === me && annotation.kind === "consensus";
    return {
      kind: mine ? "consensus" : "view",
      task: null,
      annotation,
      readonlyReason: mine ? null : `Viewing ${annotation.author}'s ${annotation.kind === "consensus" ? "consensus" : "read"} (view only)`,
      ownTask: null,
    };
  }
  let ownTask: Task | null = null;
  try {
    ownTask =
      (await api.tasks.mine(slug)).find(
        (t) => t.series_id === seriesId && (t.status === "assigned" || t.status === "returned"),
      ) ?? null;
  } catch {
    ownTask = null;
  }
  return { kind: "scratch", task: null, annotation: null, readonlyReason: null, ownTask };
}

export interface ViewerHandles {
  controller: ViewerController;
  session: AnnotationSession;
  room: ImageRoom;
}

declare global {
  interface Window {
    /** The open viewer's engine, for the e2e walk and the frontend bench (read-only use). */
    __readingroom?: ViewerHandles;
  }
}

export function ViewerPage(props: { params?: Record<string, string> }) {
  const slug = props.params?.slug ?? "";
  const seriesId = Number(props.params?.seriesId);
  const { query } = useLocation();
  const taskId = query.task && /^\d+$/.test(query.task) ? Number(query.task) : null;
  const annotationId = query.annotation && /^\d+$/.test(query.annotation) ? Number(query.annotation) : null;
  const data = useAsync(async () => {
    const [project, series, schema, mode] = await Promise.all([
      api.projects.get(slug),
      api.imaging.series(slug, seriesId),
      loadLabelSchema(slug),
      loadMode(slug, seriesId, taskId, annotationId),
    ]);
    return { project, series, schema, mode };
  }, [slug, seriesId, taskId, annotationId]);
  const [handles, setHandles] = useState<ViewerHandles | null>(null);

  useEffect(() => {
    if (data.status !== "ready") return;
    const { series, schema, mode } = data.data;
    const room = new ImageRoom(series.id);
    let session: AnnotationSession | null = null;
    const controller = new ViewerController({
      slug,
      series,
      schema,
      transport: new SocketSegmentationTransport(slug, room),
      onEdit: (frames, source) => session?.mark(frames, source),
      onSliceChange: (z, frameId) => room.setPresence(z, frameId),
    });
    session = new AnnotationSession({
      slug,
      controller,
      room,
      annotation: mode.annotation,
      task: mode.task,
      kind: mode.kind,
      readonlyReason: mode.readonlyReason,
    });
    const first = series.frames[controller.state.get().z];
    if (first) room.setPresence(controller.state.get().z, first.id);
    void session.load();
    const h = { controller, session, room };
    window.__readingroom = h;
    setHandles(h);
    return () => {
      if (window.__readingroom === h) delete window.__readingroom;
      session?.dispose();
      controller.dispose();
      room.close();
      setHandles(null);
    };
  }, [data.status, data.data]);

  if (!Number.isInteger(seriesId)) return <PageState kind="error">This address does not name a series.</PageState>;
  if (data.status === "loading") return <PageState kind="loading">Loading the series…</PageState>;
  if (data.status === "error") {
    return (
      <PageState kind="error">
        {data.error.status === 404 ? "This series, task or annotation does not exist here, or you cannot see it." : data.error.message}{" "}
        <a href={`/projects/${slug}`}>Back to the project</a>
      </PageState>
    );
  }
  if (!handles) return <PageState kind="loading">Preparing the viewer…</PageState>;
  return (
    <Viewer
      controller={handles.controller}
      session={handles.session}
      room={handles.room}
      slug={slug}
      project={data.data.project}
      series={data.data.series}
      ownTask={data.data.mode.ownTask}
    />
  );
}
