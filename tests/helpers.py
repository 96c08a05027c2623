"""Shared test helpers: signed requests to the real endpoint, fixture files, database guards."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from jodo_webhooks.models import InboundEvent
from jodo_webhooks.security import SIGNATURE_HEADER, sign

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
TEST_SECRET = "test-secret-0123456789abcdef"
ROTATED_SECRET = "rotated-secret-fedcba9876543210"
# The documented nesting limit (README, "Nesting: at most 32 levels"), pinned here rather than
# read from the code under test, so that changing it takes changing the tests.
DEPTH_LIMIT = 32


def on_sqlite() -> bool:
    return settings.DATABASES["default"]["ENGINE"].endswith("sqlite3")


# SQLite serialises every writer, so races can only be shown on a server database.
requires_server_database = pytest.mark.skipif(
    on_sqlite(), reason="needs concurrent writers: set DATABASE_URL to PostgreSQL or MariaDB"
)


def load_fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def as_body(body: bytes | dict[str, Any] | list[Any]) -> bytes:
    return body if isinstance(body, bytes) else json.dumps(body).encode()


def signed_post(
    client: Client,
    body: bytes | dict[str, Any] | list[Any],
    *,
    secret: str | None = TEST_SECRET,
    signature: str | None = None,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> Any:
    """POST `body` to the real endpoint, signed with `secret` unless `signature` is given."""
    raw = as_body(body)
    all_headers = dict(headers or {})
    if signature is not None:
        all_headers[SIGNATURE_HEADER] = signature
    elif secret is not None:
        all_headers[SIGNATURE_HEADER] = sign(raw, secret)
    return client.post(
        reverse("jodo_webhooks:receive"),
        data=raw,
        content_type="application/json",
        headers=all_headers,
        **extra,
    )


def timestamp(seconds_ago: int = 0) -> int:
    """A Jodo `timestamp` (Unix seconds), `seconds_ago` before now."""
    return int(time.time()) - seconds_ago


def deliver_event(deliver: Callable[..., Any], body: dict[str, Any] | bytes) -> InboundEvent:
    """Deliver `body` through the signed endpoint; the delivery must be accepted (2xx)."""
    response = deliver(body)
    assert response.status_code == 200, response.content
    return InboundEvent.objects.get(event_id=response.json()["event_id"])


def apply(deliver: Callable[..., Any], body: Any, expected: str = "processed") -> InboundEvent:
    """Deliver `body`; the event must end with the `expected` status."""
    event = deliver_event(deliver, body)
    assert event.status == expected, event.last_error or event.status_reason
    return event


def at(seconds_ago: int) -> datetime:
    """The datetime of a `timestamp(seconds_ago)`, as the ERP stores it."""
    return datetime.fromtimestamp(timestamp(seconds_ago), tz=UTC)


def statements_for(deliver: Callable[..., Any], body: dict[str, Any]) -> list[str]:
    """Every statement one delivery runs, savepoints included, as in production (autocommit);
    the event must end processed."""
    with CaptureQueriesContext(connection) as captured:
        response = deliver(body)
    assert response.status_code == 200, response.content
    event = InboundEvent.objects.get(event_id=body["event_id"])
    assert event.status == "processed", event.last_error
    return [query["sql"] for query in captured.captured_queries]


def assert_accepted(response: Any, body: dict[str, Any]) -> InboundEvent:
    """The delivery was accepted as a new event; its row."""
    assert response.status_code == 200, response.content
    assert response.json() == {"status": "accepted", "event_id": body["event_id"]}
    return InboundEvent.objects.get(event_id=body["event_id"])


def admin_listed(client: Client, url: str, **query: str) -> list[Any]:
    """The rows an admin changelist shows for `query`, which the admin must have accepted."""
    response = client.get(url, query)
    assert response.status_code == 200, response.content
    assert "e" not in response.wsgi_request.GET, "the admin refused the query"
    return list(response.context["cl"].result_list)


def stored_events(
    count: int, *, now: datetime, event_type: str, **fields: Callable[[int], Any]
) -> list[InboundEvent]:
    """`count` small events bulk-created for scale tests, the nth received n minutes before
    `now`; each keyword computes that field of the nth event (`status=lambda n: ...`)."""
    return InboundEvent.objects.bulk_create(
        (
            InboundEvent(
                event_id=str(uuid.uuid4()),
                event_type=event_type,
                version="1.0",
                occurred_at=now - timedelta(minutes=n),
                received_at=now - timedelta(minutes=n),
                payload={},
                raw_body="{}",
                payload_digest="0" * 64,
                **{name: value(n) for name, value in fields.items()},
            )
            for n in range(count)
        ),
        batch_size=1000,
    )
