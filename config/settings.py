"""Vigil settings: every value comes from the environment (README lists each variable).

Defaults run locally; production differs only by environment variables. Bad values fail
loudly at start-up (django-environ raises on unparsable ones).
"""

from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

from config.stackenv import stack_env_read

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def env_flag(name: str, default: bool) -> bool:
    """A boolean variable; anything but a clear yes/no stops start-up.

    django-environ's own env.bool() reads a typo such as DEBUG=ture as False, silently.
    """
    raw = env.str(name, default=str(default)).strip().lower()
    if raw not in _TRUE | _FALSE:
        raise ImproperlyConfigured(f"{name}={raw!r} is not a boolean; use true/false, 1/0, yes/no or on/off.")
    return raw in _TRUE


DEBUG = env_flag("DEBUG", default=False)
SECRET_KEY = env.str(
    "SECRET_KEY", default="django-insecure-vigil-local-only-set-SECRET_KEY-in-production-3f9a1c7e"
)
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "[::1]"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "apps.accounts",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",  # Swagger UI served from our static files: no CDN at run time
    "channels",
    "csp",
    "apps.projects",
    "apps.audit",
    "apps.ops",
    "apps.dashboards",
    "apps.ingestion",
    "apps.logs",
    "apps.metrics",
    "apps.traces",
    "apps.alerts",
    "apps.billing",
    "apps.notifications",
    "apps.errors",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "apps.ops.middleware.RequestIdMiddleware",
    "apps.ops.metrics.RequestMetricsMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # Login is required by default; public views are marked with @login_not_required.
    "django.contrib.auth.middleware.LoginRequiredMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
]

ROOT_URLCONF = "config.urls"
ASGI_APPLICATION = "config.asgi.application"

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
                "apps.projects.context_processors.organizations",
            ],
        },
    },
]

# A variable left unset is taken from the running `make run` stack (config/stackenv.py); with neither,
# there is no database rather than a guess at 127.0.0.1:5432 (config/no_database explains).
STACK = stack_env_read()
DATABASE_URL = env.str("DATABASE_URL", default="") or STACK.get("DATABASE_URL", "")
if DATABASE_URL:
    DATABASES = {"default": env.db_url_config(DATABASE_URL)}
else:
    DATABASES = {"default": {"ENGINE": "config.no_database", "NAME": "vigil"}}
DATABASES["default"]["CONN_MAX_AGE"] = env.int("DATABASE_CONN_MAX_AGE", default=0)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
if env_flag("DATABASE_POOL", default=False):
    # Web processes: psycopg's pool instead of a new connection per request (Django warns against
    # persistent connections under ASGI). Not for Celery: forked pool children would inherit its threads.
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = False
    DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
        "min_size": 1,
        "max_size": env.int("DATABASE_POOL_MAX_SIZE", default=8),
        "timeout": 5,
    }
# Fail fast instead of hanging when PostgreSQL is unreachable (/health/ready must answer);
# a connect_timeout in DATABASE_URL wins.
DATABASES["default"].setdefault("OPTIONS", {}).setdefault("connect_timeout", 5)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
# The role the app runs as, when migrations run as a separate owner role (apps/audit/roles.py).
DATABASE_RUNTIME_ROLE = env.str("DATABASE_RUNTIME_ROLE", default="") or STACK.get("DATABASE_RUNTIME_ROLE", "")

REDIS_URL = env.str("REDIS_URL", default="") or STACK.get("REDIS_URL", "redis://127.0.0.1:6379/0")
# Where users open Vigil, for links printed by commands (`manage.py demo`); `make run` records its own.
VIGIL_URL = (env.str("VIGIL_URL", default="") or STACK.get("VIGIL_URL", "")).rstrip("/")
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": "vigil",
        "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1},
    }
}
CHANNEL_LAYERS = {
    "default": {
        "BACKEND": "channels_redis.core.RedisChannelLayer",
        # Each consumer waits in a blocking BZPOPMIN of 5 s: redis-py 8's default 5 s read timeout
        # fails it and drops every idle WebSocket (django/channels_redis#422), and any finite read
        # timeout can swallow the cancellation of a closing consumer (uvicorn then never exits).
        # No read timeout, as before redis-py 8; TCP keepalive still detects a dead peer.
        "CONFIG": {"hosts": [{"address": REDIS_URL, "socket_timeout": None}], "prefix": "vigil:channels"},
    }
}

CELERY_BROKER_URL = REDIS_URL
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TIMEZONE = "UTC"

AUTH_USER_MODEL = "accounts.User"
AUTHENTICATION_BACKENDS = ["django.contrib.auth.backends.ModelBackend"]
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 10}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "accounts:login"
LOGIN_REDIRECT_URL = "projects:home"
LOGOUT_REDIRECT_URL = "accounts:login"
PASSWORD_RESET_TIMEOUT = 60 * 60 * 3
# Failed logins allowed per (client IP, email) and per client IP before a cool-down.
LOGIN_THROTTLE_PER_ACCOUNT = env.int("LOGIN_THROTTLE_PER_ACCOUNT", default=5)
LOGIN_THROTTLE_PER_IP = env.int("LOGIN_THROTTLE_PER_IP", default=30)
LOGIN_THROTTLE_WINDOW_SECONDS = 15 * 60
LOGIN_BACKOFF_AFTER = env.int("LOGIN_BACKOFF_AFTER", default=10)
LOGIN_BACKOFF_MAX_SECONDS = env.int("LOGIN_BACKOFF_MAX_SECONDS", default=15 * 60)
PASSWORD_RESET_PER_EMAIL = env.int("PASSWORD_RESET_PER_EMAIL", default=3)
PASSWORD_RESET_PER_IP = env.int("PASSWORD_RESET_PER_IP", default=10)
INVITATION_TTL_DAYS = env.int("INVITATION_TTL_DAYS", default=7)

# Ingestion limits (README "Limits and bad input").
INGEST_MAX_BODY_BYTES = env.int("INGEST_MAX_BODY_BYTES", default=5 * 1024 * 1024)
INGEST_MAX_DECOMPRESSED_BYTES = env.int("INGEST_MAX_DECOMPRESSED_BYTES", default=50 * 1024 * 1024)
INGEST_MAX_MESSAGE_BYTES = env.int("INGEST_MAX_MESSAGE_BYTES", default=64 * 1024)
INGEST_MAX_VALUE_BYTES = env.int("INGEST_MAX_VALUE_BYTES", default=16 * 1024)
INGEST_MAX_ATTRIBUTES = env.int("INGEST_MAX_ATTRIBUTES", default=128)
INGEST_MAX_KEY_BYTES = env.int("INGEST_MAX_KEY_BYTES", default=256)
INGEST_MAX_AGE_SECONDS = env.int("INGEST_MAX_AGE_SECONDS", default=30 * 86400)
INGEST_MAX_FUTURE_SECONDS = env.int("INGEST_MAX_FUTURE_SECONDS", default=86400)
# Sentry `attachment` items larger than this are dropped (the event is kept).
SENTRY_ATTACHMENT_MAX_BYTES = env.int("SENTRY_ATTACHMENT_MAX_BYTES", default=1024 * 1024)
# Largest release file (minified bundle or source map) accepted by the release files API.
SOURCEMAP_MAX_BYTES = env.int("SOURCEMAP_MAX_BYTES", default=20 * 1024 * 1024)
# Uploaded source maps go once unused this long: a debug-id bundle when none of its files, a
# release's files when none of them symbolicated an event (apps/errors/retention.py).
SOURCEMAP_RETENTION_DAYS = env.int("SOURCEMAP_RETENTION_DAYS", default=90)
# Per web process: parsed source maps and minified files kept in memory (least recently used
# evicted first), so an event is not a parse of megabytes (apps/errors/symbol_cache.py).
SOURCEMAP_CACHE_BYTES = env.int("SOURCEMAP_CACHE_BYTES", default=64 * 1024 * 1024)
if SOURCEMAP_CACHE_BYTES < 0:
    raise ImproperlyConfigured("SOURCEMAP_CACHE_BYTES must be 0 (no cache) or more.")
# Chunks sentry-cli uploaded but never asked to assemble are deleted after this.
SOURCEMAP_CHUNK_RETENTION_HOURS = env.int("SOURCEMAP_CHUNK_RETENTION_HOURS", default=24)
INGEST_RATE_PER_SECOND = env.int("INGEST_RATE_PER_SECOND", default=100_000)
INGEST_RATE_BURST = env.int("INGEST_RATE_BURST", default=1_000_000)
# Threads per web process that decode and write ingestion requests (apps.ingestion.asgi).
INGEST_WORKER_THREADS = env.int("INGEST_WORKER_THREADS", default=4)
# Seconds the ASGI fast path waits for the next chunk of a request body before answering 408.
INGEST_BODY_TIMEOUT_SECONDS = env.float("INGEST_BODY_TIMEOUT_SECONDS", default=30.0)
# OTLP/gRPC receiver (`manage.py otlp_grpc`, its own process); 0 turns it off. /health/ready asks it
# at OTLP_GRPC_CHECK_ADDRESS (host:port; empty: 127.0.0.1 and this port, the receiver next to the web server).
OTLP_GRPC_PORT = env.int("OTLP_GRPC_PORT", default=4317)
OTLP_GRPC_CHECK_ADDRESS = env.str("OTLP_GRPC_CHECK_ADDRESS", default="")

# Minutes of late-arriving logs recounted each minute for the level-count rollup (apps/logs/counts.py).
LOGS_COUNT_LATE_MINUTES = env.int("LOGS_COUNT_LATE_MINUTES", default=15)

# Error tracking (apps/errors): how long an event_id is remembered for dedup, and how the
# per-worker grouper batches (apps/errors/grouper.py).
ERRORS_DEDUP_HOURS = env.int("ERRORS_DEDUP_HOURS", default=24)
ERRORS_GROUP_DELAY_MS = env.int("ERRORS_GROUP_DELAY_MS", default=250)
ERRORS_GROUP_BATCH = env.int("ERRORS_GROUP_BATCH", default=2000)
ERRORS_GROUP_SWEEP_SECONDS = env.float("ERRORS_GROUP_SWEEP_SECONDS", default=5.0)

# Billing (apps/billing): the plan new organizations start on, and how long the usage chart keeps
# minute resolution before only daily counts remain.
BILLING_DEFAULT_PLAN = env.str("BILLING_DEFAULT_PLAN", default="free")
USAGE_MINUTES_KEPT_HOURS = env.int("USAGE_MINUTES_KEPT_HOURS", default=48)
# Spike protection (apps/billing/spikes.py): a project's hour is cut off past FACTOR x its 7-day
# same-hour average, but never below FLOOR records (nor below 1 % of the plan's monthly events).
SPIKE_PROTECTION_FACTOR = env.float("SPIKE_PROTECTION_FACTOR", default=5.0)
SPIKE_PROTECTION_FLOOR = env.int("SPIKE_PROTECTION_FLOOR", default=1000)
# Who turns statements into money (apps/billing/providers): "invoice" ships; the secret verifies its
# signed webhooks (Standard Webhooks, "whsec_…"); empty refuses every provider webhook.
BILLING_PROVIDER = env.str("BILLING_PROVIDER", default="invoice")
BILLING_WEBHOOK_SECRET = env.str("BILLING_WEBHOOK_SECRET", default="")

# Retention defaults (days): what a plan that leaves a retention empty gets (apps/billing/retention.py).
RETENTION_DEBUG_DAYS = env.int("RETENTION_DEBUG_DAYS", default=3)
RETENTION_INFO_DAYS = env.int("RETENTION_INFO_DAYS", default=14)
RETENTION_WARN_DAYS = env.int("RETENTION_WARN_DAYS", default=30)
RETENTION_SPAN_DAYS = env.int("RETENTION_SPAN_DAYS", default=14)
RETENTION_POINT_DAYS = env.int("RETENTION_POINT_DAYS", default=7)
RETENTION_ROLLUP_1M_DAYS = env.int("RETENTION_ROLLUP_1M_DAYS", default=30)
RETENTION_ROLLUP_1H_DAYS = env.int("RETENTION_ROLLUP_1H_DAYS", default=400)

EMAIL_CONFIG = env.email_url("EMAIL_URL", default="consolemail://")
vars().update(EMAIL_CONFIG)
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="Vigil <vigil@localhost>")
SERVER_EMAIL = DEFAULT_FROM_EMAIL

# Notifications (apps.notifications): links in messages are absolute, to this address; channel
# URLs resolving to private/loopback/link-local/metadata addresses are refused unless allowed.
PUBLIC_URL = env.str("PUBLIC_URL", default="http://localhost:8000").rstrip("/")
NOTIFY_ALLOW_PRIVATE_ADDRESSES = env.bool("NOTIFY_ALLOW_PRIVATE_ADDRESSES", default=False)
# Passphrases of the keys encrypting channel secrets at rest (apps.notifications.encryption): the
# first encrypts, every one decrypts (rotation). Empty: SECRET_KEY, then SECRET_KEY_FALLBACKS.
CHANNEL_ENCRYPTION_KEYS = env.list("CHANNEL_ENCRYPTION_KEYS", default=[])

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = False
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
# Served straight from the static folders by WhiteNoise: no collectstatic step between a clone and
# `make run`. Set STATIC_ROOT only if you want `collectstatic` to copy them somewhere (e.g. a CDN).
STATIC_ROOT = env.str("STATIC_ROOT", default="") or None
WHITENOISE_USE_FINDERS = True

# --- Security -----------------------------------------------------------------------------
# Behind a TLS-terminating proxy, set SECURE_PROXY_SSL_HEADER_ENABLED so request.is_secure() is right.
if env_flag("SECURE_PROXY_SSL_HEADER_ENABLED", default=False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env_flag("SECURE_SSL_REDIRECT", default=False)
# Never redirect an exporter: the OTel Python exporter counts a 301 as success and drops the data.
SECURE_REDIRECT_EXEMPT = [r"^v1/(logs|metrics|traces)/?$", r"^api/v1/ingest/"]
# Behind a proxy that appends the client address to X-Forwarded-For (audit IPs, login throttling).
USE_X_FORWARDED_FOR = env_flag("USE_X_FORWARDED_FOR", default=False)
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
# A local stack opened from another machine over plain http://<lan-address> (no TLS on a trusted
# network): browsers never send Secure cookies there, so sign-in would fail the CSRF check.
ALLOW_PLAIN_HTTP = env_flag("ALLOW_PLAIN_HTTP", default=False)
if not DEBUG and not ALLOW_PLAIN_HTTP:
    # __Host- cookies must be Secure, host-only and Path=/; browsers treat http://localhost as secure.
    SESSION_COOKIE_NAME = "__Host-sessionid"
    CSRF_COOKIE_NAME = "__Host-csrftoken"
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
# Explains a refused form (plain HTTP with Secure cookies, an expired page) instead of a bare 403.
CSRF_FAILURE_VIEW = "apps.ops.views.csrf_failure"
if not DEBUG:
    SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = env_flag("SECURE_HSTS_PRELOAD", default=False)

CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "connect-src": ["'self'"],
        "font-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "frame-ancestors": ["'none'"],
        "form-action": ["'self'"],
    }
}

# --- API ------------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        # Key first: its WWW-Authenticate header turns "no credentials" into 401, not 403.
        "apps.projects.authentication.ApiKeyAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "apps.api.errors.api_exception_handler",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Vigil API",
    "DESCRIPTION": "Observability for teams: ingest logs, metrics and traces; query them; manage projects.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    "SERVE_AUTHENTICATION": [],
    "COMPONENT_SPLIT_REQUEST": True,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "apps.ingestion.schema.add_ingestion_paths",
    ],
}

# --- Operations -----------------------------------------------------------------------------
METRICS_TOKEN = env.str("METRICS_TOKEN", default="")
ROLLUP_LATE_WINDOW_SECONDS = env.int("ROLLUP_LATE_WINDOW_SECONDS", default=300)  # late points re-rolled
SENTRY_DSN = env.str("SENTRY_DSN", default="")
LOG_LEVEL = env.str("LOG_LEVEL", default="INFO")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {
        "request_id": {"()": "apps.ops.logging.RequestIdFilter"},
        "redact": {"()": "apps.ops.logging.RedactingFilter"},
    },
    "formatters": {
        "json": {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "fmt": "%(asctime)s %(levelname)s %(name)s %(message)s %(request_id)s",
            "rename_fields": {"asctime": "time", "levelname": "level", "name": "logger"},
        }
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "json",
            "filters": ["request_id", "redact"],
        }
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        "django.db.backends": {"level": "INFO"},
        "celery": {"level": LOG_LEVEL},
    },
}

if SENTRY_DSN:
    import sentry_sdk
    from sentry_sdk.integrations.celery import CeleryIntegration
    from sentry_sdk.integrations.django import DjangoIntegration

    sentry_sdk.init(
        dsn=SENTRY_DSN,
        integrations=[DjangoIntegration(), CeleryIntegration()],
        send_default_pii=False,
        traces_sample_rate=env.float("SENTRY_TRACES_SAMPLE_RATE", default=0.0),
        environment=env.str("SENTRY_ENVIRONMENT", default="production"),
    )
