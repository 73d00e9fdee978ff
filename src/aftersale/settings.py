"""Settings for aftersale, read from the environment (see .env.example)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from aftersale.env import env_bool, env_int, env_list, env_str

BASE_DIR = Path(__file__).resolve().parent
VAR_DIR = Path(env_str("AFTERSALE_VAR_DIR", str(Path.cwd() / "var"))).resolve()

DEFAULT_SECRET_KEY = "insecure-development-key-change-me"  # noqa: S105
DEBUG = env_bool("DEBUG", False)
SECRET_KEY = env_str("SECRET_KEY", DEFAULT_SECRET_KEY)
# The demo runs with DEBUG off but on loopback only; it opts in explicitly.
ALLOW_DEFAULT_SECRET = env_bool("AFTERSALE_ALLOW_DEFAULT_SECRET", False)
if SECRET_KEY == DEFAULT_SECRET_KEY and not DEBUG and not ALLOW_DEFAULT_SECRET:
    raise ImproperlyConfigured(
        "SECRET_KEY is the built-in development key. Set SECRET_KEY to a long random value "
        "(python -c 'import secrets; print(secrets.token_urlsafe(50))'), or DEBUG=true for "
        "local development."
    )

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost", "[::1]", "testserver"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])
PUBLIC_BASE_URL = env_str("AFTERSALE_PUBLIC_URL", "http://127.0.0.1:8000").rstrip("/")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django_htmx",
    "ninja",
    "django_tasks",
    "django_tasks_db",
    "aftersale.core",
    "aftersale.customers",
    "aftersale.catalog",
    "aftersale.orders",
    "aftersale.tracking",
    "aftersale.messaging",
    "aftersale.returns",
    "aftersale.feedback",
    "aftersale.reviews",
    "aftersale.journeys",
    "aftersale.webhooks",
    "aftersale.integrations",
    "aftersale.importers",
]

MIDDLEWARE = [
    "aftersale.core.middleware.RequestBodyLimitMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
]

ROOT_URLCONF = "aftersale.urls"
WSGI_APPLICATION = "aftersale.wsgi.application"

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


SQLITE_ENGINE = "aftersale.core.sqlite_backend"


def _database_config() -> dict:
    url = env_str("DATABASE_URL", "")
    if not url:
        VAR_DIR.mkdir(parents=True, exist_ok=True)
        url = f"sqlite:///{VAR_DIR / 'aftersale.sqlite3'}"
    config = dj_database_url.parse(url, conn_max_age=env_int("DB_CONN_MAX_AGE", 60))
    if config["ENGINE"] == "django.db.backends.sqlite3":
        # Django's SQLite backend, with write transactions queued on a file lock (see there).
        config["ENGINE"] = SQLITE_ENGINE
        config["OPTIONS"] = {
            # WAL lets readers and one writer work at once; IMMEDIATE takes the write lock at
            # BEGIN so two writers queue on the busy timeout instead of deadlocking mid-transaction.
            "init_command": (
                "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON;"
                " PRAGMA busy_timeout=30000;"
            ),
            "transaction_mode": "IMMEDIATE",
            "timeout": 30,
        }
    elif config["ENGINE"] == "django.db.backends.postgresql":
        config.setdefault("OPTIONS", {})
        config["CONN_HEALTH_CHECKS"] = True
    else:
        raise ImproperlyConfigured("DATABASE_URL must point to SQLite or PostgreSQL")
    return config


DATABASES = {"default": _database_config()}


def _cache_config() -> dict:
    """CACHE_URL: empty for a cache in each process's memory; redis://… (needs the redis package)
    to share one between processes and machines."""
    url = env_str("CACHE_URL", "")
    if not url:
        return {
            "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
            "LOCATION": "aftersale",
            "OPTIONS": {"MAX_ENTRIES": 2000},
        }
    if url.startswith(("redis://", "rediss://", "unix://")):
        return {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": url}
    raise ImproperlyConfigured("CACHE_URL must be empty or a redis:// URL")


CACHES = {"default": _cache_config()}

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

TASKS = {
    "default": {
        "BACKEND": "django_tasks_db.DatabaseBackend",
        "QUEUES": ["default", "webhooks", "inbound"],
    }
}

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]

LANGUAGE_CODE = "en"
LOCALE_PATHS = [BASE_DIR / "locale"]
LANGUAGES = [("en", "English"), ("pt-br", "Português (Brasil)"), ("de", "Deutsch")]
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = VAR_DIR / "static"
STATIC_ROOT.mkdir(parents=True, exist_ok=True)
# Serve static files straight from the apps, so no collectstatic step is needed to run.
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = DEBUG
MEDIA_ROOT = VAR_DIR / "media"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}

# Requests larger than this are refused with 413 before anything is parsed.
AFTERSALE_MAX_BODY_BYTES = env_int("AFTERSALE_MAX_BODY_BYTES", 10 * 1024 * 1024)
DATA_UPLOAD_MAX_MEMORY_SIZE = AFTERSALE_MAX_BODY_BYTES
# Shoppers' forms with photos (returns, reviews): files stream to disk past 2.5 MB.
AFTERSALE_MAX_UPLOAD_BYTES = env_int("AFTERSALE_MAX_UPLOAD_BYTES", 32 * 1024 * 1024)
AFTERSALE_RETURN_PHOTO_MAX_BYTES = env_int("AFTERSALE_RETURN_PHOTO_MAX_BYTES", 8 * 1024 * 1024)
# Raw inbound webhook payloads older than this are deleted by a periodic job.
AFTERSALE_INBOUND_RETENTION_DAYS = env_int("AFTERSALE_INBOUND_RETENTION_DAYS", 30)
# Tracking providers' webhook secrets per store, JSON: {"<store slug>": {"easypost": "…", …}}.
# Days without a carrier scan before a parcel counts as stalled, per carrier code (JSON).
AFTERSALE_STALLED_DAYS = env_str("AFTERSALE_STALLED_DAYS", "")
AFTERSALE_CARRIER_WEBHOOK_SECRETS = json.loads(
    env_str("AFTERSALE_CARRIER_WEBHOOK_SECRETS", "") or "{}"
)
# A task whose worker has not been heard from for this long is handed to another worker.
AFTERSALE_WORKER_LEASE_SECONDS = env_int("AFTERSALE_WORKER_LEASE_SECONDS", 30)
AFTERSALE_WORKER_HEARTBEAT_SECONDS = env_int("AFTERSALE_WORKER_HEARTBEAT_SECONDS", 5)
AFTERSALE_TASK_MAX_ATTEMPTS = env_int("AFTERSALE_TASK_MAX_ATTEMPTS", 5)
AFTERSALE_WEBHOOK_TIMEOUT_SECONDS = env_int("AFTERSALE_WEBHOOK_TIMEOUT_SECONDS", 10)
AFTERSALE_WEBHOOK_MAX_ATTEMPTS = env_int("AFTERSALE_WEBHOOK_MAX_ATTEMPTS", 8)
AFTERSALE_WEBHOOK_DISABLE_AFTER_FAILURES = env_int("AFTERSALE_WEBHOOK_DISABLE_AFTER_FAILURES", 20)
# Outbound webhooks to private addresses are refused unless this is set (tests, intranets).
AFTERSALE_WEBHOOK_ALLOW_PRIVATE = env_bool("AFTERSALE_WEBHOOK_ALLOW_PRIVATE", DEBUG)

# SMTP by default (with a precise hand-off point, see messaging/smtp.py); any Django or
# django-anymail backend works, e.g. anymail.backends.postmark.EmailBackend with ANYMAIL settings.
EMAIL_BACKEND = env_str("EMAIL_BACKEND", "aftersale.messaging.smtp.EmailBackend")
EMAIL_TIMEOUT = env_int("EMAIL_TIMEOUT", 20)
# For django.core.mail.backends.filebased.EmailBackend (the demo writes its emails there).
EMAIL_FILE_PATH = env_str("EMAIL_FILE_PATH", str(VAR_DIR / "mail"))
EMAIL_HOST = env_str("EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("EMAIL_PORT", 25)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
EMAIL_USE_SSL = env_bool("EMAIL_USE_SSL", False)
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "aftersale <no-reply@localhost>")

ANYMAIL = {
    key.removeprefix("ANYMAIL_"): value
    for key, value in os.environ.items()
    if key.startswith("ANYMAIL_")
}
# Messages: the sender's lease, retries, and the domain in our Message-ID headers.
AFTERSALE_MESSAGE_LEASE_SECONDS = env_int("AFTERSALE_MESSAGE_LEASE_SECONDS", 120)
AFTERSALE_MESSAGE_MAX_ATTEMPTS = env_int("AFTERSALE_MESSAGE_MAX_ATTEMPTS", 8)
AFTERSALE_MESSAGE_ID_DOMAIN = env_str("AFTERSALE_MESSAGE_ID_DOMAIN", "aftersale.invalid")
# SMTP connections a sender talks to the server on, each in a thread beside rendering
# (messaging/sending.py, _SmtpLanes); 0 (the default) sends each message in turn, which keeps the
# moment a killed worker can lose a message to one socket write (see docs/messaging.md).
AFTERSALE_SMTP_LANES = env_int("AFTERSALE_SMTP_LANES", 0)
# Flows: built-in post-purchase flows are created for each store on first use.
AFTERSALE_JOURNEYS_BUILTIN_FLOWS = env_bool("AFTERSALE_JOURNEYS_BUILTIN_FLOWS", True)
AFTERSALE_JOURNEY_LEASE_SECONDS = env_int("AFTERSALE_JOURNEY_LEASE_SECONDS", 120)
AFTERSALE_ATTRIBUTION_DAYS = env_int("AFTERSALE_ATTRIBUTION_DAYS", 5)
# SMS: console, file (var/sms.jsonl) or Twilio.
AFTERSALE_SMS_BACKEND = env_str(
    "AFTERSALE_SMS_BACKEND", "aftersale.messaging.sms.ConsoleSmsBackend"
)
AFTERSALE_SMS_FILE = env_str("AFTERSALE_SMS_FILE", "")
AFTERSALE_SMS_TIMEOUT_SECONDS = env_int("AFTERSALE_SMS_TIMEOUT_SECONDS", 10)
TWILIO_ACCOUNT_SID = env_str("TWILIO_ACCOUNT_SID", "")
TWILIO_AUTH_TOKEN = env_str("TWILIO_AUTH_TOKEN", "")
TWILIO_MESSAGING_SERVICE_SID = env_str("TWILIO_MESSAGING_SERVICE_SID", "")
TWILIO_API_BASE = env_str("TWILIO_API_BASE", "https://api.twilio.com")

SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", False)
CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", False)
SECURE_PROXY_SSL_HEADER = (
    ("HTTP_X_FORWARDED_PROTO", "https") if env_bool("BEHIND_TLS_PROXY", False) else None
)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        "httpx": {"level": "WARNING"},
    },
}
