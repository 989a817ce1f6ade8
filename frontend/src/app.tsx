/**
 * The app shell: top bar, routes, and the sign-in guard. Every route needs a session; without one the
 * login form shows in place and returns to the same address afterwards.
 *
 * Routes (new pages slot in here):
 *   /                                  projects
 *   /projects/:slug                    studies and series of a project
 *   /projects/:slug/upload             study upload
 *   /projects/:slug/series/:seriesId   the viewer with AI and correction tools (?task=, ?annotation=)
 *   /projects/:slug/queue              "My queue": the reader's tasks, start next case
 *   /projects/:slug/review             review queue (reviewers, owners), project export
 *   /projects/:slug/review/:caseId     one case: reads compared, agreement, consensus, sign-off, export
 *   /projects/:slug/settings           labels (colour, SNOMED CT) and reading policy (owners)
 *   /projects/:slug/curation           dataset curation: find, bulk actions, duplicates, snapshots, statistics
 */

import { ErrorBoundary, LocationProvider, Route, Router, lazy, useLocation } from "preact-iso";
import { useEffect } from "preact/hooks";
import { LogOut } from "lucide-preact";
import { PageState, Toaster } from "./components/ui";
import { LoginPage } from "./pages/LoginPage";
import { NotFoundPage } from "./pages/NotFoundPage";
import { ProjectPage } from "./pages/ProjectPage";
import { ProjectsPage } from "./pages/ProjectsPage";
import { QueuePage } from "./pages/QueuePage";
import { ReviewQueuePage } from "./pages/ReviewQueuePage";
import { SettingsPage } from "./pages/SettingsPage";
import { UploadPage } from "./pages/UploadPage";
import { notifyError } from "./state/notify";
import { loadSession, logout, session } from "./state/session";
import { useStore } from "./state/store";

// The viewer is the heaviest page: load its code only when a series is opened.
const ViewerPage = lazy(() => import("./pages/ViewerPage").then((m) => m.ViewerPage));
const CaseReviewPage = lazy(() => import("./pages/CaseReviewPage").then((m) => m.CaseReviewPage));
const CurationPage = lazy(() => import("./pages/CurationPage").then((m) => m.CurationPage));

function TopBar() {
  const { user } = useStore(session);
  const { route, path } = useLocation();
  const onLogout = async () => {
    try {
      await logout();
    } catch (err) {
      notifyError(err, "Log out");
    }
    route("/login");
  };
  return (
    <header class="topbar">
      <a class="brand" href="/">
        <span class="brand__mark" aria-hidden="true" />
        ReadingRoom
      </a>
      <nav class="topbar__nav" aria-label="Main">
        <a href="/" class={path === "/" ? "active" : ""}>
          Projects
        </a>
      </nav>
      <div class="topbar__spacer" />
      {user && (
        <div class="topbar__user">
          <span class="avatar" style={{ background: user.display_color || "#3d8bfd" }} aria-hidden="true">
            {user.username.slice(0, 1).toUpperCase()}
          </span>
          <span class="topbar__username" data-testid="current-user">
            {user.username}
          </span>
          <button class="button button--ghost" onClick={onLogout}>
            <LogOut size={16} /> Log out
          </button>
        </div>
      )}
    </header>
  );
}

function Guarded() {
  const { status } = useStore(session);
  const { path, route, url } = useLocation();

  useEffect(() => {
    if (status === "signed-out" && path !== "/login") route(`/login?next=${encodeURIComponent(url)}`, true);
  }, [status, path]);

  if (status === "unknown") return <PageState kind="loading">Loading…</PageState>;
  if (status === "signed-out") return <LoginPage />;
  return (
    <div class="shell">
      <TopBar />
      <main class="shell__main">
        <ErrorBoundary>
          <Router>
            <Route path="/" component={ProjectsPage} />
            <Route path="/login" component={RedirectHome} />
            <Route path="/projects/:slug" component={ProjectPage} />
            <Route path="/projects/:slug/upload" component={UploadPage} />
            <Route path="/projects/:slug/series/:seriesId" component={ViewerPage} />
            <Route path="/projects/:slug/queue" component={QueuePage} />
            <Route path="/projects/:slug/review" component={ReviewQueuePage} />
            <Route path="/projects/:slug/review/:caseId" component={CaseReviewPage} />
            <Route path="/projects/:slug/settings" component={SettingsPage} />
            <Route path="/projects/:slug/curation" component={CurationPage} />
            <Route default component={NotFoundPage} />
          </Router>
        </ErrorBoundary>
      </main>
    </div>
  );
}

function RedirectHome() {
  const { route, query } = useLocation();
  useEffect(() => {
    const next = query.next && query.next.startsWith("/") && !query.next.startsWith("//") ? query.next : "/";
    route(next, true);
  }, []);
  return null;
}

export function App() {
  useEffect(() => {
    loadSession().catch((err: unknown) => {
      notifyError(err, "Could not reach the server");
      session.set({ status: "signed-out", user: null });
    });
  }, []);
  return (
    <LocationProvider>
      <Guarded />
      <Toaster />
    </LocationProvider>
  );
}
