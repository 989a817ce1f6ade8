/** "My queue": the reader's tasks, and "Start next case" (the next unclaimed read in the project). */

import { CirclePlay, Eye, Pencil } from "lucide-preact";
import { useLocation } from "preact-iso";
import { useState } from "preact/hooks";
import { api, toApiError } from "../api/client";
import type { Task } from "../api/types";
import { ProjectHeader } from "../components/ProjectNav";
import { PageState, Spinner } from "../components/ui";
import { useAsync } from "../components/useAsync";
import { notify } from "../state/notify";

export const TASK_STATUS: Record<Task["status"], { text: string; tone: string }> = {
  open: { text: "Open", tone: "neutral" },
  assigned: { text: "Reading", tone: "info" },
  returned: { text: "Returned", tone: "warn" },
  submitted: { text: "Submitted", tone: "ok" },
};

export function taskHref(slug: string, t: Task): string {
  return `/projects/${slug}/series/${t.series_id}?task=${t.id}`;
}

export function QueuePage(props: { params?: Record<string, string> }) {
  const slug = props.params?.slug ?? "";
  const { route } = useLocation();
  const data = useAsync(async () => {
    const [project, tasks] = await Promise.all([api.projects.get(slug), api.tasks.mine(slug)]);
    return { project, tasks };
  }, [slug]);
  const [starting, setStarting] = useState(false);
  const [empty, setEmpty] = useState(false);

  const startNext = async () => {
    setStarting(true);
    setEmpty(false);
    try {
      const task = await api.tasks.next(slug);
      if (!task) {
        setEmpty(true);
        return;
      }
      route(taskHref(slug, task));
    } catch (err) {
      notify("error", `Could not get the next case: ${toApiError(err).message}`);
    } finally {
      setStarting(false);
    }
  };

  const tasks = data.status === "ready" ? data.data.tasks : [];
  const active = tasks.filter((t) => t.status === "assigned" || t.status === "returned");
  const done = tasks.filter((t) => t.status === "submitted");
  return (
    <div class="page">
      <ProjectHeader
        slug={slug}
        project={data.status === "ready" ? data.data.project : null}
        here="My queue"
        actions={
          <button class="button button--primary" onClick={() => void startNext()} disabled={starting}>
            {starting ? <Spinner size={16} /> : <CirclePlay size={16} />}{" "}
            {active.length ? "Continue my current case" : "Start next case"}
          </button>
        }
      />
      {empty && (
        <div class="panel" role="status" data-testid="queue-empty">
          No case is waiting for you: every read in this project is taken or done. New cases appear when studies are
          uploaded.
        </div>
      )}
      {data.status === "loading" && <PageState kind="loading">Loading your tasks…</PageState>}
      {data.status === "error" && <PageState kind="error">{data.error.message}</PageState>}
      {data.status === "ready" && (
        <>
          <h2 class="section-title">In progress</h2>
          {active.length === 0 ? (
            <p class="muted empty-line">Nothing in progress. “Start next case” takes the next read from the queue.</p>
          ) : (
            <TaskTable slug={slug} tasks={active} />
          )}
          <h2 class="section-title">Submitted</h2>
          {done.length === 0 ? <p class="muted empty-line">No submitted reads yet.</p> : <TaskTable slug={slug} tasks={done} />}
        </>
      )}
    </div>
  );
}

function TaskTable(props: { slug: string; tasks: Task[] }) {
  return (
    <table class="table" data-testid="task-table">
      <thead>
        <tr>
          <th>Case</th>
          <th>Read</th>
          <th>Status</th>
          <th>Priority</th>
          <th>Due</th>
          <th>Note</th>
          <th />
        </tr>
      </thead>
      <tbody>
        {props.tasks.map((t) => {
          const st = TASK_STATUS[t.status];
          const editable = t.status === "assigned" || t.status === "returned";
          return (
            <tr key={t.id}>
              <td>Case {t.case_id}</td>
              <td>#{t.slot}</td>
              <td>
                <span class={`status status--${st.tone}`}>{st.text}</span>
              </td>
              <td>{t.priority || "—"}</td>
              <td>{t.due_date ?? "—"}</td>
              <td class="table__note">{t.status === "returned" && t.return_comment ? `Reviewer: ${t.return_comment}` : ""}</td>
              <td class="table__actions">
                <a class="button button--small" href={taskHref(props.slug, t)}>
                  {editable ? <Pencil size={14} /> : <Eye size={14} />} {editable ? "Open" : "View"}
                </a>
              </td>
            </tr>
          );
        })}
      </tbody>
    </table>
  );
}
