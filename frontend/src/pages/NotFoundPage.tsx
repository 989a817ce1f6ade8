export function NotFoundPage() {
  return (
    <div class="page">
      <div class="page-state page-state--empty">
        <div>
          <h1>Page not found</h1>
          <p class="muted">
            Nothing lives at this address. <a href="/">Back to the projects</a>.
          </p>
        </div>
      </div>
    </div>
  );
}
