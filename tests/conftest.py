from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.test import Client

from jodo_webhooks.signals import event_received

from .helpers import TEST_SECRET, signed_post


@pytest.fixture(autouse=True)
def jodo_settings(settings: Any) -> dict[str, Any]:
    """Every test starts from the same known configuration: one signing secret, nothing else."""
    settings.JODO_WEBHOOKS = {
        "SECRETS": [TEST_SECRET],
        "HEADER_NAME": "",
        "HEADER_VALUE": "",
        "ALLOWED_IPS": [],
        "TRUSTED_PROXIES": 0,
        "MAX_BODY_BYTES": 1024 * 1024,
        "ALLOW_UNAUTHENTICATED": False,
        "MAX_EVENT_AGE_DAYS": 7,
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
    """Connect receivers to event_received for one test; all are disconnected after it."""
    connected: list[Callable[..., Any]] = []

    def _connect(receiver: Callable[..., Any]) -> Callable[..., Any]:
        event_received.connect(receiver, weak=False)
        connected.append(receiver)
        return receiver

    yield _connect
    for receiver in connected:
        event_received.disconnect(receiver)
