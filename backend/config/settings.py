"""ReadingRoom settings: one module, every value read from the environment.

Production behaviour is switched by environment variables, never by extra settings modules.
"""

from __future__ import annotations

from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

from backend.config.env import (
    env_bool,
    env_int,
    env_list,
    env_str,
    parse_database_url,
    validate_redis_url,
)

BASE_DIR = Path(__file__).resolve().parents[2]
VAR_DIR = Path(env_str("READINGROOM_VAR_DIR") or BASE_DIR / "var")

DEBUG = env_bool("DEBUG", False)

_secret = env_str("SECRET_KEY", allow_file=True)
if not _secret:
    if not DEBUG:
        raise ImproperlyConfigured("SECRET_KEY (or SECRET_KEY_FILE) must be set when DEBUG is off.")
    _secret = "insecure-development-key-only-used-with-DEBUG-on-" + "x" * 16
SECRET_KEY: str = _secret

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]"] if DEBUG else [])
if not DEBUG and not ALLOWED_HOSTS:
    raise ImproperlyConfigured("ALLOWED_HOSTS must be set when DEBUG is off, e.g. ALLOWED_HOSTS=annotate.example.org.")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])
for _origin in CSRF_TRUSTED_ORIGINS:
    if not _origin.startswith(("http://", "https://")):
        raise ImproperlyConfigured(f"CSRF_TRUSTED_ORIGINS item {_origin!r} must start with http:// or https://.")

_database_url = env_str("DATABASE_URL", allow_file=True)
if not _database_url:
    raise ImproperlyConfigured(
        "DATABASE_URL is not set. Start through `make run` / `make test` (they start an embedded PostgreSQL) "
        "or point it at a server: DATABASE_URL=postgres://user:pass@host:5432/readingroom."
    )
DATABASES = {"default": parse_database_url("DATABASE_URL", _database_url).as_django()}

_redis_url = env_str("REDIS_URL", allow_file=True)
if not _redis_url:
    raise ImproperlyConfigured(
        "REDIS_URL is not set. Start through `make run` / `make test` (they start an embedded Redis) "
        "or point it at a server: REDIS_URL=redis://host:6379/0."
    )
REDIS_URL = validate_redis_url("REDIS_URL", _redis_url)

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "channels",
    "backend.accounts",
    "backend.audit",
    "backend.annotation",
    "backend.imaging",
    "backend.segmentation",
    "backend.realtime",
    "backend.web",
    "backend.curation",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "backend.common.middleware.RequestIdMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "backend.config.urls"
ASGI_APPLICATION = "backend.config.asgi.application"
WSGI_APPLICATION = "backend.config.wsgi.application"
AUTH_USER_MODEL = "accounts.User"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ]
        },
    }
]

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 10}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = VAR_DIR / "static"
FRONTEND_DIST = BASE_DIR / "frontend" / "dist"
STATICFILES_DIRS = [FRONTEND_DIST] if FRONTEND_DIST.is_dir() else []

# Files: a local folder by default; S3-compatible object storage when STORAGE_BACKEND=s3.
STORAGE_BACKEND = env_str("STORAGE_BACKEND", "local") or "local"
if STORAGE_BACKEND == "local":
    MEDIA_ROOT = Path(env_str("STORAGE_LOCAL_ROOT") or VAR_DIR / "media")
    _default_storage: dict[str, object] = {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": str(MEDIA_ROOT)},
    }
elif STORAGE_BACKEND == "s3":
    _bucket = env_str("S3_BUCKET")
    if not _bucket:
        raise ImproperlyConfigured("STORAGE_BACKEND=s3 needs S3_BUCKET.")
    _default_storage = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": _bucket,
            "endpoint_url": env_str("S3_ENDPOINT_URL"),
            "region_name": env_str("S3_REGION"),
            "access_key": env_str("S3_ACCESS_KEY_ID", allow_file=True),
            "secret_key": env_str("S3_SECRET_ACCESS_KEY", allow_file=True),
            "default_acl": None,
            "file_overwrite": False,
            "querystring_auth": True,
        },
    }
    MEDIA_ROOT = VAR_DIR / "media"
else:
    raise ImproperlyConfigured(f"STORAGE_BACKEND={STORAGE_BACKEND!r} must be 'local' or 's3'.")
STORAGES = {
    "default": _default_storage,
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}

CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": env_str("REDIS_KEY_PREFIX", "rr") or "rr",
    }
}
SESSION_ENGINE = "django.contrib.sessions.backends.db"

CHANNEL_LAYERS = {
    "default": {
        "BACKEND": "channels_redis.core.RedisChannelLayer",
        "CONFIG": {"hosts": [REDIS_URL], "prefix": (env_str("REDIS_KEY_PREFIX", "rr") or "rr") + ":asgi"},
    }
}

# Security: secure by default; DEBUG (make run) relaxes only what plain-HTTP localhost needs.
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", not DEBUG)
SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", not DEBUG)
CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", not DEBUG)
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 0 if DEBUG else 31536000, minimum=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", not DEBUG)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", False)
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if env_bool("TRUST_X_FORWARDED_PROTO", False) else None
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
X_FRAME_OPTIONS = "DENY"
CSRF_FAILURE_VIEW = "backend.common.errors.csrf_failure"
SILENCED_SYSTEM_CHECKS: list[str] = []
if not SECURE_HSTS_PRELOAD:
    # Preload is an irreversible, domain-wide decision the operator must take explicitly.
    SILENCED_SYSTEM_CHECKS.append("security.W021")

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "backend.accounts.authentication.ApiTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "backend.common.errors.api_exception_handler",
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
    # `?format=` belongs to our export endpoints, not to renderer negotiation.
    "URL_FORMAT_OVERRIDE": None,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "ReadingRoom API",
    "DESCRIPTION": "Collaborative annotation of medical images. Errors have the shape {code, message, extra}.",
    "VERSION": "0.1.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    "ENUM_NAME_OVERRIDES": {
        "ConsensusMethodEnum": "backend.annotation.models.ConsensusMethod",
        "MaskSourceEnum": "backend.annotation.models.MaskSource",
        "ProjectRoleEnum": "backend.accounts.models.ProjectRole",
    },
}

# Celery: three queues so interactive prompts never wait behind bulk work.
CELERY_BROKER_URL = REDIS_URL
CELERY_RESULT_BACKEND = REDIS_URL
CELERY_TASK_ALWAYS_EAGER = False
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_DEFAULT_QUEUE = "io"
CELERY_RESULT_EXPIRES = 3600
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Redis redelivers unacked tasks after the visibility timeout; it must exceed the longest time limit.
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": env_int("CELERY_VISIBILITY_TIMEOUT", 7200, minimum=60)}
# (soft, hard) seconds per queue; tasks take theirs from their queue (backend.common.tasks).
CELERY_QUEUE_TIME_LIMITS = {
    "interactive": (
        env_int("CELERY_INTERACTIVE_SOFT_S", 60, minimum=1),
        env_int("CELERY_INTERACTIVE_HARD_S", 90, minimum=1),
    ),
    "embed": (env_int("CELERY_EMBED_SOFT_S", 1800, minimum=1), env_int("CELERY_EMBED_HARD_S", 1900, minimum=1)),
    "io": (env_int("CELERY_IO_SOFT_S", 3600, minimum=1), env_int("CELERY_IO_HARD_S", 3700, minimum=1)),
}
CELERY_MAX_ATTEMPTS = env_int("CELERY_MAX_ATTEMPTS", 2, minimum=1)

# Imaging: caps are checked before any decoding, from the headers.
IMAGING_MAX_PIXEL_BYTES = env_int("IMAGING_MAX_PIXEL_BYTES", 1 << 30, minimum=1 << 20)
IMAGING_MAX_UPLOAD_BYTES = env_int("IMAGING_MAX_UPLOAD_BYTES", 4 << 30, minimum=1 << 20)
IMAGING_MAX_ZIP_MEMBERS = env_int("IMAGING_MAX_ZIP_MEMBERS", 20000, minimum=1)
IMAGING_MAX_ZIP_EXPANDED_BYTES = env_int("IMAGING_MAX_ZIP_EXPANDED_BYTES", 8 << 30, minimum=1 << 20)
IMAGING_SYNC_UPLOAD_BYTES = env_int("IMAGING_SYNC_UPLOAD_BYTES", 64 << 20, minimum=0)
# Uploads stream to disk past 2.5 MiB, so a large request never sits in memory.
FILE_UPLOAD_MAX_MEMORY_SIZE = 2_621_440
DATA_UPLOAD_MAX_MEMORY_SIZE = 2_621_440
FILE_UPLOAD_TEMP_DIR = str(VAR_DIR / "uploads") if (VAR_DIR / "uploads").is_dir() else None

# Segmentation engine.
SEGMENTATION_DEFAULT_MODEL = env_str("SEGMENTATION_DEFAULT_MODEL", "litemedsam") or "litemedsam"
SEGMENTATION_DEVICE = env_str("SEGMENTATION_DEVICE", "auto") or "auto"
if SEGMENTATION_DEVICE not in {"auto", "cpu", "cuda"} and not SEGMENTATION_DEVICE.startswith("cuda:"):
    raise ImproperlyConfigured(f"SEGMENTATION_DEVICE={SEGMENTATION_DEVICE!r} must be auto, cpu, cuda or cuda:N.")
SEGMENTATION_OPTIMIZE = env_str("SEGMENTATION_OPTIMIZE", "auto") or "auto"
if SEGMENTATION_OPTIMIZE not in {"none", "auto", "fp32", "bf16", "fp16", "int8", "compile"}:
    raise ImproperlyConfigured(f"SEGMENTATION_OPTIMIZE={SEGMENTATION_OPTIMIZE!r} is not a known encoder route.")
SEGMENTATION_EMBED_BATCH = env_int("SEGMENTATION_EMBED_BATCH", 4, minimum=1)
SEGMENTATION_PRECOMPUTE_ON_INGEST = env_bool("SEGMENTATION_PRECOMPUTE_ON_INGEST", True)
SEGMENTATION_PROMPT_TIMEOUT_S = env_int("SEGMENTATION_PROMPT_TIMEOUT_S", 60, minimum=1)
EMBED_CACHE_STORAGE_BYTES = env_int("EMBED_CACHE_STORAGE_BYTES", 4 << 30, minimum=1 << 20)
EMBED_CACHE_MEMORY_BYTES = env_int("EMBED_CACHE_MEMORY_BYTES", 512 << 20, minimum=0)

LOGIN_RATE_LIMIT_ATTEMPTS = env_int("LOGIN_RATE_LIMIT_ATTEMPTS", 5, minimum=1)
LOGIN_RATE_LIMIT_WINDOW_S = env_int("LOGIN_RATE_LIMIT_WINDOW_S", 900, minimum=1)
WORKER_HEARTBEAT_TTL_S = env_int("WORKER_HEARTBEAT_TTL_S", 30, minimum=5)
# A bulk (embed/io) worker sharing cores with an interactive one runs niced, so a prompt preempts an
# embedding batch instead of queueing for a time slice; 0 leaves the priority alone.
WORKER_NICE = env_int("WORKER_NICE", 0, minimum=0)
if WORKER_NICE > 19:
    raise ImproperlyConfigured(f"WORKER_NICE={WORKER_NICE} must be 0..19.")
# Stronger than any nice value: the worker's processes run only on cores nothing else wants (Linux SCHED_IDLE).
WORKER_SCHED_IDLE = env_bool("WORKER_SCHED_IDLE", False)
# Torch intra-op threads per worker process (0: torch's default, one per core).
WORKER_TORCH_THREADS = env_int("WORKER_TORCH_THREADS", 0, minimum=0)
# Seconds a worker keeps its database connection between tasks (health-checked before each task); the
# ASGI web process keeps Django's one connection per request.
WORKER_DB_CONN_MAX_AGE = env_int("WORKER_DB_CONN_MAX_AGE", 300, minimum=0)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO") or "INFO"},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}
