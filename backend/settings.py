"""Montage settings: one file, every value from the environment, defaults that make `make run` work."""

import os
from pathlib import Path

import dj_database_url

BASE_DIR = Path(__file__).resolve().parent.parent


def env_bool(name: str, default: bool) -> bool:
    return os.environ.get(name, str(default)).strip().lower() in {"1", "true", "yes", "on"}


def env_int(name: str, default: int) -> int:
    return int(os.environ.get(name, default))


def env_list(name: str, default: str) -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


DEBUG = env_bool("DEBUG", True)
# The fallback key is only good for a local DEBUG run; any real deployment sets SECRET_KEY.
SECRET_KEY = os.environ.get("SECRET_KEY", "montage-insecure-local-development-key-change-me")
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "127.0.0.1,localhost,testserver,[::1]")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", "")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "videos",  # before staticfiles: its runserver (start tasks once bound) wins
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "drf_spectacular_sidecar",
]

MIDDLEWARE = [
    "videos.middleware.RequestTimingMiddleware",
    "django.middleware.security.SecurityMiddleware",
    # Static files from the web process itself (gunicorn alone serves the pages; collectstatic first).
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "videos.middleware.ApiErrorMiddleware",
]
CSRF_FAILURE_VIEW = "videos.api.errors.csrf_failure"

ROOT_URLCONF = "backend.urls"
WSGI_APPLICATION = "backend.wsgi.application"
ASGI_APPLICATION = "backend.asgi.application"
# Every API path answers with and without its trailing slash; no redirects (a 301 loses a POST body).
APPEND_SLASH = False

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# Database: SQLite file by default (WAL, IMMEDIATE transactions, short lock waits); DATABASE_URL for PostgreSQL.
DATA_DIR = Path(os.environ.get("DATA_DIR", BASE_DIR / "var"))
DATABASE_URL = os.environ.get("DATABASE_URL", f"sqlite:///{DATA_DIR / 'montage.sqlite3'}")
# CONN_MAX_AGE > 0 keeps each thread's connection (worth it on PostgreSQL, where a connection is a process).
DATABASES = {
    "default": dj_database_url.parse(DATABASE_URL, conn_max_age=env_int("CONN_MAX_AGE", 0), conn_health_checks=True)
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    Path(DATABASES["default"]["NAME"]).parent.mkdir(parents=True, exist_ok=True)
    DATABASES["default"]["ENGINE"] = "backend.sqlite"  # Django's, with short waits for the write lock
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 30,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
    # Tests use a file too: task threads and server subprocesses must see the same database.
    # One file per test run (pid), so that several runs at once never share a database.
    DATABASES["default"]["TEST"] = {"NAME": str(DATA_DIR / f"test-montage-{os.getpid()}.sqlite3")}
else:
    DATABASES["default"]["TEST"] = {"NAME": os.environ.get("TEST_DATABASE_NAME", f"test_montage_{os.getpid()}")}

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# The cache holds the request throttles' counters. A per-process cache (LocMem) would give each of
# N gunicorn workers its own counters: N times the rate. The database is the store every process
# shares already (migration 0002 creates the table; `make install` also runs `createcachetable`).
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.db.DatabaseCache",
        "LOCATION": os.environ.get("CACHE_TABLE", "montage_cache"),
    }
}

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
]
# Database sessions that never look up a cookie no session key can be (videos/sessions.py).
SESSION_ENGINE = "videos.sessions"
LOGIN_URL = "/accounts/login/"
LOGIN_REDIRECT_URL = "/"
# Password reset mails: printed on the server's console by default, so a reset works on a fresh machine
# with no mail server (the link is in `make run`'s output). Set EMAIL_BACKEND=smtp and the EMAIL_* below for real mail.
_EMAIL_BACKENDS = {"console": "django.core.mail.backends.console.EmailBackend",
                   "smtp": "django.core.mail.backends.smtp.EmailBackend"}  # fmt: skip
EMAIL_BACKEND = _EMAIL_BACKENDS.get(os.environ.get("EMAIL_BACKEND", "console"), os.environ.get("EMAIL_BACKEND", ""))
EMAIL_HOST = os.environ.get("EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("EMAIL_PORT", 25)
EMAIL_HOST_USER = os.environ.get("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = os.environ.get("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "montage@localhost")
LOGOUT_REDIRECT_URL = "/accounts/login/"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = Path(os.environ.get("STATIC_ROOT", BASE_DIR / "staticfiles"))
MEDIA_ROOT = Path(os.environ.get("MEDIA_ROOT", DATA_DIR / "media"))
MEDIA_URL = "/media/"
MAX_UPLOAD_MB = env_int("MAX_UPLOAD_MB", 500)
DATA_UPLOAD_MAX_MEMORY_SIZE = 10 * 1024 * 1024
FILE_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024 * 1024
# Upload temporary files (default MEDIA_ROOT/tmp/uploads: the same disk, so storing is a rename).
UPLOAD_TMP_DIR = os.environ.get("UPLOAD_TMP_DIR", "")
# /healthz says "degraded" when the media disk has less free space than this.
MIN_FREE_DISK_MB = env_int("MIN_FREE_DISK_MB", 1024)
# Per-task scratch space; kept across attempts so a resumed task reuses finished steps' files.
TASK_TMP_ROOT = Path(os.environ.get("TASK_TMP_ROOT", MEDIA_ROOT / "tmp" / "tasks"))

# The task system.
# threads: the TaskManager's threads in the serving process (and any `runworker`); celery: Celery
# workers run the jobs and web processes run none; immediate: inline at commit (tests, scripts).
TASK_BACKEND = os.environ.get("TASK_BACKEND", "threads")
TASK_WORKERS = env_int("TASK_WORKERS", 2)
TASK_AUTOSTART = os.environ.get("TASK_AUTOSTART", "auto")  # auto | 1 | 0
MAX_CONCURRENT_TASKS_PER_USER = env_int("MAX_CONCURRENT_TASKS_PER_USER", 5)
MAX_GLOBAL_CONCURRENT_TASKS = env_int("MAX_GLOBAL_CONCURRENT_TASKS", 20)
TASK_LEASE_SECONDS = env_int("TASK_LEASE_SECONDS", 30)
TASK_MAX_ATTEMPTS = env_int("TASK_MAX_ATTEMPTS", 3)
TASK_TIMEOUT_SECONDS = env_int("TASK_TIMEOUT_SECONDS", 6 * 3600)
TASK_RETENTION_DAYS = env_int("TASK_RETENTION_DAYS", 30)
TASK_POLL_SECONDS = float(os.environ.get("TASK_POLL_SECONDS", "1.0"))
TASK_PROGRESS_INTERVAL = float(os.environ.get("TASK_PROGRESS_INTERVAL", "0.25"))
# TASK_BACKEND=celery: the broker (Redis by default; RabbitMQ: amqp://user:password@host:5672//).
TASK_CELERY_APP = "backend.celery.app"  # the Celery app the web side sends with
CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL", "redis://127.0.0.1:6379/0")
CELERY_TASK_DEFAULT_QUEUE = os.environ.get("CELERY_QUEUE", "montage")
# Extra modules whose @job functions register kinds (tests add slow demo jobs this way).
TASK_EXTRA_JOB_MODULES = env_list("TASK_EXTRA_JOB_MODULES", "")
SLOW_REQUEST_MS = env_int("SLOW_REQUEST_MS", 500)
SYNC_PROCESS_TIMEOUT_SECONDS = env_int("SYNC_PROCESS_TIMEOUT_SECONDS", 120)

# Composition bounds, checked at the POST from the stored rows: work is proportional to clips and
# output length, and an output can be composed again (10,000 clips once made 5.5 hours from 55 KB).
MAX_COMPOSITION_CLIPS = env_int("MAX_COMPOSITION_CLIPS", 200)
MAX_OUTPUT_DURATION_S = env_int("MAX_OUTPUT_DURATION_S", 4 * 3600)
# Idempotent starts and webhooks.
IDEMPOTENCY_TTL_HOURS = float(os.environ.get("IDEMPOTENCY_TTL_HOURS", "24"))
WEBHOOK_TIMEOUT_S = float(os.environ.get("WEBHOOK_TIMEOUT_S", "10"))
WEBHOOK_MAX_ATTEMPTS = env_int("WEBHOOK_MAX_ATTEMPTS", 8)
WEBHOOK_RETRY_BASE_S = float(os.environ.get("WEBHOOK_RETRY_BASE_S", "5"))  # first retry after ~this, then x4
WEBHOOK_PROGRESS_INTERVAL_S = float(os.environ.get("WEBHOOK_PROGRESS_INTERVAL_S", "5"))
WEBHOOK_ALLOW_PRIVATE_NETWORKS = env_bool("WEBHOOK_ALLOW_PRIVATE_NETWORKS", False)
WEBHOOK_SENDER_THREADS = env_int("WEBHOOK_SENDER_THREADS", 4)
WEBHOOK_POLL_SECONDS = float(os.environ.get("WEBHOOK_POLL_SECONDS", "1.0"))
# Imports from a URL (yt-dlp): the webhooks' address rule, its own switch; a download with no new
# bytes for IMPORT_STALL_TIMEOUT_S fails (also the socket timeout). MAX_UPLOAD_MB bounds the size.
IMPORT_ALLOW_PRIVATE_NETWORKS = env_bool("IMPORT_ALLOW_PRIVATE_NETWORKS", False)
IMPORT_STALL_TIMEOUT_S = float(os.environ.get("IMPORT_STALL_TIMEOUT_S", "60"))

# Media and engines.
FFMPEG_BINARY = os.environ.get("FFMPEG_BINARY", "ffmpeg")
FFPROBE_BINARY = os.environ.get("FFPROBE_BINARY", "ffprobe")
FFMPEG_PRESET = os.environ.get("FFMPEG_PRESET", "veryfast")
TRANSCRIPTION_ENGINE = os.environ.get("TRANSCRIPTION_ENGINE", "auto")  # auto | whisper | openai
# Local Whisper (faster-whisper): a CTranslate2 model directory; empty = the bundled tiny.en.
WHISPER_MODEL = os.environ.get("WHISPER_MODEL", "")
WHISPER_DEVICE = os.environ.get("WHISPER_DEVICE", "cpu")  # cpu | cuda
WHISPER_COMPUTE_TYPE = os.environ.get("WHISPER_COMPUTE_TYPE", "")  # empty: int8 on cpu, float16 on cuda
WHISPER_THREADS = env_int("WHISPER_THREADS", 0)  # 0: the cores shared among TASK_WORKERS
WHISPER_VAD = env_bool("WHISPER_VAD", True)  # voice activity detection: silences skipped
WHISPER_BEAM_SIZE = env_int("WHISPER_BEAM_SIZE", 5)
# A window whose text compresses better than this is decoded again at a higher temperature (Whisper's
# loop guard). Whisper's 2.4 also catches real repeated speech (a refrain, a sentence said twice) and the
# random re-decodes then drop whole windows; 4.0 still catches a looping hallucination (docs/BENCHMARKS.md).
WHISPER_COMPRESSION_RATIO_THRESHOLD = float(os.environ.get("WHISPER_COMPRESSION_RATIO_THRESHOLD", "4.0"))
# The rules paragraph engine: a new paragraph at a pause this long, at a sentence end followed by a
# shorter pause, at a sentence end once the paragraph is past the target length; hard limits after that.
PARAGRAPH_LONG_PAUSE_S = float(os.environ.get("PARAGRAPH_LONG_PAUSE_S", "2.0"))
PARAGRAPH_SENTENCE_PAUSE_S = float(os.environ.get("PARAGRAPH_SENTENCE_PAUSE_S", "0.8"))
PARAGRAPH_TARGET_CHARS = env_int("PARAGRAPH_TARGET_CHARS", 400)
PARAGRAPH_MAX_CHARS = env_int("PARAGRAPH_MAX_CHARS", 700)
PARAGRAPH_MAX_SECONDS = float(os.environ.get("PARAGRAPH_MAX_SECONDS", "90"))
PARAGRAPH_ENGINE = os.environ.get("PARAGRAPH_ENGINE", "auto")  # auto | openai | rules
OPENAI_API_KEY = os.environ.get("OPENAI_API_KEY", "")
OPENAI_BASE_URL = os.environ.get("OPENAI_BASE_URL", "") or None
OPENAI_TRANSCRIPTION_MODEL = os.environ.get("OPENAI_TRANSCRIPTION_MODEL", "whisper-1")
OPENAI_CHAT_MODEL = os.environ.get("OPENAI_CHAT_MODEL", "gpt-4o-mini")
# Azure OpenAI (the seed system's engine): OPENAI_API_TYPE=azure reaches deployments through the
# official client's AzureOpenAI class; the deployment names stand where the model names do, and the
# Azure key turns the OpenAI engines on like OPENAI_API_KEY does.
OPENAI_API_TYPE = os.environ.get("OPENAI_API_TYPE", "openai").strip().lower()  # openai | azure
AZURE_OPENAI_ENDPOINT = os.environ.get("AZURE_OPENAI_ENDPOINT", "")
AZURE_OPENAI_API_KEY = os.environ.get("AZURE_OPENAI_API_KEY", "")
AZURE_OPENAI_API_VERSION = os.environ.get("AZURE_OPENAI_API_VERSION", "2024-06-01")
AZURE_OPENAI_WHISPER_DEPLOYMENT = os.environ.get("AZURE_OPENAI_WHISPER_DEPLOYMENT", "whisper")
AZURE_OPENAI_CHAT_DEPLOYMENT = os.environ.get("AZURE_OPENAI_CHAT_DEPLOYMENT", "gpt-4o-mini")
if OPENAI_API_TYPE == "azure":
    OPENAI_API_KEY = AZURE_OPENAI_API_KEY or OPENAI_API_KEY
    OPENAI_TRANSCRIPTION_MODEL = AZURE_OPENAI_WHISPER_DEPLOYMENT
    OPENAI_CHAT_MODEL = AZURE_OPENAI_CHAT_DEPLOYMENT

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        # Token first so that a missing credential answers 401 with WWW-Authenticate, not 403.
        "videos.api.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    # JSON with a size and nesting cap (deep nesting was a RecursionError, a 500).
    "DEFAULT_PARSER_CLASSES": [
        "videos.api.parsers.BoundedJSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "DEFAULT_PAGINATION_CLASS": "videos.api.pagination.StrictPageNumberPagination",
    "PAGE_SIZE": env_int("API_PAGE_SIZE", 20),
    "EXCEPTION_HANDLER": "videos.api.errors.exception_handler",
    "DEFAULT_SCHEMA_CLASS": "videos.api.schema.MontageAutoSchema",
    "DEFAULT_THROTTLE_CLASSES": [
        "rest_framework.throttling.AnonRateThrottle",
        "rest_framework.throttling.UserRateThrottle",
    ],
    "DEFAULT_THROTTLE_RATES": {
        "anon": os.environ.get("THROTTLE_ANON", "120/min"),
        "user": os.environ.get("THROTTLE_USER", "3000/min"),
    },
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
}

SPECTACULAR_SETTINGS = {
    "TITLE": "Montage API",
    "DESCRIPTION": "Long-running video work as tracked background tasks.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "PREPROCESSING_HOOKS": ["videos.api.schema.drop_slashless_twins"],
    # Videos and tasks both have a `status` (tasks and their steps share one choice set): name each.
    "ENUM_NAME_OVERRIDES": {
        "VideoStatusEnum": "videos.models.Video.Status",
        "TaskStatusEnum": "videos.models.ProcessingTask.Status",
    },
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}, "faster_whisper": {"level": "WARNING"}},
}
