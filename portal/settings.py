"""Settings for the portal, read from the environment.

The defaults give the embedded mode of `make run`: a SQLite file and a private Redis under
var/. DATABASE_URL and REDIS_URL switch to the scaled-out mode with no code change.
"""

from datetime import timedelta
from pathlib import Path

import dj_database_url
from cryptography.fernet import Fernet
from csp.constants import NONE, SELF, UNSAFE_INLINE
from django.core.exceptions import ImproperlyConfigured

from automation.redis_client import for_celery, for_redis_py
from automation.validators import NAME_MAX_LENGTH, NAME_PATTERN
from portal.env import env_bool, env_float, env_int, env_list, env_secret, env_secret_list, env_str
from portal.local_secrets import load_or_create, token
from portal.proxies import parse_networks

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(env_str("VAR_DIR", str(BASE_DIR / "var"))).resolve()
SECRETS_DIR = VAR_DIR / "secrets"

DEBUG = env_bool("DEBUG", False)
# Secrets (and the URLs, which may carry a password) may come from a file instead: <NAME>_FILE.
SECRET_KEY = env_secret("SECRET_KEY", "") or load_or_create(SECRETS_DIR, "secret_key", token(50))
# Fernet keys, newest first: the first encrypts, all of them decrypt (so a key can be rotated).
ACCOUNT_KEY_ENCRYPTION_KEYS = env_secret_list("ACCOUNT_KEY_ENCRYPTION_KEY", []) or [
    load_or_create(SECRETS_DIR, "account_key_encryption_key", lambda: Fernet.generate_key().decode())
]

PORT = env_int("PORT", 8000, minimum=1, maximum=65535)
PORTAL_BASE_URL = env_str("PORTAL_BASE_URL", f"http://127.0.0.1:{PORT}").rstrip("/")
PORTAL_REGION = env_str("PORTAL_REGION", "On-premises")
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost", "[::1]"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

# Behind a reverse proxy (README, "Behind TLS"). Off by default: `make run` serves plain HTTP on loopback.
# Only peers in TRUSTED_PROXIES may name the client (X-Forwarded-For) or the scheme (portal.proxies).
TRUSTED_PROXIES = env_list("TRUSTED_PROXIES", [])
try:
    parse_networks(TRUSTED_PROXIES)
except ValueError as error:
    raise ImproperlyConfigured(f"TRUSTED_PROXIES: {error}") from None
_proto_header = env_str("SECURE_PROXY_SSL_HEADER", "").strip()
if _proto_header:
    if not TRUSTED_PROXIES:
        # Django would believe the header from anyone who can reach the portal.
        raise ImproperlyConfigured("SECURE_PROXY_SSL_HEADER needs TRUSTED_PROXIES: the proxies allowed to send it")
    SECURE_PROXY_SSL_HEADER = ("HTTP_" + _proto_header.upper().replace("-", "_"), "https")
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 0, minimum=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", False)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", False)

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "channels",
    "django_htmx",
    "axes",
    "automation",
    "portal",
]

MIDDLEWARE = [
    "portal.proxies.TrustedProxyMiddleware",
    "portal.middleware.DateHeaderMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "portal.csp.PortalCSPMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "portal.middleware.ServiceErrorMiddleware",
    "automation.api.middleware.ApiErrorMiddleware",
    # Last, as django-axes asks: it turns a sign-in that hit the lockout into the lockout page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "portal.urls"
ASGI_APPLICATION = "portal.asgi.application"

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
                "portal.context_processors.shell",
            ],
        },
    },
]

DATABASE_URL = env_secret("DATABASE_URL", f"sqlite:///{VAR_DIR / 'portal.sqlite3'}")
DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=env_int("DB_CONN_MAX_AGE", 0, minimum=0))}
DB_POOL_MAX_SIZE = env_int("DB_POOL_MAX_SIZE", 20, minimum=0)
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets readers run beside the one writer; IMMEDIATE takes the write lock at BEGIN,
    # so two writers queue on the busy timeout instead of failing with "database is locked".
    DATABASES["default"]["OPTIONS"] = {
        "transaction_mode": "IMMEDIATE",
        "timeout": env_float("SQLITE_BUSY_TIMEOUT", 20.0, minimum=0),
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
elif DATABASES["default"]["CONN_MAX_AGE"] == 0 and DB_POOL_MAX_SIZE:
    # Under ASGI every request runs on some thread of a pool, and Django keeps connections per thread:
    # without a pool of its own, each agent request would open a new PostgreSQL connection.
    DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
        "min_size": 1,
        "max_size": DB_POOL_MAX_SIZE,
        "timeout": env_float("DB_POOL_TIMEOUT", 10.0, minimum=0),
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = env_secret("REDIS_URL", f"unix://{VAR_DIR / 'redis.sock'}")
CHANNEL_LAYERS = {
    "default": {
        "BACKEND": "channels_redis.core.RedisChannelLayer",
        "CONFIG": {"hosts": [for_redis_py(REDIS_URL)], "prefix": "automation:channels"},
    }
}

CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": for_redis_py(REDIS_URL),
        "KEY_PREFIX": "automation",
    }
}

CELERY_BROKER_URL = for_celery(REDIS_URL)
CELERY_TASK_IGNORE_RESULT = True
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TASK_ALWAYS_EAGER = False
CELERY_WORKER_HIJACK_ROOT_LOGGER = False

# Agents. A worker is offline after OFFLINE_AFTER_MISSED_HEARTBEATS intervals without one.
HEARTBEAT_INTERVAL_SECONDS = env_int("HEARTBEAT_INTERVAL_SECONDS", 15, minimum=1)
# When a job is queued, every waiting member of its group looks: a busier one looks this much later per job
# it holds (up to the most), so the least busy member gets the job.
DISPATCH_DELAY_PER_HELD_JOB_SECONDS = env_float("DISPATCH_DELAY_PER_HELD_JOB_SECONDS", 0.1, minimum=0, maximum=10)
DISPATCH_MOST_DELAY_SECONDS = env_float("DISPATCH_MOST_DELAY_SECONDS", 0.5, minimum=0, maximum=30)
OFFLINE_AFTER_MISSED_HEARTBEATS = 3
# Beat's sweep notices workers going offline (and takes back their jobs). Its default follows a short
# heartbeat, so that setting only the heartbeat (as the agent tests do) still passes the check below.
PRESENCE_SWEEP_SECONDS = env_float("PRESENCE_SWEEP_SECONDS", min(5.0, float(HEARTBEAT_INTERVAL_SECONDS)), minimum=0.1)
# One heartbeat may be lost or late without the worker counting as offline, and the sweep sees a
# worker's silence up to one period late: both must fit in the offline window, or a live worker would
# flap offline (its jobs taken back) on a single lost heartbeat.
_offline_seconds = HEARTBEAT_INTERVAL_SECONDS * OFFLINE_AFTER_MISSED_HEARTBEATS
_needed_seconds = 2 * HEARTBEAT_INTERVAL_SECONDS + PRESENCE_SWEEP_SECONDS
if _offline_seconds < _needed_seconds:
    raise ImproperlyConfigured(
        f"PRESENCE_SWEEP_SECONDS ({PRESENCE_SWEEP_SECONDS:g}) and HEARTBEAT_INTERVAL_SECONDS "
        f"({HEARTBEAT_INTERVAL_SECONDS}) do not fit together: a worker is offline after "
        f"{OFFLINE_AFTER_MISSED_HEARTBEATS} missed heartbeats ({_offline_seconds} s), which must leave room for "
        f"2 heartbeats and one sweep ({_needed_seconds:g} s). "
        "Shorten PRESENCE_SWEEP_SECONDS or lengthen HEARTBEAT_INTERVAL_SECONDS."
    )
# A claim the agent's heartbeat does not list is taken back once it is max(a heartbeat, 5 s) old
# (automation.services.leases): never younger than a heartbeat, which is what the agent relies on, so
# there is nothing to check. The 5 s floor, for transit, exceeds the 1-2 s heartbeats tests use.
# Retention, in days (Azure keeps jobs 30 days). Purges delete at most RETENTION_BATCH_SIZE rows per transaction.
RETENTION_JOB_DAYS = env_int("RETENTION_JOB_DAYS", 30, minimum=1)
RETENTION_NOTIFICATION_DAYS = env_int("RETENTION_NOTIFICATION_DAYS", 30, minimum=1)
RETENTION_AUDIT_DAYS = env_int("RETENTION_AUDIT_DAYS", 365, minimum=1)
# A batch is one statement's parameter list (PostgreSQL takes 65,535, SQLite 32,766) and one lock's hold.
# `manage.py purge --batch-size` is held to the same bound (automation.services.retention).
RETENTION_BATCH_SIZE_MAX = 10_000
RETENTION_BATCH_SIZE = env_int("RETENTION_BATCH_SIZE", 1000, minimum=1, maximum=RETENTION_BATCH_SIZE_MAX)
RETENTION_SWEEP_SECONDS = env_int("RETENTION_SWEEP_SECONDS", 3600, minimum=1)
# Certificate expiry notices go 30 and 7 days ahead, so looking a few times a day is on time.
CERTIFICATE_EXPIRY_SWEEP_SECONDS = env_int("CERTIFICATE_EXPIRY_SWEEP_SECONDS", 6 * 3600, minimum=1)
# Schedules: how often the beat looks for due fires (a fire starts at most this late), and how late a fire may
# still run after the scheduler was down; older ones are recorded as missed (automation.services.schedule_firing).
SCHEDULE_TICK_SECONDS = env_float("SCHEDULE_TICK_SECONDS", 5.0, minimum=0.1, maximum=60)
SCHEDULE_MISSED_GRACE_SECONDS = env_int("SCHEDULE_MISSED_GRACE_SECONDS", 300, minimum=0)
CELERY_BEAT_SCHEDULE: dict = {
    "fire-schedules": {
        "task": "automation.fire_schedules",
        "schedule": SCHEDULE_TICK_SECONDS,
        # A tick that waited past its period is stale: the next one fires what is due (exactly once).
        "options": {"expires": SCHEDULE_TICK_SECONDS},
    },
    "sweep-worker-presence": {
        "task": "automation.sweep_worker_presence",
        "schedule": PRESENCE_SWEEP_SECONDS,
        # A sweep that waited longer than its period is stale: the next one will do its work.
        "options": {"expires": PRESENCE_SWEEP_SECONDS},
    },
    "purge-expired": {
        "task": "automation.purge_expired",
        "schedule": RETENTION_SWEEP_SECONDS,
        "options": {"expires": RETENTION_SWEEP_SECONDS},
    },
    "certificate-expiry-notices": {
        "task": "automation.send_certificate_expiry_notices",
        "schedule": CERTIFICATE_EXPIRY_SWEEP_SECONDS,
        "options": {"expires": CERTIFICATE_EXPIRY_SWEEP_SECONDS},
    },
}

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# Brute force on the sign-in (the portal's and the admin's, both through django-axes): after
# LOGIN_FAILURE_LIMIT failures for one username from one address, that pair is refused, right password
# included, for LOGIN_COOLOFF_SECONDS after the failure that locked it. Other users at that address and the
# same user elsewhere still sign in; a success before the limit starts the count again.
AUTHENTICATION_BACKENDS = ["axes.backends.AxesStandaloneBackend", "django.contrib.auth.backends.ModelBackend"]
LOGIN_FAILURE_LIMIT = env_int("LOGIN_FAILURE_LIMIT", 5, minimum=1)
LOGIN_COOLOFF_SECONDS = env_int("LOGIN_COOLOFF_SECONDS", 900, minimum=1)
AXES_FAILURE_LIMIT = LOGIN_FAILURE_LIMIT
AXES_COOLOFF_TIME = timedelta(seconds=LOGIN_COOLOFF_SECONDS)
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
# Failures while locked out neither extend the lockout nor write a row each: a flood costs one read apiece.
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False
AXES_HANDLER = "portal.login_lockout.AuditedAxesHandler"
AXES_LOCKOUT_CALLABLE = "portal.login_lockout.lockout_response"
# REMOTE_ADDR, not a client-supplied X-Forwarded-For (see portal.login_lockout.client_ip).
AXES_CLIENT_IP_CALLABLE = "portal.login_lockout.client_ip"
AXES_ENABLE_ACCESS_FAILURE_LOG = True
AXES_VERBOSE = False
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "portal:home"
LOGOUT_REDIRECT_URL = "login"
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SECURE = env_bool("SECURE_COOKIES", False)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
CSRF_FAILURE_VIEW = "portal.urls.csrf_failure"
# How often an open live socket re-reads its session (on its next push) to notice one that ended
# other than by this browser's sign-out, which closes its sockets at once.
LIVE_SESSION_CHECK_SECONDS = env_int("LIVE_SESSION_CHECK_SECONDS", 30, minimum=0)

# The portal loads nothing from other origins and runs no inline script or event handler (static/js/
# holds all of it), so an injected <script> or onclick would not run. Styles may be inline: the code
# editor (Ace) and htmx inject <style> elements at run time, and a style cannot run script.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF, UNSAFE_INLINE],
        # Ace's and Swagger UI's stylesheets draw their small icons as data: images.
        "img-src": [SELF, "data:"],
        # The live socket's ws:/wss: address is added per request (portal.csp).
        "connect-src": [SELF],
        "object-src": [NONE],
        "base-uri": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    }
}

LANGUAGE_CODE = "en-us"
TIME_ZONE = env_str("TIME_ZONE", "UTC")
USE_I18N = False
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
# Only `collectstatic` needs it; WhiteNoise serves from the finders (and warns about a missing folder).
STATIC_ROOT = env_str("STATIC_ROOT", "") or None
# Served by WhiteNoise straight from the finders: no collectstatic step in `make run`.
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = DEBUG

REST_FRAMEWORK = {
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "automation.api.errors.exception_handler",
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "automation.api.management.authentication.ApiTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["automation.api.parsers.ApiJSONParser"],
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
    "DEFAULT_PAGINATION_CLASS": "automation.api.pagination.PageNumberPagination",
    "PAGE_SIZE": 50,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Automation account API",
    "DESCRIPTION": "Management API and Hybrid Runbook Worker agent API.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "ENUM_NAME_OVERRIDES": {"RunbookTypeEnum": "automation.models.runbooks.RunbookType"},
    # A group's or a runbook's name in a path (the `name` converter): the name rule, with its length.
    "PATH_CONVERTER_OVERRIDES": {
        "name": {"type": "string", "minLength": 1, "maxLength": NAME_MAX_LENGTH, "pattern": f"^{NAME_PATTERN}$"}
    },
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
    ],
}

# Agents (the heartbeat and the offline rule are set above, with the sweep that depends on them).
LONG_POLL_SECONDS = env_int("LONG_POLL_SECONDS", 25, minimum=1)
# Host facts change slowly; rewriting them on every heartbeat would be needless writes.
FACTS_REFRESH_SECONDS = env_int("FACTS_REFRESH_SECONDS", 60, minimum=1)
# Registration, heartbeats, long-polls. The largest heartbeat (1,024 held jobs, every fact at its longest,
# \u-escaped) is about 128 KiB: the default leaves room for twice that.
AGENT_MAX_BODY_BYTES = env_int("AGENT_MAX_BODY_BYTES", 256 * 1024, minimum=1024)
# Stream records and end reports: a batch of records, each up to 1 MiB of text.
AGENT_STREAM_MAX_BODY_BYTES = env_int("AGENT_STREAM_MAX_BODY_BYTES", 8 * 1024 * 1024, minimum=1024)
# A runbook is at most 1 MiB of text; JSON escaping can double it.
API_MAX_BODY_BYTES = env_int("API_MAX_BODY_BYTES", 4 * 1024 * 1024, minimum=1024)
# A variable's value is at most 1,048,576 characters of JSON as stored; a client that \u-escapes what is not
# ASCII (Python's json.dumps does) sends up to 12 bytes for one of them (a surrogate pair), plus the name and
# description: the variables' operations alone take bodies this large.
VARIABLE_MAX_BODY_BYTES = env_int("VARIABLE_MAX_BODY_BYTES", 12 * 1024 * 1024 + 64 * 1024, minimum=1024)
# Webhooks (POST /webhooks/<id>): the largest body a caller may send (Azure's limit), how many calls a minute
# one webhook takes, the headers kept out of a job's WebhookData, and how far a signed call's timestamp may be
# from the server's clock.
WEBHOOK_MAX_BODY_BYTES = env_int("WEBHOOK_MAX_BODY_BYTES", 512 * 1024, minimum=1024, maximum=16 * 1024 * 1024)
WEBHOOK_CALLS_PER_MINUTE = env_int("WEBHOOK_CALLS_PER_MINUTE", 60, minimum=1)
WEBHOOK_REDACTED_HEADERS = env_list("WEBHOOK_REDACTED_HEADERS", ["Authorization", "Cookie", "X-Api-Key"])
WEBHOOK_SIGNATURE_TOLERANCE_SECONDS = env_int("WEBHOOK_SIGNATURE_TOLERANCE_SECONDS", 300, minimum=1, maximum=3600)
# Django's cap on any body it reads into memory. Over it, the API answers the same JSON 413 as its parsers
# give over their own (smaller) limits; a page answers its 400.
DATA_UPLOAD_MAX_MEMORY_SIZE = (
    max(
        AGENT_MAX_BODY_BYTES,
        AGENT_STREAM_MAX_BODY_BYTES,
        API_MAX_BODY_BYTES,
        VARIABLE_MAX_BODY_BYTES,
        WEBHOOK_MAX_BODY_BYTES,
    )
    + 1024
)
# Failed authentications from one address within a minute before answers become 429.
AUTH_FAILURES_PER_MINUTE = env_int("AUTH_FAILURES_PER_MINUTE", 30, minimum=1)

# Health: how long a Celery worker's answer to a ping counts as recent.
CELERY_HEALTH_FRESH_SECONDS = env_int("CELERY_HEALTH_FRESH_SECONDS", 30, minimum=1)

LOG_LEVEL = env_str("LOG_LEVEL", "INFO")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "filters": {
        "api_request_id": {"()": "automation.api.logs.RequestIdFilter"},
        "refusals": {"()": "automation.api.logs.RefusalFilter"},
    },
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        "daphne": {"level": "WARNING"},
        "django.channels.server": {"level": "WARNING"},
        # A 403 is one line saying who, what and why; faults keep their traceback.
        "django.request": {"filters": ["api_request_id", "refusals"]},
        "django.security.csrf": {"filters": ["refusals"]},
    },
}
