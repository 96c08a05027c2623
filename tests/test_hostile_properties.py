"""Property-based tests: whatever arrives at the endpoint, the answer and the database agree.

Hypothesis generates deliveries: valid Jodo envelopes with student payloads, the same mutated
(wrong types, nulls, missing and extra fields, extreme numbers, deep nesting, lone surrogates,
NUL and control characters, strings near the size limit), raw bytes, unsigned or wrongly signed
requests, other methods, and redeliveries. Each goes through the real URL, view and database,
and then:

- no answer is a 5xx, every answer is JSON;
- a 2xx answer names the event, and the event's row exists if and only if a 2xx said so;
- an unauthenticated request never creates an InboundEvent (it is a 401);
- input that no supported database can store is a 400 on every database;
- a valid delivery is accepted, and a redelivery of it is a duplicate;
- every accepted event ends processed, failed, skipped or ignored (inline mode);
- a Student exists only for a processed event, and a processed student event has its Student;
- every refusal is kept as a RejectedDelivery; log lines hold no raw control character.

HYPOTHESIS_EXAMPLES sets the number of examples (200 by default; CI runs 10,000). A failure
prints `@reproduce_failure(...)`, which replays it; `--hypothesis-seed=N` repeats a whole run.
"""

from __future__ import annotations

import json
import logging
import os
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import pytest
from django.db import transaction
from django.test import Client
from django.urls import reverse
from hypothesis import HealthCheck, given, settings
from hypothesis import event as event_note
from hypothesis import strategies as st

from jodo_webhooks.event_types import STUDENT_EVENT_TYPES
from jodo_webhooks.models import InboundEvent, RejectedDelivery
from jodo_webhooks.security import SIGNATURE_HEADER, sign
from students.models import Student, StudentNote

from .helpers import DEPTH_LIMIT, TEST_SECRET

settings.register_profile(
    "jodo-hostile",
    max_examples=int(os.environ.get("HYPOTHESIS_EXAMPLES", "200")),
    deadline=None,
    database=None,  # no .hypothesis/ directory: a failure prints the example and a blob
    print_blob=True,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,  # each example cleans the database itself
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
    ],
)
PROFILE = settings.get_profile("jodo-hostile")

URL = reverse("jodo_webhooks:receive")
MAX_BODY_BYTES = 8192  # small, so that bodies near and over the limit are cheap to make
FINAL_STATUSES = {"processed", "failed", "skipped", "ignored"}
Status = InboundEvent.Status

# --- JSON text, written by hand so that any value can be sent -----------------------------------


@dataclass(frozen=True)
class RawNumber:
    """A JSON number written as is: Python's json module cannot write 1e400."""

    text: str
    unstorable: bool


@dataclass(frozen=True)
class Deep:
    """Arrays nested in each other until the body is `depth` levels deep where it sits (or
    one level more than that position), written without recursion."""

    depth: int


UNSTORABLE_TEXT = re.compile("[\x00\ud800-\udfff]")
SURROGATE = re.compile("[\ud800-\udfff]")
INTEGER_RANGE = (-(2**63), 2**63 - 1)


def encode(value: Any, level: int, ensure_ascii: bool) -> tuple[str, bool]:
    """JSON text for `value`, and whether it holds anything no database can store. `level` is
    the nesting level a container here has (the envelope is 1)."""
    if isinstance(value, Deep):
        levels = max(value.depth - level + 1, 1)
        return "[" * levels + "]" * levels, level + levels - 1 > DEPTH_LIMIT
    if isinstance(value, RawNumber):
        return value.text, value.unstorable
    if isinstance(value, str):
        has_surrogates = SURROGATE.search(value) is not None
        text = json.dumps(value, ensure_ascii=ensure_ascii or has_surrogates)
        # As the server reads it: an escaped surrogate pair is one character, not two.
        return text, UNSTORABLE_TEXT.search(json.loads(text)) is not None
    if isinstance(value, bool) or value is None:
        return json.dumps(value), False
    if isinstance(value, int):
        return str(value), not INTEGER_RANGE[0] <= value <= INTEGER_RANGE[1]
    if isinstance(value, float):
        return json.dumps(value), False
    unstorable = level > DEPTH_LIMIT
    parts = []
    if isinstance(value, dict):
        for key, item in value.items():
            key_text, bad_key = encode(key, level + 1, ensure_ascii)
            item_text, bad_item = encode(item, level + 1, ensure_ascii)
            parts.append(f"{key_text}: {item_text}")
            unstorable = unstorable or bad_key or bad_item
        return "{" + ", ".join(parts) + "}", unstorable
    for item in value:
        item_text, bad_item = encode(item, level + 1, ensure_ascii)
        parts.append(item_text)
        unstorable = unstorable or bad_item
    return "[" + ", ".join(parts) + "]", unstorable


# --- Strategies ----------------------------------------------------------------------------------

# Ids as a school might type them: case, spaces, accents and 4-byte characters, so that ids
# that differ only in case or spacing meet the database's comparison. (Drawing text costs a
# draw per character: a pool of tricky ids keeps examples cheap.)
SAFE_ALPHABET = (
    "aAbBzZ019 -_."
    "\N{LATIN SMALL LETTER E WITH ACUTE}\N{LATIN SMALL LETTER SHARP S}\N{GRINNING FACE}"
)
ID_POOL = [
    "S-100",
    "s-100",
    "S-100 ",
    " S-100",
    "Stra\N{LATIN SMALL LETTER SHARP S}e",
    "STRASSE",
    "e",
    "\N{LATIN SMALL LETTER E WITH ACUTE}",
    "\N{LATIN CAPITAL LETTER E WITH ACUTE}",
    "\N{GRINNING FACE}",
]
short_ids = st.one_of(
    st.sampled_from(ID_POOL),
    st.builds(
        str.__add__,
        st.sampled_from(SAFE_ALPHABET.replace(" ", "")),
        st.text(SAFE_ALPHABET, max_size=8),
    ),
)
safe_ids = short_ids | st.just("A" * 255)  # as long as an id may be
# Any text a database can store: control characters yes, NUL no.
plain_text = st.text(st.characters(exclude_characters="\x00"), max_size=8)


def repeated(characters: str, lengths: list[int]) -> st.SearchStrategy[str]:
    """Long text, cheaply: one character repeated."""
    return st.builds(str.__mul__, st.sampled_from(characters), st.sampled_from(lengths))


HOSTILE_CHARACTERS = st.one_of(
    st.characters(),  # any code point but surrogates: NUL and C0/C1 controls included
    st.integers(0xD800, 0xDFFF).map(chr),  # lone surrogates
    st.sampled_from('\n\r\x1b\x00\u2028\x85\t\\"'),
)
hostile_text = st.text(HOSTILE_CHARACTERS, max_size=10)
any_text = st.one_of(safe_ids, hostile_text, st.text(max_size=10))
# Near the 8 KiB body limit: over it on its own, or leaving just enough room for the rest.
long_text = st.builds(
    lambda character, length: character * length,
    st.sampled_from(["x", "\N{LATIN SMALL LETTER E WITH ACUTE}", "\N{GRINNING FACE}", "\n"]),
    st.integers(MAX_BODY_BYTES - 900, MAX_BODY_BYTES + 50),
)
# Each side of every limit: 64-bit integers, doubles, and their overflow.
boundary_numbers = st.sampled_from(
    [
        RawNumber("1e400", unstorable=True),
        RawNumber("-1E+999", unstorable=True),
        RawNumber(str(2**63), unstorable=True),
        RawNumber(str(-(2**63) - 1), unstorable=True),
        RawNumber(str(2**63 - 1), unstorable=False),
        RawNumber(str(-(2**63)), unstorable=False),
        RawNumber("1e-400", unstorable=False),
        RawNumber("-0.0", unstorable=False),
        RawNumber("1.7976931348623157e308", unstorable=False),
    ]
)
huge_integers = st.integers(20, 6000).map(lambda digits: RawNumber("7" * digits, unstorable=True))
extreme_numbers = st.one_of(
    boundary_numbers,
    huge_integers,
    st.integers(),  # unbounded: some out of the 64-bit range
    st.floats(allow_nan=False, allow_infinity=False),
)
# Mostly at the limit, where an off-by-one would show; sometimes where the parser gives up.
deep = st.one_of(
    st.sampled_from([DEPTH_LIMIT, DEPTH_LIMIT + 1, DEPTH_LIMIT - 1, DEPTH_LIMIT + 2]),
    st.integers(2, 40),
    st.integers(300, 1200),
).map(Deep)
leaves = st.one_of(st.none(), st.booleans(), any_text, extreme_numbers, deep)
json_values = st.recursive(
    leaves,
    lambda children: st.one_of(
        st.lists(children, max_size=3), st.dictionaries(any_text, children, max_size=3)
    ),
    max_leaves=6,
)
mutant_values = st.one_of(*[json_values] * 8, long_text)


# Strategies are built once, here: one built inside a composite function is validated and
# labelled anew on every draw, which made generation cost more than the request.
PICK = st.integers(0, 2**16)  # an index into a list known only while drawing


def pick(draw: st.DrawFn, items: list[Any]) -> Any:
    return items[draw(PICK) % len(items)]


def weighted(*choices: tuple[int, st.SearchStrategy[Any]]) -> st.SearchStrategy[Any]:
    """One of the strategies, each as often as its weight (st.one_of weighs them alike)."""
    pool = [strategy for weight, strategy in choices for _ in range(weight)]
    return st.sampled_from(pool).flatmap(lambda strategy: strategy)


optional_ids = st.none() | safe_ids
grades = st.none() | st.fixed_dictionaries({}, optional={"code": short_ids, "name": plain_text})
notes = st.lists(st.fixed_dictionaries({"key": safe_ids, "value": plain_text}), max_size=3)
phone_numbers = st.sampled_from(["", "9876543210", "+91 98765 43210"])
OPTIONAL_STUDENT_FIELDS = ["custom_identifier", "grade", "notes"]
optional_student_fields = st.sets(st.sampled_from(OPTIONAL_STUDENT_FIELDS))


@st.composite
def student_payloads(draw: st.DrawFn) -> dict[str, Any]:
    """A valid `payload` of a student master-data event, in Jodo's shape."""
    start = draw(st.integers(1900, 9999))
    student: dict[str, Any] = {
        "identifier": draw(safe_ids),
        "custom_identifier": draw(optional_ids),
        "collector_code": draw(st.none() | plain_text),
        "grade": draw(grades),
        "academic_year_start": start,
        "academic_year_end": min(start + draw(st.integers(0, 3)), 9999),
        "primary_contact_number": draw(phone_numbers),
        "primary_contact_email": draw(plain_text),
        "notes": draw(notes),
    }
    for optional in draw(optional_student_fields):
        del student[optional]
    payload: dict[str, Any] = {"student": student}
    if draw(st.booleans()):
        payload["jodo_student_id"] = draw(optional_ids)
    return payload


# Mostly what the reference ERP applies, so that most valid deliveries get processed.
event_types = weighted(
    (6, st.sampled_from(sorted(STUDENT_EVENT_TYPES))),
    (1, st.just("test.unhandled")),
    (1, short_ids),
)
recent_seconds = st.integers(0, 86_400)
timestamps = weighted((6, st.none()), (1, st.integers(0, 253402300799)))  # None: recent
event_ids = safe_ids | st.uuids().map(str) | repeated("e\N{GRINNING FACE}\n", [255])
versions = weighted((6, st.just("1.0")), (1, st.sampled_from(["1", "1.2.3", "2.0", ""])))
payloads = weighted((6, student_payloads()), (1, st.dictionaries(safe_ids, plain_text, max_size=3)))


@st.composite
def envelopes(draw: st.DrawFn) -> dict[str, Any]:
    """A valid Jodo envelope: a student event (mostly), an unhandled or an unknown one."""
    timestamp = draw(timestamps)
    return {
        "event": draw(event_types),
        "event_id": draw(event_ids),
        "version": draw(versions),
        "timestamp": int(time.time()) - draw(recent_seconds) if timestamp is None else timestamp,
        "payload": draw(payloads),
    }


ENVELOPE_FIELDS = ["event_id", "event", "timestamp", "version", "payload"]

# One value in an otherwise valid delivery: refused if no database can store it, else accepted.
# High and low alike (a plain character strategy would mostly give the first, U+D800).
surrogate = st.sampled_from(["\ud800", "\udbff", "\udc00", "\udfff"]) | st.integers(
    0xD800, 0xDFFF
).map(chr)
poisons = weighted(
    (3, boundary_numbers),
    (2, deep),
    (2, st.tuples(safe_ids, surrogate, safe_ids).map("".join)),  # a lone surrogate
    (1, st.tuples(safe_ids, st.just("\x00"), safe_ids).map("".join)),
    (1, st.tuples(safe_ids, st.sampled_from("\n\r\x1b\x7f\x85\u2028\t"), safe_ids).map("".join)),
    (1, st.just("\U0010ffff")),  # sent as a surrogate pair: one character
    (1, st.tuples(surrogate, surrogate).map("".join)),  # a pair, or two lone ones
    (1, huge_integers),
    (1, st.integers()),
    (1, st.floats(allow_nan=False, allow_infinity=False)),
)
short_keys = st.text(SAFE_ALPHABET, max_size=3)
POISON_KEYS = ["poison", "x-extra", "\N{GRINNING FACE}"]


@st.composite
def poisoned(draw: st.DrawFn, envelope: dict[str, Any]) -> dict[str, Any]:
    """The envelope with one more value, somewhere: in the body, the payload or the student."""
    body = json.loads(json.dumps(envelope))
    containers: list[dict[str, Any] | list[Any]] = [body, body["payload"]]
    student = body["payload"].get("student")
    if isinstance(student, dict):
        containers += [student, *[v for v in student.values() if isinstance(v, dict | list)]]
    container = pick(draw, containers)
    poison = draw(poisons)
    if isinstance(container, list):
        container.append(poison)  # notes: a note that is not an object fails the sync only
    elif isinstance(poison, str) and draw(st.booleans()):
        container[poison] = draw(short_keys)  # as a key
    else:
        container[pick(draw, POISON_KEYS)] = poison
    return body


MUTATIONS = ["drop", "replace", "student", "extra", "payload-extra", "event_id", "timestamp"]
mutation_counts = st.integers(1, 3)
mutated_event_ids = st.one_of(
    hostile_text, repeated("e\N{GRINNING FACE} ", [254, 255, 256]), long_text
)
mutated_timestamps = (
    st.sampled_from([-1, 253402300799, 253402300800, 2**63, 1.5, "1655448963", True, None])
    | extreme_numbers
)


@st.composite
def mutated(draw: st.DrawFn, envelope: dict[str, Any]) -> dict[str, Any]:
    """The envelope with one to three things wrong (or, sometimes, still right)."""
    body = json.loads(json.dumps(envelope))  # a deep copy
    for _ in range(draw(mutation_counts)):
        how = pick(draw, MUTATIONS)
        payload = body.get("payload")
        student = payload.get("student") if isinstance(payload, dict) else None
        if how == "drop" and body:
            del body[pick(draw, sorted(body))]
        elif how == "replace":
            body[pick(draw, ENVELOPE_FIELDS)] = draw(mutant_values)
        elif how == "student" and isinstance(student, dict) and student:
            name = pick(draw, sorted(student))
            if draw(st.booleans()):
                del student[name]
            else:
                student[name] = draw(mutant_values)
        elif how == "extra":
            body[draw(any_text)] = draw(mutant_values)
        elif how == "payload-extra" and isinstance(payload, dict):
            payload[draw(any_text)] = draw(mutant_values)
        elif how == "event_id":
            if draw(st.booleans()):  # the same id but for case and a trailing space
                body["event_id"] = str(body.get("event_id")).swapcase() + " "
            else:
                body["event_id"] = draw(mutated_event_ids)
        elif how == "timestamp":
            body["timestamp"] = draw(mutated_timestamps)
    return body


@dataclass
class Request:
    method: str
    body: bytes
    auth: str  # signed, unsigned, wrong, other-secret
    remote_addr: str
    unstorable: bool = False  # holds something no database can store
    valid: bool = False  # generated as a valid envelope (perhaps poisoned)
    envelope: Any = None  # the value sent, when it was JSON
    expect_processed: bool = False


@dataclass
class Plan:
    first: Request
    then: list[Request] = field(default_factory=list)


AUTH = ["signed"] * 6 + ["unsigned", "wrong", "other-secret"]
REMOTE_ADDRS = ["127.0.0.1"] * 6 + ["::1", "fe80::1%eth0", "not an address\n", ""]


def request_for(value: Any, draw: st.DrawFn, **kwargs: Any) -> Request:
    text, unstorable = encode(value, 1, draw(st.booleans()))
    return Request(
        method="POST",
        body=text.encode(),
        unstorable=unstorable,
        envelope=value,
        auth=pick(draw, AUTH),
        remote_addr=pick(draw, REMOTE_ADDRS),
        **kwargs,
    )


def expects_processing(envelope: dict[str, Any]) -> bool:
    payload = envelope["payload"]
    return (
        envelope["event"] in STUDENT_EVENT_TYPES
        and envelope["version"] in ("1.0", "1", "1.2.3")
        and envelope["timestamp"] > time.time() - 2 * 86_400
        and isinstance(payload.get("student"), dict)
    )


KINDS = ["valid"] * 3 + ["poisoned"] * 4 + ["mutated"] * 3 + ["raw"]
METHODS = ["GET", "PUT", "PATCH", "DELETE", "OPTIONS", "HEAD"]
AGAIN = ["none", "none", "same", "changed"]
raw_bodies = st.binary(max_size=200) | json_values.map(lambda v: encode(v, 1, True)[0].encode())


@st.composite
def plans(draw: st.DrawFn) -> Plan:
    kind = pick(draw, KINDS) if draw(PICK) % 20 else "method"
    envelope = draw(envelopes())
    if kind == "valid":
        first = request_for(envelope, draw, valid=True)
        first.expect_processed = expects_processing(envelope)
    elif kind == "poisoned":
        first = request_for(draw(poisoned(envelope)), draw, valid=True)
    elif kind == "mutated":
        first = request_for(draw(mutated(envelope)), draw)
    elif kind == "raw":
        text = encode(envelope, 1, True)[0].encode()
        first = request_for(envelope, draw)
        first.body = pick(
            draw,
            [
                draw(raw_bodies),
                text[: draw(PICK) % (len(text) + 1)],  # cut short, or (rarely) whole
                text.replace(b'"', b"\xff", 1),  # not UTF-8
                text.decode().encode("utf-16"),
            ],
        )
        first.envelope, first.unstorable = None, False
    else:
        first = request_for(envelope, draw)
        first.method = pick(draw, METHODS)
    plan = Plan(first)
    again = pick(draw, AGAIN)
    if again == "same":
        plan.then.append(first)
    elif again == "changed" and isinstance(first.envelope, dict):
        changed = {**first.envelope, "payload": {"changed": draw(st.integers(0, 9))}}
        plan.then.append(request_for(changed, draw))
    return plan


# --- The property ------------------------------------------------------------------------------


class Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@contextmanager
def collected_logs() -> Iterator[Collect]:
    handler = Collect()
    loggers = [logging.getLogger("jodo_webhooks"), logging.getLogger("django.request")]
    for logger in loggers:
        logger.addHandler(handler)
    try:
        yield handler
    finally:
        for logger in loggers:
            logger.removeHandler(handler)


CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff]")


def send(client: Client, request: Request) -> Any:
    headers = {}
    if request.auth == "signed":
        headers[SIGNATURE_HEADER] = sign(request.body, TEST_SECRET)
    elif request.auth == "wrong":
        headers[SIGNATURE_HEADER] = "0" * 64
    elif request.auth == "other-secret":
        headers[SIGNATURE_HEADER] = sign(request.body, "not-the-secret")
    return client.generic(
        request.method,
        URL,
        data=request.body,
        content_type="application/json",
        headers=headers,
        REMOTE_ADDR=request.remote_addr,
    )


def expected_status(request: Request) -> int | None:
    """The one right answer where the request alone decides it; None where it takes the
    database (a duplicate, a conflict) or the envelope's validity."""
    if request.method != "POST":
        return 405
    if len(request.body) > MAX_BODY_BYTES:
        return 413
    if request.auth != "signed":
        return 401
    if request.unstorable:
        return 400
    return None


def clean_database() -> None:
    with transaction.atomic():  # one commit, not four
        for model in (StudentNote, Student, InboundEvent, RejectedDelivery):
            model.objects.all().delete()


@pytest.fixture
def property_settings(jodo_settings: dict[str, Any]) -> None:
    jodo_settings["MAX_BODY_BYTES"] = MAX_BODY_BYTES


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("property_settings")
@PROFILE
@given(plan=plans())
def test_any_delivery_gets_a_json_answer_that_the_database_agrees_with(plan: Plan) -> None:
    clean_database()  # each example starts from an empty database, whatever the last one did
    client = Client()
    answers = []
    with collected_logs() as logs:
        for request in [plan.first, *plan.then]:
            answers.append((request, send(client, request)))

    accepted: dict[str, int] = {}
    refusals = 0
    first_status = answers[0][1].status_code
    for request, response in answers:
        if request is plan.first:  # the same request again gets the same answer
            assert response.status_code == first_status, response.content
        assert response.status_code < 500, response.content
        assert response["Content-Type"] == "application/json"
        answer = json.loads(response.content) if request.method != "HEAD" else {}
        expected = expected_status(request)
        if expected is not None:
            assert response.status_code == expected, answer
        if request.valid and expected is None:
            assert response.status_code == 200, answer
        if 200 <= response.status_code < 300:
            event_id = json.loads(request.body)["event_id"]  # raw bytes may be valid too
            assert answer == {
                "status": "duplicate" if event_id in accepted else "accepted",
                "event_id": event_id,
            }
            accepted[event_id] = accepted.get(event_id, 0) + 1
        elif response.status_code == 409:
            assert json.loads(request.body)["event_id"] in accepted
            refusals += 1
        elif response.status_code != 405:
            refusals += 1
        if response.status_code >= 400 and request.method != "HEAD":
            assert answer["error"], answer
            assert isinstance(answer["detail"], str), answer

    for request, response in answers:  # for --hypothesis-show-statistics
        event_note(f"{request.method} {request.auth}: {response.status_code}")
    # 2xx if and only if the event's row exists; unauthenticated input created none.
    events = {event.event_id: event for event in InboundEvent.objects.all()}
    assert set(events) == set(accepted)
    for event_id, event in events.items():
        assert event.status in FINAL_STATUSES, (event.status, event.last_error)
        event_note(f"event {event.status}")
        assert event.delivery_count == accepted[event_id]
    assert RejectedDelivery.objects.count() == refusals

    # A Student exists only for a processed student event, and a processed one has its Student.
    processed_ids = {
        event.payload["student"]["identifier"].strip()
        for event in events.values()
        if event.status == Status.PROCESSED and event.event_type in STUDENT_EVENT_TYPES
    }
    assert set(Student.objects.values_list("identifier", flat=True)) == processed_ids
    if plan.first.expect_processed and expected_status(plan.first) is None:
        event = events[plan.first.envelope["event_id"]]
        assert event.status == Status.PROCESSED, event.last_error
        identifier = plan.first.envelope["payload"]["student"]["identifier"].strip()
        assert Student.objects.filter(identifier=identifier).count() == 1

    for record in logs.records:
        message = record.getMessage()
        assert not CONTROL.search(message), message
        assert TEST_SECRET not in message
        assert not message.startswith("Unexpected error"), message
