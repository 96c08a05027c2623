"""Browser tests: Playwright for Python driving Debian's `chromium` against a live server.

Playwright's own browser download cannot work on these machines, so the tests launch the
system's Chromium (`apt-get install chromium`; another binary with JODO_TEST_CHROMIUM) and are
skipped, saying so, when there is none.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from typing import Any

import pytest
from django.conf import settings
from django.contrib.auth.models import Permission, User
from django.test import Client

CHROMIUM = os.environ.get("JODO_TEST_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
VIEWPORT = {"width": 1366, "height": 768}  # the operators' laptops


def pytest_configure(config: Any) -> None:
    config.addinivalue_line("markers", "browser: drives a real Chromium (tests/browser)")


def pytest_collection_modifyitems(items: list[Any]) -> None:
    for item in items:
        if "tests/browser/" in str(item.path).replace(os.sep, "/"):
            item.add_marker(pytest.mark.browser)


@pytest.fixture(scope="package")
def browser() -> Iterator[Any]:
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"no Chromium at {CHROMIUM}: apt-get install chromium")
    # Playwright's sync API runs an event loop in this thread, and Django then refuses
    # database calls from it; the test code's own queries are plain synchronous ones.
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    playwright = sync_api.sync_playwright().start()
    try:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM)
        yield chromium
        chromium.close()
    finally:
        playwright.stop()
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@pytest.fixture
def open_as(browser: Any, live_server: Any, transactional_db: Any) -> Iterator[Any]:
    """open_as(user) -> a page logged in as `user` (1366 x 768), at the live server's admin."""
    contexts = []

    def _open_as(user: User) -> Any:
        client = Client()
        client.force_login(user)
        context = browser.new_context(viewport=VIEWPORT, base_url=live_server.url)
        context.add_cookies(
            [
                {
                    "name": settings.SESSION_COOKIE_NAME,
                    "value": client.cookies[settings.SESSION_COOKIE_NAME].value,
                    "url": live_server.url,
                }
            ]
        )
        context.set_default_timeout(10_000)
        contexts.append(context)
        return context.new_page()

    yield _open_as
    for context in contexts:
        context.close()


@pytest.fixture
def superuser(transactional_db: Any) -> User:
    return User.objects.create_superuser("root", "root@example.com", "pw")


def staff_with(*codenames: str, username: str = "operator") -> User:
    """A staff user with exactly these permissions (codenames, any app)."""
    user = User.objects.create_user(username, password="pw", is_staff=True)
    user.user_permissions.set(Permission.objects.filter(codename__in=codenames))
    return user


def horizontal_overflow(page: Any) -> int:
    """How many pixels the page is wider than the window (0: no horizontal scrollbar)."""
    return page.evaluate(
        "document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )
