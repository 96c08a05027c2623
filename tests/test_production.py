"""The reference ERP in production: static files served by WhiteNoise with DEBUG off, and HTTPS
settings from the environment, so that `check --deploy` is clean for the README's configuration."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

from django.core.management import call_command
from django.test import Client

ROOT = Path(__file__).resolve().parent.parent


def readme_env_file() -> dict[str, str]:
    """The README's `.env` block ("Production"), with a real-looking key for `SECRET_KEY=...`."""
    readme = (ROOT / "README.md").read_text()
    block = re.search(r"^```sh\n# /srv/jodo-erp/\.env.*?\n(.*?)^```", readme, re.M | re.S)
    assert block, "README.md lost its .env block"
    lines = [line for line in block.group(1).splitlines() if line and not line.startswith("#")]
    env = {name: value for name, _, value in (line.partition("=") for line in lines)}
    assert env["SECRET_KEY"] == "..."
    return {**env, "SECRET_KEY": "a-long-random-production-key-" + "x7Qp2" * 10}


PRODUCTION_ENV = readme_env_file()


def manage(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """`manage.py` in a fresh process with only `env` (and what a process needs to run)."""
    base = {name: os.environ[name] for name in ("PATH", "HOME", "LANG") if name in os.environ}
    # Neither the test run's database nor the README's: these checks need no database.
    return subprocess.run(  # noqa: S603 - our own manage.py
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env={**base, **env, "DATABASE_URL": "sqlite:///:memory:"},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_check_deploy_is_clean_for_the_documented_configuration():
    result = manage("check", "--deploy", "--fail-level", "WARNING", env=PRODUCTION_ENV)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


def test_without_the_https_settings_check_deploy_says_what_to_set():
    https = {name for name in PRODUCTION_ENV if name.startswith(("SECURE_", "SESSION_", "CSRF_"))}
    env = {name: value for name, value in PRODUCTION_ENV.items() if name not in https}
    result = manage("check", "--deploy", env=env)
    for warning in ("W004", "W008", "W012", "W016"):
        assert f"security.{warning}" in result.stderr + result.stdout


def test_proxy_https_header_is_read_as_a_pair():
    code = "from django.conf import settings as s; print(s.SECURE_PROXY_SSL_HEADER)"
    result = manage("shell", "--no-imports", "-c", code, env=PRODUCTION_ENV)
    assert result.stdout.strip() == "('HTTP_X_FORWARDED_PROTO', 'https')", result.stderr
    result = manage("shell", "--no-imports", "-c", code, env={})
    assert result.stdout.strip() == "None"


def test_whitenoise_serves_the_collected_admin_css_with_debug_off(settings: Any, tmp_path: Path):
    settings.STATIC_ROOT = tmp_path
    settings.DEBUG = False
    call_command("collectstatic", "--no-input", verbosity=0)

    response = Client().get("/static/admin/css/base.css")

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/css")
    assert b"--primary" in b"".join(response.streaming_content)  # type: ignore[attr-defined]
