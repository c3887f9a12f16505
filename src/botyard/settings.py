"""Django settings, derived from botyard.config (environment variables and `.env`)."""

from __future__ import annotations

import os
from typing import Any

import dj_database_url

from botyard import config as botyard_config
from botyard.core.email_url import parse_email_url

CONFIG = botyard_config.load()

BASE_URL = CONFIG.base_url
DATA_DIR = CONFIG.data_dir
SECRET_KEY = CONFIG.secret_key
DEBUG = CONFIG.debug
SIGNUP_OPEN = CONFIG.signup_open
ALLOWED_HOSTS = ["*"]  # served behind a proxy that owns the Host check; see docs/deploy.md

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django_tasks",
    "django_tasks_db",
    "template_partials",
    "botyard.core",
    "botyard.accounts",
    "botyard.workspaces",
    "botyard.billing",
    "botyard.bots",
    "botyard.messaging",
    "botyard.audit",
    "botyard.web",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "botyard.core.metrics.MetricsMiddleware",
    "botyard.core.middleware.ApiProblemMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
]

ROOT_URLCONF = "botyard.urls"
WSGI_APPLICATION = "botyard.wsgi.application"

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
                "botyard.web.context.navigation",
            ],
        },
    }
]


def _database(url: str | None) -> dict[str, Any]:
    if url:
        db = dj_database_url.parse(url, conn_max_age=60, conn_health_checks=True)
        db.setdefault("TEST", {})
        if db["ENGINE"] == "django.db.backends.postgresql":
            # Django's own cursors bind parameters on the client and are never prepared;
            # the message path's server-binding cursors are prepared on their first use
            # (messaging/statements.py, ADR 0007). None, Django's default, disables that.
            db.setdefault("OPTIONS", {}).setdefault("prepare_threshold", 0)
        # Lets two test runs share one PostgreSQL server without sharing a test database.
        if os.environ.get("BOTYARD_TEST_DATABASE_NAME"):
            db["TEST"]["NAME"] = os.environ["BOTYARD_TEST_DATABASE_NAME"]
        return dict(db)
    return {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": str(DATA_DIR / "botyard.sqlite3"),
        # Kept open across requests, as for PostgreSQL: opening the file and running the
        # PRAGMAs below cost more than a simple request itself (docs/benchmarks.md, Ingest).
        "CONN_MAX_AGE": 60,
        # WAL lets readers go on while one process writes; IMMEDIATE takes the write lock
        # at BEGIN so that two writers queue instead of failing with "database is locked".
        "OPTIONS": {
            "transaction_mode": "IMMEDIATE",
            "timeout": 20,
            "init_command": (
                "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON;"
            ),
        },
        "TEST": {"NAME": str(DATA_DIR / "test.sqlite3")},
    }


DATABASES = {"default": _database(CONFIG.database_url)}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_USER_MODEL = "accounts.User"
AUTHENTICATION_BACKENDS = ["botyard.accounts.backends.EmailBackend"]
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "accounts:signin"
LOGIN_REDIRECT_URL = "web:home"
LOGOUT_REDIRECT_URL = "accounts:signin"

SECURE_HTTPS = BASE_URL.startswith("https://")
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_SECURE = SECURE_HTTPS
CSRF_COOKIE_SECURE = SECURE_HTTPS
CSRF_COOKIE_SAMESITE = "Lax"
CSRF_TRUSTED_ORIGINS = [BASE_URL]
CSRF_FAILURE_VIEW = "botyard.web.views.csrf_failure"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
if SECURE_HTTPS:
    SECURE_HSTS_SECONDS = 31_536_000
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True

CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "font-src": ["'self'"],
        "connect-src": ["'self'"],
        "frame-ancestors": ["'none'"],
        "form-action": ["'self'"],
        "base-uri": ["'none'"],
        "object-src": ["'none'"],
    }
}

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = False
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = str(DATA_DIR / "static")
(DATA_DIR / "static").mkdir(exist_ok=True)
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
# Serve straight from the apps' static folders as well, so that a fresh checkout (and the
# test suite) never depends on a collectstatic step having run.
WHITENOISE_USE_FINDERS = True

for _key, _value in parse_email_url(CONFIG.email_url).items():
    globals()[_key] = _value
DEFAULT_FROM_EMAIL = "botyard <no-reply@botyard.invalid>"

TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}

NINJA_PAGINATION_MAX_LIMIT = 200

LOGGING: dict[str, Any] = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "json": {"()": "botyard.core.logging.JsonFormatter"},
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "json" if CONFIG.json_logs else "plain",
        }
    },
    "root": {"handlers": ["console"], "level": "INFO"},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        # At DEBUG the template engine logs every failed variable lookup together with the
        # whole context: the request's query string (an invitation link's token), the
        # CSRF token, form data. Never wanted in a log, whatever the root level.
        "django.template": {"level": "INFO"},
        "fontTools": {"level": "WARNING"},  # fpdf2's font subsetting is chatty at INFO
    },
}
