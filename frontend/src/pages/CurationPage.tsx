/**
 * Dataset curation (curators: owners and reviewers, as the backend decides): find cases with a filter
 * builder, act on them in bulk, look for duplicates, freeze snapshots with a split preview, export them,
 * and read the statistics. Other members see the backend's refusal in words.
 */

import { BarChart3, Boxes, Copy, Filter } from "lucide-preact";
import { useEffect, useRef, useState } from "preact/hooks";
import { type ApiError, api, toApiError } from "../api/client";
import type { ApiLabel, CurationAccess, FindPage, Member, Project, SavedFilter, TagCount } from "../api/types";
import { ProjectHeader } from "../components/ProjectNav";
import { PageState } from "../components/ui";
import { BulkActions } from "../curation/BulkActions";
import { DuplicatesPanel } from "../curation/DuplicatesPanel";
import { type BuilderState, FilterBuilder, SavedFilters } from "../curation/FilterBuilder";
import { fromDocument, toDocument } from "../curation/filterModel";
import { type Pager, currentCursor, firstPage, nextPage, previousPage, toggleAll, toggleOne } from "../curation/pager";
import { ResultsTable } from "../curation/ResultsTable";
import { SnapshotsPanel } from "../curation/SnapshotsPanel";
import { StatsPanel } from "../curation/StatsPanel";
import { notify, notifyError } from "../state/notify";

type Tab = "find" | "duplicates" | "snapshots" | "stats";
const TABS: Array<{ id: Tab; text: string; icon: typeof Filter }> = [
  { id: "find", text: "Find and act", icon: Filter },
  { id: "duplicates", text: "Duplicates", icon: Copy },
  { id: "snapshots", text: "Snapshots", icon: Boxes },
  { id: "stats", text: "Statistics", icon: BarChart3 },
];

interface Context {
  access: CurationAccess;
  labels: ApiLabel[];
  members: Member[];
}

export function CurationPage(props: { params?: Record<string, string> }) {
  const slug = props.params?.slug ?? "";
  const [project, setProject] = useState<Project | null>(null);
  const [context, setContext] = useState<Context | null>(null);
  const [refused, setRefused] = useState<ApiError | null>(null);
  useEffect(() => {
    let live = true;
    setContext(null);
    setRefused(null);
    api.projects.get(slug).then(
      (p) => live && setProject(p),
      () => live && setProject(null),
    );
    (async () => {
      // The backend decides who curates: 403 role_required for other members, 404 for outsiders.
      const access = await api.curation.access(slug);
      const [labels, members] = await Promise.all([api.labels.list(slug), api.projects.members(slug)]);
      return { access, labels, members };
    })().then(
      (c) => live && setContext(c),
      (err: unknown) => live && setRefused(toApiError(err)),
    );
    return () => {
      live = false;
    };
  }, [slug]);
  return (
    <div class="page page--wide curation">
      <ProjectHeader slug={slug} project={project} here="Curation" />
      {!context && !refused && <PageState kind="loading">Loading curation…</PageState>}
      {refused && (
        <div data-testid="curation-refused">
          <PageState kind="error">
            {refused.message}
            {refused.code === "role_required" && <p class="muted small">Ask a project owner for the reviewer role to curate this project's data.</p>}
          </PageState>
        </div>
      )}
      {context && <Workspace slug={slug} context={context} />}
    </div>
  );
}

function Workspace(props: { slug: string; context: Context }) {
  const { slug } = props;
  const [tab, setTab] = useState<Tab>("find");
  const [builder, setBuilder] = useState<BuilderState>({ target: "case", scope: "project", conditions: [] });
  const [applied, setApplied] = useState<BuilderState>(builder);
  const [page, setPage] = useState<FindPage | null>(null);
  const [pager, setPager] = useState<Pager>(firstPage());
  const [pageSize, setPageSize] = useState(25);
  const [count, setCount] = useState<number | undefined>(undefined);
  const [selected, setSelected] = useState<Set<number>>(new Set());
  const [error, setError] = useState<ApiError | null>(null);
  const [busy, setBusy] = useState(false);
  // Counts finished searches (success or error), so a test or a screen reader can tell a new answer came.
  const [answers, setAnswers] = useState(0);
  const [tags, setTags] = useState<TagCount[]>([]);
  const [filters, setFilters] = useState<SavedFilter[]>([]);
  const request = useRef(0);

  const loadTags = () => api.curation.tags(slug).then(setTags, (err: unknown) => notifyError(err, "Tags"));
  useEffect(() => {
    void loadTags();
    api.curation.filters(slug).then(setFilters, (err: unknown) => notifyError(err, "Saved filters"));
    void run(builder, firstPage(), pageSize);
  }, [slug]);

  /** One page of the search `state` describes; errors stay next to the builder. */
  const run = async (state: BuilderState, at: Pager, size: number) => {
    const mine = ++request.current;
    setBusy(true);
    try {
      const cursor = currentCursor(at);
      const body = { filter: toDocument(state.target, state.conditions), limit: size, count: cursor === null, ...(cursor ? { cursor } : {}) };
      const result = state.scope === "all" ? await api.curation.findAll(body) : await api.curation.find(slug, body);
      if (mine !== request.current) return;
      setPage(result);
      setPager(at);
      setApplied(state);
      if (result.count !== undefined) setCount(result.count);
      setError(null);
    } catch (err) {
      if (mine === request.current) setError(toApiError(err));
    } finally {
      if (mine === request.current) {
        setBusy(false);
        setAnswers((n) => n + 1);
      }
    }
  };
  /** A new search starts on its first page with nothing selected (pages and refreshes keep the selection). */
  const search = (state = builder) => {
    setSelected(new Set());
    void run(state, firstPage(), pageSize);
  };
  const loadSaved = (saved: SavedFilter) => {
    const loaded = fromDocument(saved.document);
    const next: BuilderState = { target: loaded.target, scope: "project", conditions: loaded.conditions };
    setBuilder(next);
    notify("info", `Filter "${saved.name}" loaded.`);
    search(next);
  };

  const target = page?.target ?? applied.target;
  const selectedIds = [...selected].sort((a, b) => a - b);
  return (
    <>
      <div class="subtabs" role="tablist" aria-label="Curation">
        {TABS.map((t) => (
          <button
            key={t.id}
            role="tab"
            id={`tab-${t.id}`}
            aria-selected={tab === t.id}
            aria-controls={`panel-${t.id}`}
            class={`subtabs__tab${tab === t.id ? " subtabs__tab--active" : ""}`}
            onClick={() => setTab(t.id)}
          >
            <t.icon size={15} aria-hidden="true" /> {t.text}
          </button>
        ))}
        <span class="subtabs__role muted small">signed in as {props.context.access.role}</span>
      </div>
      <div role="tabpanel" id={`panel-${tab}`} aria-labelledby={`tab-${tab}`}>
        {tab === "find" && (
          <>
            <div class="curation__top">
              <FilterBuilder
                slug={slug}
                state={builder}
                onChange={setBuilder}
                onSearch={() => search()}
                busy={busy}
                error={error}
                labels={props.context.labels}
                members={props.context.members}
                tags={tags}
              />
              <SavedFilters
                slug={slug}
                filters={filters}
                onFilters={setFilters}
                current={() => toDocument(builder.target, builder.conditions)}
                onLoad={loadSaved}
              />
            </div>
            {selected.size > 0 && (
              <BulkActions
                slug={slug}
                target={target}
                selected={selectedIds}
                members={props.context.members}
                tags={tags}
                onDone={() => {
                  void loadTags();
                  void run(applied, pager, pageSize);
                }}
              />
            )}
            {page ? (
              <ResultsTable
                slug={slug}
                scope={applied.scope}
                page={page}
                pager={pager}
                pageSize={pageSize}
                count={count}
                selected={selected}
                onToggle={(id) => setSelected(toggleOne(selected, id))}
                onToggleAll={(ids) => setSelected(toggleAll(selected, ids))}
                onNext={() => void run(applied, nextPage(pager, page.next_cursor), pageSize)}
                onPrevious={() => void run(applied, previousPage(pager), pageSize)}
                onPageSize={(n) => {
                  setPageSize(n);
                  void run(applied, firstPage(), n);
                }}
                labels={props.context.labels}
                busy={busy}
                answers={answers}
              />
            ) : (
              !error && <PageState kind="loading">Searching…</PageState>
            )}
          </>
        )}
        {tab === "duplicates" && <DuplicatesPanel slug={slug} />}
        {tab === "snapshots" && (
          <SnapshotsPanel
            slug={slug}
            filter={() => toDocument(builder.target, builder.conditions)}
            selectedCases={target === "case" && applied.scope === "project" ? selectedIds : []}
            labels={props.context.labels}
          />
        )}
        {tab === "stats" && <StatsPanel slug={slug} labels={props.context.labels} />}
      </div>
    </>
  );
}
