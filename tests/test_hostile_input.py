"""Hostile and broken input (issue 13): never a 5xx, always JSON, the same answer on every database.

Each numbered case of the issue has its regression test here, through the real URL, view and
database: deep nesting, lone surrogates, overflowing numbers, methods other than POST, log
lines forged through request text, a body shorter than its Content-Length, event ids that
differ only in case or spacing, an unexpected error, and the checks made before the body is read.
"""

from __future__ import annotations

import io
import json
import logging
import socket
from typing import Any

import pytest
from django.urls import reverse

from jodo_webhooks.models import InboundEvent, RejectedDelivery
from jodo_webhooks.security import SIGNATURE_HEADER, sign
from students.models import Student, StudentNote

from .factories import EnvelopeFactory, StudentBodyFactory, StudentPayloadFactory
from .helpers import DEPTH_LIMIT, TEST_SECRET, as_body, assert_accepted

pytestmark = pytest.mark.django_db

URL = reverse("jodo_webhooks:receive")
Reason = RejectedDelivery.Reason


def envelope_text(payload_json: str, **fields: Any) -> bytes:
    """A signed-ready body whose payload is the given JSON text, exactly as written."""
    body = EnvelopeFactory(event="test.unhandled", payload={}, **fields)
    text = json.dumps(body)
    assert text.endswith('"payload": {}}')
    return (text[: -len("{}}")] + payload_json + "}").encode()


def nested_payload(depth: int, kind: str = "object") -> str:
    """Payload JSON text that makes the whole body `depth` levels deep (the envelope is 1)."""
    inner = depth - 2  # containers inside the payload object
    opener, closer = ('{"a":', "}") if kind == "object" else ("[", "]")
    return '{"a":' + opener * inner + "1" + closer * inner + "}"


def assert_refused_400(response: Any, field: str, *words: str) -> str:
    """A JSON 400 naming `field`, whose message holds `words`; no event was recorded."""
    assert response.status_code == 400, response.content
    assert response["Content-Type"] == "application/json"
    errors = response.json()["errors"]
    message = " ".join(errors[field])
    for word in words:
        assert word in message, errors
    assert not InboundEvent.objects.exists()
    return message


# --- 1. Deep nesting: one limit, 32 levels for the whole body, on every database ----------------


@pytest.mark.parametrize("kind", ["object", "array"])
def test_body_nested_to_the_limit_is_accepted_and_stored(deliver, kind):
    """32 levels is the deepest the body may be: its payload (31) is what MariaDB can store."""
    raw = envelope_text(nested_payload(DEPTH_LIMIT, kind))
    body = json.loads(raw)
    event = assert_accepted(deliver(raw), body)
    event.refresh_from_db()
    assert event.payload == body["payload"]


@pytest.mark.parametrize("depth", [DEPTH_LIMIT + 1, 350])
@pytest.mark.parametrize("kind", ["object", "array"])
def test_body_nested_deeper_than_the_limit_is_refused(deliver, depth, kind):
    response = deliver(envelope_text(nested_payload(depth, kind)))
    assert_refused_400(response, "payload", f"nested deeper than {DEPTH_LIMIT} levels")
    assert RejectedDelivery.objects.get().reason == Reason.MALFORMED


@pytest.mark.parametrize("depth", [950, 1_000, 100_000])
def test_body_nested_beyond_what_the_parser_takes_is_refused(deliver, depth):
    """Issue case 1: 350-950 levels was a RecursionError (a 500); past what Python's parser
    takes (about 1,000 levels, less on a deep stack) it is refused before any walk."""
    response = deliver(envelope_text(nested_payload(depth, "array")))
    assert response.status_code == 400, response.content
    assert f"{DEPTH_LIMIT} levels" in json.dumps(response.json()["errors"])
    assert not InboundEvent.objects.exists()


def test_deep_extra_field_is_refused_too(deliver):
    body = EnvelopeFactory(event="test.unhandled")
    raw = as_body(body)[:-1] + b', "meta": ' + b"[" * 40 + b"]" * 40 + b"}"
    assert_refused_400(deliver(raw), "non_field_errors", "meta[0]", "nested deeper")


# --- 2 and 5. Lone surrogates: refused anywhere, and the refusal is still kept ------------------


@pytest.mark.parametrize(
    ("payload_json", "where"),
    [
        ('{"a": "\\ud800"}', "payload.a"),
        ('{"a": ["ok", "x\\udfffy"]}', "payload.a[1]"),
        ('{"\\udbff": 1}', 'payload["\\udbff"]'),
        ('{"student": {"identifier": "S1\\ud83d"}}', "payload.student.identifier"),
    ],
    ids=["value", "in-a-list", "key", "student-field"],
)
def test_lone_surrogate_in_the_payload_is_refused(deliver, payload_json, where):
    message = assert_refused_400(
        deliver(envelope_text(payload_json)), "payload", where, "lone surrogate"
    )
    assert "U+D" in message


def test_surrogate_pair_is_a_character_and_is_accepted(deliver):
    raw = envelope_text('{"name": "\\ud83d\\ude00 \\u00e9"}')
    event = assert_accepted(deliver(raw), json.loads(raw))
    event.refresh_from_db()
    assert event.payload == {"name": "\N{GRINNING FACE} \N{LATIN SMALL LETTER E WITH ACUTE}"}


@pytest.mark.parametrize("field", ["event_id", "event", "version"])
def test_lone_surrogate_in_an_envelope_field_is_refused(deliver, field):
    raw = as_body(EnvelopeFactory(**{field: "MARKER"})).replace(b"MARKER", b"x\\udc00")
    assert_refused_400(deliver(raw), field, "Surrogate")


@pytest.mark.django_db(transaction=True)
def test_refusal_of_a_lone_surrogate_event_id_is_kept(deliver):
    """Issue case 5: the refusal record was lost ("Could not record a rejected Jodo delivery")."""
    raw = as_body(EnvelopeFactory(event_id="evt-X")).replace(b"evt-X", b"evt-\\ud800-\\u0000")
    assert deliver(raw).status_code == 400
    rejected = RejectedDelivery.objects.get()
    assert rejected.event_id == "evt-\N{REPLACEMENT CHARACTER}-\N{REPLACEMENT CHARACTER}"
    assert rejected.body_prefix == raw.decode()


@pytest.mark.django_db(transaction=True)
def test_headers_are_stored_whatever_they_hold(deliver):
    """A NUL in a header (which PostgreSQL's jsonb cannot hold) is replaced, not a 500."""
    body = EnvelopeFactory(event="test.unhandled")
    event = assert_accepted(deliver(body, headers={"X-Trace": "a\x00b"}), body)
    assert event.headers["X-Trace"] == "a\N{REPLACEMENT CHARACTER}b"


# --- 3. Numbers: finite, and integers within 64 bits --------------------------------------------


@pytest.mark.parametrize(
    ("number", "words"),
    [
        ("1e400", ["payload.n", "overflows to infinity"]),
        ("-1E+999", ["payload.n", "overflows to infinity"]),
        (str(2**63), ["payload.n", "64-bit"]),
        (str(-(2**63) - 1), ["payload.n", "64-bit"]),
        ("9" * 5000, ["payload.n", "5000 digits", "64-bit"]),
    ],
    ids=["1e400", "-1e999", "2**63", "-2**63-1", "5000-digits"],
)
def test_number_no_database_can_store_is_refused(deliver, number, words):
    assert_refused_400(deliver(envelope_text(f'{{"n": {number}}}')), "payload", *words)


@pytest.mark.parametrize(
    "number",
    [str(2**63 - 1), str(-(2**63)), "1.7976931348623157e308", "1e-400", "-0.0", "0.1"],
)
def test_number_at_the_limits_is_accepted(deliver, number):
    raw = envelope_text(f'{{"n": {number}}}')
    event = assert_accepted(deliver(raw), json.loads(raw))
    event.refresh_from_db()
    # PostgreSQL's jsonb keeps a number as a decimal and may give 1.79e308 back as an integer:
    # the same value, as near as a double says.
    assert float(event.payload["n"]) == float(json.loads(number))
    assert event.raw_body == raw.decode()  # the exact text, whatever the column made of it


# --- 4. Every method but POST: 405 in JSON ------------------------------------------------------


@pytest.mark.parametrize(
    "method", ["OPTIONS", "HEAD", "GET", "PUT", "PATCH", "DELETE", "TRACE", "PROPFIND"]
)
def test_every_method_but_post_gets_405_in_json(client, method):
    raw = as_body(EnvelopeFactory())
    response = client.generic(
        method,
        URL,
        data=raw,
        content_type="application/json",
        headers={SIGNATURE_HEADER: sign(raw, TEST_SECRET)},
    )
    assert response.status_code == 405
    assert response["Content-Type"] == "application/json"
    assert response["Allow"] == "POST"
    if method != "HEAD":  # a HEAD answer has no body
        assert response.json() == {
            "error": "method_not_allowed",
            "detail": f'Method "{method}" not allowed.',
        }
    assert b"Verify, record" not in response.content  # no metadata from the view's docstring
    assert not InboundEvent.objects.exists()


# --- 6. Log lines carry no raw control characters from a request -------------------------------

FORGED = "evt-1\nFORGED-LINE 2026-01-01 INFO jodo_webhooks accepted\r\x1b[2J\u2028x\x85y"


def assert_log_lines_safe(caplog: pytest.LogCaptureFixture) -> list[str]:
    messages = [record.getMessage() for record in caplog.records]
    for message in messages:
        assert "FORGED" not in message or "\\nFORGED-LINE" in message, message
        for character in "\n\r\x1b\u2028\x85":
            assert character not in message, message
    return messages


def test_event_id_cannot_forge_log_lines_through_a_conflict(deliver, caplog):
    body = EnvelopeFactory(event="test.unhandled", event_id=FORGED)
    assert deliver(body).status_code == 200
    caplog.set_level(logging.INFO)
    response = deliver({**body, "payload": {"changed": True}})
    assert response.status_code == 409
    assert response.json()["detail"].startswith(f"Event {FORGED} was already recorded")
    messages = assert_log_lines_safe(caplog)
    assert any("evt-1\\nFORGED-LINE" in message and "\\x1b" in message for message in messages)


def test_event_id_cannot_forge_log_lines_through_a_processing_failure(deliver, caplog):
    body = EnvelopeFactory(event_id=FORGED, payload={"student": "not an object"})
    caplog.set_level(logging.INFO)
    response = deliver(body)
    assert response.status_code == 200
    assert InboundEvent.objects.get().status == InboundEvent.Status.FAILED
    messages = assert_log_lines_safe(caplog)
    assert any("Processing of Jodo event evt-1\\nFORGED-LINE" in message for message in messages)


def test_address_cannot_forge_log_lines(deliver, caplog):
    caplog.set_level(logging.INFO)
    response = deliver(EnvelopeFactory(), secret=None, REMOTE_ADDR="10.0.0.1\nFORGED-LINE x")
    assert response.status_code == 401
    messages = assert_log_lines_safe(caplog)
    assert any("10.0.0.1\\nFORGED-LINE" in message for message in messages)


# --- 7. A body shorter than its Content-Length --------------------------------------------------


def test_body_shorter_than_its_content_length_is_refused(client):
    raw = as_body(EnvelopeFactory())
    response = client.post(
        URL,
        data=raw,
        content_type="application/json",
        headers={SIGNATURE_HEADER: sign(raw, TEST_SECRET)},
        **{"wsgi.input": io.BytesIO(raw[:-10]), "CONTENT_LENGTH": str(len(raw))},
    )
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_envelope"
    detail = response.json()["detail"]
    assert (
        detail
        == f"Body shorter than its Content-Length: {len(raw) - 10} of {len(raw)} bytes arrived."
    )
    assert not InboundEvent.objects.exists()
    assert RejectedDelivery.objects.get().detail == detail


class UnreadableStream:
    """A request body that fails when read, like a connection reset mid-upload."""

    def read(self, size: int = -1) -> bytes:
        raise OSError("connection reset by peer")

    readline = read


def test_body_that_cannot_be_read_is_refused(client):
    response = client.post(
        URL, data=b"{}", content_type="application/json", **{"wsgi.input": UnreadableStream()}
    )
    assert response.status_code == 400
    assert response.json()["detail"] == "The body could not be read (0 bytes arrived)."


# --- 8. Event ids and the school's identifiers compare exactly on every database ----------------

SIMILAR_IDS = ["evt-a", "EVT-A", "evt-a ", "evt-a  ", "Evt-\N{LATIN SMALL LETTER A WITH ACUTE}"]


def test_event_ids_differing_only_in_case_or_spacing_are_different_events(deliver):
    bodies = [EnvelopeFactory(event="test.unhandled", event_id=eid) for eid in SIMILAR_IDS]
    for body in bodies:
        assert_accepted(deliver(body), body)
    for body in bodies:  # and each redelivery is a duplicate of its own event only
        assert deliver(body).json() == {"status": "duplicate", "event_id": body["event_id"]}
    stored = sorted(InboundEvent.objects.values_list("event_id", flat=True))
    assert stored == sorted(SIMILAR_IDS)
    for event_id in SIMILAR_IDS:
        assert InboundEvent.objects.get(event_id=event_id).delivery_count == 2


def test_students_whose_ids_differ_only_in_case_are_different_students(deliver):
    identifiers = ["s-100", "S-100", "s-1\N{LATIN SMALL LETTER O WITH DIAERESIS}0"]
    for number, identifier in enumerate(identifiers):
        student_body = StudentBodyFactory(
            identifier=identifier,
            custom_identifier=identifier.swapcase(),
            notes=[{"key": "Reg", "value": "1"}, {"key": "reg", "value": "2"}],
        )
        payload = StudentPayloadFactory(student=student_body, jodo_student_id=f"J-{identifier}")
        body = EnvelopeFactory(payload=payload, timestamp=1_900_000_000 + number)
        assert_accepted(deliver(body), body)
    events = InboundEvent.objects.all()
    assert {event.status for event in events} == {InboundEvent.Status.PROCESSED}, [
        event.last_error for event in events
    ]
    assert sorted(Student.objects.values_list("identifier", flat=True)) == sorted(identifiers)
    for identifier in identifiers:
        student = Student.objects.get(identifier=identifier)
        assert student.custom_identifier == identifier.swapcase()
        assert student.jodo_student_id == f"J-{identifier}"
        notes = dict(student.notes.values_list("key", "value"))
        assert notes == {"Reg": "1", "reg": "2"}
    assert StudentNote.objects.count() == 6


# --- Whatever else goes wrong: a JSON 500, logged once with the event id ------------------------


def test_unexpected_error_is_a_json_500_logged_once_with_the_event_id(deliver, caplog, monkeypatch):
    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("something nobody planned for")

    monkeypatch.setattr("jodo_webhooks.views.record_delivery", broken)
    body = EnvelopeFactory(event_id="evt-unexpected\n")
    caplog.set_level(logging.INFO)
    response = deliver(body)
    assert response.status_code == 500
    assert response["Content-Type"] == "application/json"
    assert response.json() == {
        "error": "server_error",
        "detail": "The delivery could not be handled; please retry.",
    }
    ours = [record for record in caplog.records if record.name == "jodo_webhooks"]
    assert len(ours) == 1
    assert ours[0].getMessage() == (
        "Unexpected error while receiving Jodo event evt-unexpected\\n; answered 500"
    )
    assert ours[0].exc_info is not None
    assert ours[0].exc_info[0] is RuntimeError


# --- 9. Cheap checks before the body is read ----------------------------------------------------


class MustNotBeRead:
    def read(self, size: int = -1) -> bytes:
        raise AssertionError("the body was read")

    readline = read


def read_response(sock: socket.socket) -> tuple[str, dict[str, Any]]:
    """The status line and JSON body of one HTTP answer, without waiting for the connection
    to close (a server may keep it open to drain a body it never read)."""
    data = b""
    while b"\r\n\r\n" not in data:
        data += sock.recv(65536) or b"\r\n\r\n"
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines[1:])
    while len(body) < int(headers["Content-Length"]):
        body += sock.recv(65536)
    assert headers["Content-Type"] == "application/json"
    return lines[0], json.loads(body)


@pytest.mark.parametrize(
    ("overrides", "extra", "status_code", "reason"),
    [
        ({"MAX_BODY_BYTES": 100}, {}, 413, Reason.TOO_LARGE),
        ({"SECRETS": []}, {}, 401, Reason.NOT_CONFIGURED),
        ({"ALLOWED_IPS": ["3.6.234.242"]}, {"REMOTE_ADDR": "198.51.100.7"}, 403, Reason.ADDRESS),
        ({"HEADER_NAME": "X-Jodo-Token", "HEADER_VALUE": "v"}, {}, 401, Reason.HEADER),
        (
            {"HEADER_NAME": "X-Jodo-Token", "HEADER_VALUE": "v"},
            {"HTTP_X_JODO_TOKEN": "wrong"},
            401,
            Reason.HEADER,
        ),
    ],
    ids=["declared-too-large", "not-configured", "address", "missing-header", "wrong-header"],
)
def test_refused_before_the_body_is_read(
    client, jodo_settings, overrides, extra, status_code, reason
):
    jodo_settings.update(overrides)
    response = client.post(
        URL,
        data=b"{}",
        content_type="application/json",
        **{"wsgi.input": MustNotBeRead(), "CONTENT_LENGTH": "1000", **extra},
    )
    assert response.status_code == status_code, response.content
    assert response["Content-Type"] == "application/json"
    rejected = RejectedDelivery.objects.get()
    assert rejected.reason == reason
    assert rejected.body_prefix == ""


def test_method_is_refused_before_the_body_is_read(client):
    response = client.generic(
        "PUT", URL, data=b"{}", **{"wsgi.input": MustNotBeRead(), "CONTENT_LENGTH": "1000"}
    )
    assert response.status_code == 405


def test_short_body_is_judged_before_the_signature(client):
    """The signature needs the whole body: a cut-off body is a 400, signed or not."""
    response = client.post(
        URL,
        data=b"{}",
        content_type="application/json",
        **{"wsgi.input": io.BytesIO(b"{}"), "CONTENT_LENGTH": "1000"},
    )
    assert response.status_code == 400


@pytest.mark.django_db(transaction=True)
def test_real_server_answers_a_refused_upload_before_its_body_arrives(live_server, jodo_settings):
    """A sender that holds its body back keeps no worker waiting once it is refused."""
    jodo_settings["ALLOWED_IPS"] = ["3.6.234.242"]
    with socket.create_connection((live_server.thread.host, live_server.thread.port)) as sock:
        sock.settimeout(10)
        sock.sendall(
            f"POST {URL} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
            "Content-Length: 100000\r\n\r\n{".encode()
        )
        status, answer = read_response(sock)
    assert status == "HTTP/1.1 403 Forbidden"
    assert answer["error"] == "forbidden"


@pytest.mark.django_db(transaction=True)
def test_real_server_refuses_a_body_cut_short(live_server):
    raw = as_body(EnvelopeFactory())
    with socket.create_connection((live_server.thread.host, live_server.thread.port)) as sock:
        sock.settimeout(10)
        sock.sendall(
            f"POST {URL} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
            f"{SIGNATURE_HEADER}: {sign(raw, TEST_SECRET)}\r\n"
            f"Content-Length: {len(raw)}\r\n\r\n".encode()
            + raw[:20]
        )
        sock.shutdown(socket.SHUT_WR)
        status, answer = read_response(sock)
    assert status == "HTTP/1.1 400 Bad Request"
    assert (
        answer["detail"] == f"Body shorter than its Content-Length: 20 of {len(raw)} bytes arrived."
    )
    assert not InboundEvent.objects.exists()


def test_ipv6_zone_is_dropped_from_the_address(deliver):
    body = EnvelopeFactory(event="test.unhandled")
    event = assert_accepted(deliver(body, REMOTE_ADDR="fe80::1%eth0"), body)
    assert event.remote_addr == "fe80::1"
