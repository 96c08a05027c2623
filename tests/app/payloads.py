"""Helpers for the typed-payload tests: fixture bodies, exact JSON text, recording through the
real endpoint."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from typing import Any

from jodo_webhooks.models import InboundEvent

from ..helpers import FIXTURES, deliver_event

# A placeholder a test swaps for raw JSON text (a number exactly as Jodo would write it).
RAW = "__raw_json__"
# Jodo sends `jodo_student_id` as an integer on some pages, a string on others; always a str here.
JODO_IDS = [(7408, "7408"), ("student_1234", "student_1234")]


def fixture(code: str) -> dict[str, Any]:
    """The fixture body for `code`, with a fresh event_id so a test may record it again."""
    body: dict[str, Any] = json.loads((FIXTURES / f"{code}.json").read_text())
    body["event_id"] = str(uuid.uuid4())
    return body


def body_text(body: dict[str, Any], raw: str | None = None) -> bytes:
    """`body` as JSON, its RAW placeholder (if any) replaced by the JSON text `raw`."""
    text = json.dumps(body)
    if raw is not None:
        assert text.count(json.dumps(RAW)) == 1
        text = text.replace(json.dumps(RAW), raw)
    return text.encode()


def record(
    deliver: Callable[..., Any], body: dict[str, Any], raw: str | None = None
) -> InboundEvent:
    """Deliver `body` (signed) to the real endpoint; the recorded row, read back from the DB."""
    return deliver_event(deliver, body_text(body, raw))
