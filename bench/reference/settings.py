"""Settings of the reference receiver, from the same environment as erp_project.settings.

The database is configured exactly as the project configures its own (DATABASE_URL,
CONN_MAX_AGE, CONN_HEALTH_CHECKS), so that the comparison measures the receiving path and not
the connection handling. Nothing else: no apps, no middleware, no templates.
"""

import environ

env = environ.Env()

DEBUG = env.bool("DEBUG", default=False)
SECRET_KEY = env("SECRET_KEY")
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"])

INSTALLED_APPS: list[str] = []
MIDDLEWARE: list[str] = []
ROOT_URLCONF = "reference.urls"
WSGI_APPLICATION = "reference.wsgi.application"

DATABASES = {"default": env.db("DATABASE_URL")}
DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=0)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True  # as erp_project.settings

USE_TZ = True
TIME_ZONE = env("TIME_ZONE", default="Asia/Kolkata")

JODO_WEBHOOK_SECRETS = env.list("JODO_WEBHOOK_SECRETS")
