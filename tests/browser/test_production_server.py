"""The reference ERP as deployed: gunicorn, DEBUG off, `collectstatic` run; the admin is styled."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
GUNICORN = Path(sys.executable).with_name("gunicorn")
LISTENING = re.compile(r"Listening at: (http://127\.0\.0\.1:\d+)")


@pytest.fixture
def production_server(tmp_path: Path) -> Iterator[str]:
    """gunicorn on a free port, configured as the README's production section says."""
    env = {
        **{name: os.environ[name] for name in ("PATH", "HOME", "LANG") if name in os.environ},
        "DEBUG": "false",
        "SECRET_KEY": "production-like-key-for-the-browser-test-" + "k" * 20,
        "ALLOWED_HOSTS": "127.0.0.1",
        "STATIC_ROOT": str(tmp_path / "static"),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        "JODO_WEBHOOK_SECRETS": "not-used-here",
    }
    # The login page needs no table, so the database stays empty.
    subprocess.run(
        [sys.executable, "manage.py", "collectstatic", "--no-input", "--verbosity", "0"],
        cwd=ROOT,
        env=env,
        check=True,
        timeout=120,
    )
    server = subprocess.Popen(  # noqa: S603 - the project's own gunicorn
        [str(GUNICORN), "erp_project.wsgi", "--bind", "127.0.0.1:0", "--workers", "1"],
        cwd=ROOT,
        env=env,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        yield wait_until_listening(server)
    finally:
        server.terminate()
        server.wait(timeout=10)


def wait_until_listening(server: subprocess.Popen[str]) -> str:
    deadline = time.monotonic() + 30
    assert server.stderr is not None
    while time.monotonic() < deadline:
        line = server.stderr.readline()
        if match := LISTENING.search(line):
            return match[1]
        if not line and server.poll() is not None:
            break
    raise AssertionError("gunicorn did not start")


def test_the_admin_is_styled_under_gunicorn_with_debug_off(browser: Any, production_server):
    page = browser.new_page(viewport={"width": 1366, "height": 768})
    stylesheets: dict[str, int] = {}
    page.on(
        "response",
        lambda response: (
            stylesheets.__setitem__(response.url, response.status)
            if response.url.endswith(".css")
            else None
        ),
    )

    page.goto(f"{production_server}/admin/login/")

    base_css = f"{production_server}/static/admin/css/base.css"
    assert stylesheets.get(base_css) == 200, stylesheets
    assert all(status == 200 for status in stylesheets.values()), stylesheets
    header = page.locator("#header")
    # base.css paints the header with the admin's primary colour; unstyled, it is transparent.
    assert header.evaluate("e => getComputedStyle(e).backgroundColor") == "rgb(65, 118, 144)"
    page.close()
