"""The delivery envelope: malformed bodies are answered 400 with field errors and never recorded."""

from __future__ import annotations

import json
from typing import Any

import pytest

from jodo_webhooks.models import InboundEvent, RejectedDelivery

from ..factories import EnvelopeFactory
from ..helpers import as_body

pytestmark = pytest.mark.django_db

REQUIRED_FIELDS = ["event_id", "event", "timestamp", "version", "payload"]


def assert_invalid(response: Any, *fields: str) -> dict[str, Any]:
    """A 400 whose JSON `errors` names exactly the given fields; nothing was recorded."""
    assert response.status_code == 400, response.content
    assert response["Content-Type"].startswith("application/json")
    errors = response.json()["errors"]
    assert isinstance(errors, dict)
    assert set(errors) == set(fields), errors
    for field in fields:
        assert errors[field], errors  # a non-empty list of messages
    assert InboundEvent.objects.count() == 0
    return errors


def with_field(field: str, value: Any) -> dict[str, Any]:
    body = EnvelopeFactory()
    body[field] = value
    return body


def test_invalid_utf8_is_refused(deliver):
    raw = as_body(EnvelopeFactory()).replace(b'"1.0"', b'"1.0\xff\xfe"')
    assert_invalid(deliver(raw), "non_field_errors")


def test_latin1_encoded_body_is_refused(deliver):
    body = EnvelopeFactory()
    body["payload"]["note"] = "café"
    raw = json.dumps(body, ensure_ascii=False).encode("latin-1")
    assert_invalid(deliver(raw), "non_field_errors")


@pytest.mark.parametrize(
    "raw",
    [b"", b"{", b'{"event_id": "a",}', b"not json", b"{'event_id': 'a'}"],
    ids=["empty", "truncated", "trailing-comma", "text", "single-quotes"],
)
def test_invalid_json_is_refused(deliver, raw):
    assert_invalid(deliver(raw), "non_field_errors")


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity"])
def test_non_standard_number_literals_are_refused(deliver, literal):
    raw = json.dumps(EnvelopeFactory()).replace('"version": "1.0"', '"version": "1.0", "x": 1')
    body = raw.replace('"x": 1', f'"x": {literal}').encode()
    assert literal.encode() in body
    assert_invalid(deliver(body), "non_field_errors")


@pytest.mark.parametrize(
    "body",
    [[EnvelopeFactory()], "a string", 42, None, True],
    ids=["array", "string", "number", "null", "boolean"],
)
def test_json_that_is_not_an_object_is_refused(deliver, body):
    assert_invalid(deliver(json.dumps(body).encode()), "non_field_errors")


@pytest.mark.parametrize("field", REQUIRED_FIELDS)
def test_each_required_field_is_required(deliver, field):
    body = EnvelopeFactory()
    del body[field]
    assert_invalid(deliver(body), field)


@pytest.mark.parametrize("field", REQUIRED_FIELDS)
def test_null_is_refused_for_each_field(deliver, field):
    assert_invalid(deliver(with_field(field, None)), field)


def test_all_missing_fields_are_reported_together(deliver):
    assert_invalid(deliver({"unrelated": 1}), *REQUIRED_FIELDS)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("event_id", 12345),
        ("event_id", ["a"]),
        ("event", 7),
        ("event", {"code": "x"}),
        ("timestamp", "1655448963"),
        ("timestamp", 1655448963.0),
        ("timestamp", 1655448963.5),
        ("timestamp", True),
        ("timestamp", -1),
        ("timestamp", 10**20),
        ("version", 1.0),
        ("version", 1),
        ("payload", []),
        ("payload", [{"jodo_student_id": "x"}]),
        ("payload", "{}"),
    ],
    ids=lambda value: type(value).__name__ if not isinstance(value, str) else None,
)
def test_wrong_types_are_refused(deliver, field, value):
    errors = assert_invalid(deliver(with_field(field, value)), field)
    assert all(isinstance(message, str) for message in errors[field])


def test_empty_event_id_is_refused(deliver):
    assert_invalid(deliver(with_field("event_id", "")), "event_id")


def test_event_id_over_255_characters_is_refused(deliver):
    assert_invalid(deliver(with_field("event_id", "e" * 256)), "event_id")


def test_event_id_of_255_characters_is_accepted(deliver):
    body = with_field("event_id", "e" * 255)
    response = deliver(body)
    assert response.status_code == 200, response.content
    assert InboundEvent.objects.get().event_id == "e" * 255


@pytest.mark.django_db(transaction=True)
def test_event_id_with_a_nul_character_is_refused(deliver):
    assert_invalid(deliver(with_field("event_id", "abc\u0000def")), "event_id")


@pytest.mark.django_db(transaction=True)
def test_refused_body_with_nul_characters_is_still_kept_for_operators(deliver):
    """The refusal record must survive a NUL (PostgreSQL text columns cannot hold one)."""
    body = with_field("event_id", "abc\u0000def")
    body["event"] = "bad\u0000event"
    assert_invalid(deliver(body), "event_id", "event")
    rejected = RejectedDelivery.objects.get()
    assert rejected.reason == RejectedDelivery.Reason.MALFORMED
    assert rejected.event_id.startswith("abc")


def test_payload_with_a_nul_character_is_refused_not_a_server_error(deliver):
    """JSON allows \\u0000 but PostgreSQL's jsonb cannot store it: refuse it on every database.

    Without validation, SQLite records the event and PostgreSQL raises DataError (a 500, which
    Jodo retries and counts toward disabling the subscription).
    """
    body = EnvelopeFactory(event="test.unhandled", payload={"remark": "bad\u0000byte"})
    assert_invalid(deliver(body), "payload")


def test_unknown_extra_fields_are_allowed(deliver):
    body = EnvelopeFactory(event="test.unhandled")
    body["delivery_attempt"] = 3
    body["meta"] = {"source": "jodo", "region": ["in"]}
    response = deliver(body)
    assert response.status_code == 200, response.content
    assert response.json() == {"status": "accepted", "event_id": body["event_id"]}
    event = InboundEvent.objects.get()
    assert json.loads(event.raw_body)["meta"] == {"source": "jodo", "region": ["in"]}


def test_empty_payload_object_is_accepted(deliver):
    body = EnvelopeFactory(event="test.unhandled", payload={})
    response = deliver(body)
    assert response.status_code == 200, response.content
    assert InboundEvent.objects.get().payload == {}


def test_error_answer_names_the_problem(deliver):
    response = deliver(with_field("timestamp", "yesterday"))
    assert response.status_code == 400
    answer = response.json()
    assert answer["error"] == "invalid_envelope"
    assert "integer" in " ".join(answer["errors"]["timestamp"]).lower()
