# syntax=docker/dockerfile:1.7
# ReadingRoom web (Daphne ASGI: HTTP API, WebSockets, the browser app via WhiteNoise) and the nginx image
# that terminates TLS and serves the static files itself in deploy/compose.yaml.
# Build from the repository root:
#   docker build -f deploy/docker/web.Dockerfile --target web   -t readingroom-web .
#   docker build -f deploy/docker/web.Dockerfile --target nginx -t readingroom-nginx .
ARG PYTHON_IMAGE=python:3.11-slim-bookworm
ARG NODE_IMAGE=node:22-bookworm-slim
ARG NGINX_IMAGE=nginx:1.27-alpine

# --- 1. the browser app: frontend/dist -------------------------------------------------------------
FROM ${NODE_IMAGE} AS frontend
WORKDIR /src/frontend
COPY frontend/package.json frontend/package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY frontend/ ./
RUN npm run build

# --- 2. Python dependencies in a venv (CPU torch: the web process imports model code, never runs a model)
FROM ${PYTHON_IMAGE} AS build
ARG TORCH_VERSION=2.13.0
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PATH=/opt/venv/bin:$PATH
RUN python -m venv /opt/venv
RUN pip install "torch==${TORCH_VERSION}" --index-url "${TORCH_INDEX_URL}"
WORKDIR /app
COPY pyproject.toml ./
# The project's own dependencies (not the project: the code runs from /app, where settings expect it).
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" \
        > /tmp/requirements.txt \
    && pip install -r /tmp/requirements.txt
COPY manage.py ./
COPY backend/ backend/
COPY workers/ workers/
COPY models/ models/
COPY deploy/docker/entrypoint.sh deploy/docker/healthcheck.py deploy/docker/
COPY --from=frontend /src/frontend/dist frontend/dist
# Static files (Django admin + the browser app) are collected at build time; WhiteNoise serves them from the
# web image and nginx from its own copy. The values below only let settings import; nothing connects.
RUN DEBUG=1 READINGROOM_VAR_DIR=/build/var DATABASE_URL=postgres://build@localhost/build \
        REDIS_URL=redis://localhost:6379/0 python manage.py collectstatic --noinput \
    && python -m compileall -q backend workers models

# --- 3. web runtime: non-root, read-only code, health from /healthz --------------------------------
FROM ${PYTHON_IMAGE} AS web
RUN groupadd --system --gid 10001 readingroom \
    && useradd --system --uid 10001 --gid readingroom --home-dir /app --no-create-home --shell /usr/sbin/nologin readingroom \
    && install -d -o readingroom -g readingroom /var/lib/readingroom /var/lib/readingroom/uploads
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    DJANGO_SETTINGS_MODULE=backend.config.settings \
    READINGROOM_VAR_DIR=/var/lib/readingroom \
    TRUST_X_FORWARDED_PROTO=1 \
    PORT=8000
COPY --from=build /opt/venv /opt/venv
COPY --from=build /app /app
COPY --from=build /build/var/static /var/lib/readingroom/static
WORKDIR /app
USER readingroom:readingroom
EXPOSE 8000
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "/app/deploy/docker/healthcheck.py", "web"]
ENTRYPOINT ["/app/deploy/docker/entrypoint.sh"]
CMD ["web"]

# --- 4. nginx with the collected static files (TLS termination + WebSocket proxy: deploy/nginx/) ----
FROM ${NGINX_IMAGE} AS nginx
COPY --from=build /build/var/static /srv/static
COPY deploy/nginx/readingroom.conf /etc/nginx/conf.d/default.conf
# nginx:alpine's master runs as root to bind 443 and drops workers to the unprivileged `nginx` user.
HEALTHCHECK --interval=15s --timeout=5s --start-period=10s --retries=3 \
    CMD ["wget", "-q", "-O", "/dev/null", "http://127.0.0.1:8080/nginx-health"]
EXPOSE 80 443
