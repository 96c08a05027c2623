"""Settings for the reference ERP. Every value comes from the environment or a `.env` file."""

from pathlib import Path

import django
import environ

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env")

DEBUG = env.bool("DEBUG", default=False)
# The default key is for development and tests only; `check --deploy` flags it (security.W009).
SECRET_KEY = env("SECRET_KEY", default="django-insecure-development-only-key-change-me")
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "jodo_webhooks",
    "students",
]
# Django's Tasks API runs the processing in task mode (JODO_WEBHOOK_PROCESSING=task); on
# Django 5.2 it comes from the django-tasks backport. The database backend needs only
# `manage.py db_worker` next to the web processes.
if django.VERSION < (6, 0):
    INSTALLED_APPS.append("django_tasks")
INSTALLED_APPS.append("django_tasks_db")
TASKS = {"default": {"BACKEND": env("TASKS_BACKEND", default="django_tasks_db.DatabaseBackend")}}

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # Serves `collectstatic`'s output (the admin's CSS and JS) under gunicorn; runserver with
    # DEBUG on serves static files itself.
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "erp_project.urls"
WSGI_APPLICATION = "erp_project.wsgi.application"

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
            ],
        },
    },
]

DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}")}
DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=0)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # IMMEDIATE takes the write lock at BEGIN, so concurrent writers queue instead of failing
    # with "database is locked" when a read transaction tries to upgrade.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        transaction_mode="IMMEDIATE",
        timeout=20,
        init_command="PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    )

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = env("TIME_ZONE", default="Asia/Kolkata")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
# `manage.py collectstatic` fills it (bin/serve runs it); WhiteNoise serves it.
STATIC_ROOT = env.path("STATIC_ROOT", default=BASE_DIR / "staticfiles")

# HTTPS, for production behind a TLS-terminating proxy (README, "Production"). Off by default
# so that development over plain HTTP works; `check --deploy` warns until they are set.
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=False)
SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=False)
CSRF_COOKIE_SECURE = env.bool("CSRF_COOKIE_SECURE", default=False)
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=False)
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=False)
# The header the proxy sets for HTTPS requests, as "HTTP_X_FORWARDED_PROTO,https". Set it only
# behind a proxy that always sets (or strips) that header, or anyone can claim HTTPS.
_proxy_ssl_header = env.list("SECURE_PROXY_SSL_HEADER", default=[])
SECURE_PROXY_SSL_HEADER = tuple(_proxy_ssl_header) if _proxy_ssl_header else None
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

# Keeps JODO_WEBHOOKS' secrets (the custom header's value too) off the DEBUG error page and
# the error mails.
DEFAULT_EXCEPTION_REPORTER_FILTER = "jodo_webhooks.debug.JodoExceptionReporterFilter"

REST_FRAMEWORK = {
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "UNAUTHENTICATED_USER": None,
}

JODO_WEBHOOKS = {
    "SECRETS": env.list("JODO_WEBHOOK_SECRETS", default=[]),
    "HEADER_NAME": env("JODO_WEBHOOK_HEADER_NAME", default=""),
    "HEADER_VALUE": env("JODO_WEBHOOK_HEADER_VALUE", default=""),
    "ALLOWED_IPS": env.list("JODO_WEBHOOK_ALLOWED_IPS", default=[]),
    "TRUSTED_PROXIES": env.int("JODO_WEBHOOK_TRUSTED_PROXIES", default=0),
    "MAX_BODY_BYTES": env.int("JODO_WEBHOOK_MAX_BODY_BYTES", default=1024 * 1024),
    "ALLOW_UNAUTHENTICATED": env.bool("JODO_WEBHOOK_ALLOW_UNAUTHENTICATED", default=False),
    "MAX_EVENT_AGE_DAYS": env.int("JODO_WEBHOOK_MAX_EVENT_AGE_DAYS", default=7),
    "PROCESSING": env("JODO_WEBHOOK_PROCESSING", default="inline"),
    "REJECTED_DELIVERY_LIMIT": env.int("JODO_WEBHOOK_REJECTED_DELIVERY_LIMIT", default=1000),
    # The app applies Jodo's student events to our Student and StudentNote models, and the
    # student-linked payment events to FeePayment and FeePaymentLine.
    "STUDENT_SYNC": "students.jodo.STUDENT_SYNC",
    "PAYMENT_SYNC": "students.jodo.PAYMENT_SYNC",
    # Monitoring (README, "Monitoring"): the metrics and health URLs are off without a token.
    "MONITORING_TOKEN": env("JODO_WEBHOOK_MONITORING_TOKEN", default=""),
    "HEALTH_PUBLIC": env.bool("JODO_WEBHOOK_HEALTH_PUBLIC", default=False),
    "HEALTH_MAX_FAILED_EVENTS": env.int("JODO_WEBHOOK_HEALTH_MAX_FAILED_EVENTS", default=0),
    "HEALTH_MAX_WAITING_MINUTES": env.int("JODO_WEBHOOK_HEALTH_MAX_WAITING_MINUTES", default=15),
    "HEALTH_MAX_SILENCE_HOURS": env.int("JODO_WEBHOOK_HEALTH_MAX_SILENCE_HOURS", default=0),
    "HEALTH_MAX_PAYMENT_WAITING_HOURS": env.int(
        "JODO_WEBHOOK_HEALTH_MAX_PAYMENT_WAITING_HOURS", default=24
    ),
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env("LOG_LEVEL", default="INFO")},
}
