from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.test import Client

from jodo_webhooks.signals import disconnect, event_received, register

from .helpers import TEST_SECRET, signed_post


@pytest.fixture(autouse=True)
def jodo_settings(settings: Any) -> dict[str, Any]:
    """Every test starts from the same known configuration: one signing secret, nothing else."""
    configured = getattr(settings, "JODO_WEBHOOKS", {})
    settings.JODO_WEBHOOKS = {
        "SECRETS": [TEST_SECRET],
        "HEADER_NAME": "",
        "HEADER_VALUE": "",
        "ALLOWED_IPS": [],
        "TRUSTED_PROXIES": 0,
        "MAX_BODY_BYTES": 1024 * 1024,
        "ALLOW_UNAUTHENTICATED": False,
        "MAX_EVENT_AGE_DAYS": 7,
        # The project's student sync, if it has one (the reference ERP's, in erp_project).
        "STUDENT_SYNC": configured.get("STUDENT_SYNC"),
        "PAYMENT_SYNC": configured.get("PAYMENT_SYNC"),
    }
    return settings.JODO_WEBHOOKS


@pytest.fixture(autouse=True)
def fast_password_hashing(settings: Any) -> None:
    """admin_client creates a superuser per test; the default hasher is deliberately slow."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def deliver(client: Client) -> Callable[..., Any]:
    def _deliver(body: bytes | dict[str, Any] | list[Any], **kwargs: Any) -> Any:
        return signed_post(client, body, **kwargs)

    return _deliver


@pytest.fixture
def connect_receiver() -> Iterator[Callable[..., Any]]:
    """Register a receiver for `event_types` for one test, as `@jodo_webhooks.receiver` does;
    with no event types, connect it to event_received plainly (every event, none handled).
    All are disconnected after the test."""
    uids: list[str] = []

    def _connect(receiver: Callable[..., Any], *event_types: str) -> Callable[..., Any]:
        uid = f"test-receiver-{len(uids)}-{id(receiver)}"
        if event_types:
            register(receiver, frozenset(event_types), uid)
        else:
            event_received.connect(receiver, weak=False, dispatch_uid=uid)
        uids.append(uid)
        return receiver

    yield _connect
    for uid in uids:
        disconnect(uid)
