import { ChevronRight, FolderOpen } from "lucide-preact";
import { api } from "../api/client";
import { PageState } from "../components/ui";
import { useAsync } from "../components/useAsync";

export function ProjectsPage() {
  const projects = useAsync(() => api.projects.list(), []);
  return (
    <div class="page">
      <div class="page__header">
        <div>
          <h1>Projects</h1>
          <p class="muted">The projects you are a member of.</p>
        </div>
      </div>
      {projects.status === "loading" && <PageState kind="loading">Loading projects…</PageState>}
      {projects.status === "error" && (
        <PageState kind="error">
          {projects.error.message}{" "}
          <button class="button button--ghost" onClick={projects.reload}>
            Retry
          </button>
        </PageState>
      )}
      {projects.status === "ready" && projects.data.length === 0 && (
        <PageState kind="empty">You are not a member of any project yet. Ask a project owner to add you.</PageState>
      )}
      {projects.status === "ready" && projects.data.length > 0 && (
        <ul class="card-grid" aria-label="Projects">
          {projects.data.map((p) => (
            <li key={p.id}>
              <a class="card card--link" href={`/projects/${p.slug}`}>
                <div class="card__icon">
                  <FolderOpen size={20} />
                </div>
                <div class="card__body">
                  <div class="card__title">{p.name}</div>
                  <div class="card__meta">
                    {p.slug} · created {new Date(p.created_at).toLocaleDateString()}
                  </div>
                  {p.description && <p class="card__text">{p.description}</p>}
                </div>
                <ChevronRight size={18} class="card__chevron" />
              </a>
            </li>
          ))}
        </ul>
      )}
    </div>
  );
}
