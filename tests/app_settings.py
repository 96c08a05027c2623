"""Minimal settings for the app's own tests (tests/app): `jodo_webhooks`, the Django apps its
admin needs, and a tiny receiver app. Neither `erp_project` nor `students` is installed, so these
tests show what any project gets from `pip install django-jodo-webhooks`. The database comes from
DATABASE_URL (SQLite in memory when unset)."""

from pathlib import Path

import environ

BASE_DIR = Path(__file__).resolve().parent
SECRET_KEY = "tests-only-not-a-secret"
DEBUG = False
ALLOWED_HOSTS = ["testserver", "localhost", "127.0.0.1"]
USE_TZ = True
TIME_ZONE = "Asia/Kolkata"

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "jodo_webhooks",
    "tests.receiver_app",
]
MIDDLEWARE = [
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
]
ROOT_URLCONF = "tests.app_urls"
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
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
DATABASES = {"default": environ.Env().db("DATABASE_URL", default="sqlite://:memory:")}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
STATIC_URL = "static/"
JODO_WEBHOOKS = {"SECRETS": ["set-per-test-by-conftest"]}
# As the README asks of every project: keep JODO_WEBHOOKS's secrets off Django's error pages.
DEFAULT_EXCEPTION_REPORTER_FILTER = "jodo_webhooks.debug.JodoExceptionReporterFilter"
