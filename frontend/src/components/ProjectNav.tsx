/** The project's header: breadcrumbs and tabs (Studies, My queue, Review, Curation, Settings by role). */

import type { ComponentChildren } from "preact";
import { useLocation } from "preact-iso";
import { useEffect, useState } from "preact/hooks";
import { api } from "../api/client";
import type { Project, ProjectRole } from "../api/types";
import { session } from "../state/session";
import { useStore } from "../state/store";

const roleCache = new Map<string, Promise<ProjectRole | null>>();

/** The signed-in user's role in a project (from the member list, which every member may read). */
export function projectRole(slug: string, userId: number): Promise<ProjectRole | null> {
  const key = `${slug}:${userId}`;
  let p = roleCache.get(key);
  if (!p) {
    p = api.projects
      .members(slug)
      .then((members) => members.find((m) => m.user.id === userId)?.role ?? null)
      .catch((err: unknown) => {
        roleCache.delete(key);
        throw err;
      });
    roleCache.set(key, p);
  }
  return p;
}

export function useProjectRole(slug: string): ProjectRole | null | undefined {
  const user = useStore(session, (s) => s.user);
  const [role, setRole] = useState<ProjectRole | null | undefined>(undefined);
  useEffect(() => {
    if (!user) return;
    let live = true;
    projectRole(slug, user.id).then(
      (r) => live && setRole(r),
      () => live && setRole(null),
    );
    return () => {
      live = false;
    };
  }, [slug, user?.id]);
  return role;
}

export const canRead = (r: ProjectRole | null | undefined) => r === "owner" || r === "annotator" || r === "reviewer";
export const canReview = (r: ProjectRole | null | undefined) => r === "owner" || r === "reviewer";
export const isOwner = (r: ProjectRole | null | undefined) => r === "owner";

export function ProjectHeader(props: {
  slug: string;
  project: Project | null;
  /** The last breadcrumb, after the project (omitted on the project's own page). */
  here?: string;
  actions?: ComponentChildren;
}) {
  const role = useProjectRole(props.slug);
  const { path } = useLocation();
  const base = `/projects/${props.slug}`;
  const tabs: Array<{ href: string; label: string; show: boolean }> = [
    { href: base, label: "Studies", show: true },
    { href: `${base}/queue`, label: "My queue", show: canRead(role) },
    { href: `${base}/review`, label: "Review", show: canReview(role) },
    // Curators are owners and reviewers; the page itself asks the backend and shows its refusal.
    { href: `${base}/curation`, label: "Curation", show: canReview(role) },
    { href: `${base}/settings`, label: "Settings", show: isOwner(role) },
  ];
  const active = (href: string) => (href === base ? path === base || path === `${base}/` : path.startsWith(href));
  return (
    <>
      <nav class="breadcrumbs" aria-label="Breadcrumb">
        <a href="/">Projects</a>
        <span aria-hidden="true">/</span>
        {props.here ? <a href={base}>{props.project?.name ?? props.slug}</a> : <span>{props.project?.name ?? props.slug}</span>}
        {props.here && (
          <>
            <span aria-hidden="true">/</span>
            <span>{props.here}</span>
          </>
        )}
      </nav>
      <div class="page__header">
        <div>
          <h1>{props.project?.name ?? props.slug}</h1>
          {props.project?.description && <p class="muted">{props.project.description}</p>}
        </div>
        {props.actions && <div class="page__actions">{props.actions}</div>}
      </div>
      <nav class="tabs" aria-label="Project">
        {tabs
          .filter((t) => t.show)
          .map((t) => (
            <a key={t.href} href={t.href} class={`tabs__tab${active(t.href) ? " tabs__tab--active" : ""}`} aria-current={active(t.href) ? "page" : undefined}>
              {t.label}
            </a>
          ))}
      </nav>
    </>
  );
}
