"""Recording deliveries: what is stored, duplicates, conflicts, processing statuses and retries."""

from __future__ import annotations

import json
import logging
import time
from datetime import UTC, datetime
from typing import Any

import pytest
from django.db import connection, transaction
from django.utils import timezone

from jodo_webhooks import SkipEvent
from jodo_webhooks.models import InboundEvent
from jodo_webhooks.recording import Delivery, record_delivery
from tests.receiver_app.models import Work

from ..factories import EnvelopeFactory
from ..helpers import requires_server_database

pytestmark = pytest.mark.django_db

FLAKY = "test.flaky"
UNHANDLED = "test.unhandled"
HEX = set("0123456789abcdef")


class Receiver:
    """An `event_received` receiver for FLAKY events whose behaviour a test can change."""

    def __init__(self) -> None:
        self.calls: list[str] = []
        self.error: Exception | None = None
        self.side_effect: Any = None

    def __call__(self, sender: type, event: InboundEvent, event_type: str, **kwargs: Any) -> Any:
        if event_type != FLAKY:
            return None
        self.calls.append(event.event_id)
        if self.side_effect is not None:
            self.side_effect(event)
        if self.error is not None:
            raise self.error
        return True


@pytest.fixture
def receiver(connect_receiver) -> Receiver:
    return connect_receiver(Receiver(), FLAKY)


def flaky_body(**overrides: Any) -> dict[str, Any]:
    payload = {"jodo_student_id": "student_77", "amount": 1250, "items": [{"k": "v"}]}
    return EnvelopeFactory(event=FLAKY, payload=payload, **overrides)


def snapshot(event: InboundEvent) -> dict[str, Any]:
    event.refresh_from_db()
    return {
        field.attname: getattr(event, field.attname) for field in InboundEvent._meta.concrete_fields
    }


# --- First delivery ----------------------------------------------------------------------------


def test_first_delivery_records_every_field(deliver, receiver):
    body = flaky_body()
    body["payload"]["note"] = "café ₹ 100"
    raw = json.dumps(body, indent=3, ensure_ascii=False).encode()  # unusual but valid bytes
    before = timezone.now()

    response = deliver(
        raw, REMOTE_ADDR="203.0.113.5", headers={"X-Request-Id": "r-1", "User-Agent": "Jodo/1"}
    )

    after = timezone.now()
    assert response.status_code == 200, response.content
    assert response.json() == {"status": "accepted", "event_id": body["event_id"]}
    event = InboundEvent.objects.get()
    assert event.event_id == body["event_id"]
    assert event.event_type == FLAKY
    assert event.version == "1.0"
    assert event.occurred_at == datetime.fromtimestamp(body["timestamp"], tz=UTC)
    assert event.payload == body["payload"]
    assert event.raw_body == raw.decode()  # byte for byte, indentation and all
    assert len(event.payload_digest) == 64
    assert set(event.payload_digest) <= HEX
    assert event.headers["X-Request-Id"] == "r-1"
    assert event.headers["User-Agent"] == "Jodo/1"
    assert event.headers["Content-Type"] == "application/json"
    assert event.remote_addr == "203.0.113.5"
    assert before <= event.received_at <= after
    assert event.last_delivered_at == event.received_at
    assert event.delivery_count == 1
    assert event.digest_mismatches == 0
    assert event.jodo_student_id == "student_77"
    assert event.status == InboundEvent.Status.PROCESSED
    assert event.attempts == 1
    assert event.processed_at is not None
    assert before <= event.processed_at <= after
    assert receiver.calls == [body["event_id"]]


def test_distinct_event_ids_are_distinct_rows(deliver, receiver):
    first, second = flaky_body(), flaky_body()
    second["payload"] = first["payload"]  # same content, different ids: two events
    assert deliver(first).json()["status"] == "accepted"
    assert deliver(second).json()["status"] == "accepted"
    assert InboundEvent.objects.count() == 2
    assert len(receiver.calls) == 2


@pytest.mark.parametrize("accept", ["text/html", "application/xml", "*/*"])
@pytest.mark.parametrize(
    "renderers",
    [
        ["rest_framework.renderers.JSONRenderer"],
        ["rest_framework.renderers.BrowsableAPIRenderer", "rest_framework.renderers.JSONRenderer"],
    ],
)
def test_answers_json_whatever_the_accept_header_and_the_erp_renderers(
    deliver, receiver, settings, accept, renderers
):
    settings.REST_FRAMEWORK = {"DEFAULT_RENDERER_CLASSES": renderers}
    body = flaky_body()
    response = deliver(body, headers={"Accept": accept})
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert response.json() == {"status": "accepted", "event_id": body["event_id"]}


# --- Duplicates --------------------------------------------------------------------------------


def test_duplicate_of_a_processed_event_only_counts_the_delivery(deliver, receiver):
    body = flaky_body()
    assert deliver(body).status_code == 200
    event = InboundEvent.objects.get()
    first = snapshot(event)
    assert first["status"] == InboundEvent.Status.PROCESSED

    response = deliver(body)

    assert response.status_code == 200, response.content
    assert response.json() == {"status": "duplicate", "event_id": body["event_id"]}
    second = snapshot(event)
    assert second["delivery_count"] == 2
    assert second["last_delivered_at"] > first["last_delivered_at"]
    changed = {name for name in first if first[name] != second[name]}
    assert changed == {"delivery_count", "last_delivered_at"}
    assert second["attempts"] == 1
    assert receiver.calls == [body["event_id"]]  # not applied twice
    assert InboundEvent.objects.count() == 1


def test_duplicates_keep_counting(deliver, receiver):
    body = flaky_body()
    for _ in range(4):
        assert deliver(body).status_code == 200
    event = InboundEvent.objects.get()
    assert event.delivery_count == 4
    assert event.attempts == 1
    assert len(receiver.calls) == 1


@pytest.mark.django_db(transaction=True)
def test_a_duplicate_inside_a_callers_transaction_leaves_that_transaction_usable():
    body = flaky_body()
    changed = body | {"payload": body["payload"] | {"amount": 1}}
    with transaction.atomic():
        kinds = [
            record_delivery(each, json.dumps(each), {}, "127.0.0.1").kind
            for each in (body, body, changed)
        ]
        # On PostgreSQL a failed statement would abort the caller's transaction here.
        event = InboundEvent.objects.get(event_id=body["event_id"])
    assert kinds == [Delivery.ACCEPTED, Delivery.DUPLICATE, Delivery.MISMATCH]
    assert (event.delivery_count, event.digest_mismatches) == (2, 1)


def test_reserialised_body_with_the_same_content_is_a_duplicate(deliver, receiver):
    body = flaky_body()
    compact = json.dumps(body, separators=(",", ":")).encode()
    reordered = {key: body[key] for key in reversed(list(body))}
    reordered["payload"] = {key: body["payload"][key] for key in reversed(list(body["payload"]))}
    pretty = json.dumps(reordered, indent=4).encode()
    assert pretty != compact

    assert deliver(compact).json()["status"] == "accepted"
    response = deliver(pretty)

    assert response.status_code == 200, response.content
    assert response.json()["status"] == "duplicate"
    event = InboundEvent.objects.get()
    assert event.delivery_count == 2
    assert event.digest_mismatches == 0
    assert event.raw_body == compact.decode()  # the first delivery's bytes are kept
    assert len(receiver.calls) == 1


def test_extra_envelope_fields_do_not_make_a_conflict(deliver, receiver):
    body = flaky_body()
    assert deliver(body).status_code == 200
    response = deliver(body | {"delivery_attempt": 2})
    assert response.status_code == 200, response.content
    assert response.json()["status"] == "duplicate"
    assert InboundEvent.objects.get().digest_mismatches == 0


# --- Same event_id, different content ----------------------------------------------------------


@pytest.mark.parametrize(
    "change",
    [
        lambda body: body["payload"].update(amount=9999),
        lambda body: body["payload"].pop("items"),
        lambda body: body.update(timestamp=body["timestamp"] - 60),
        lambda body: body.update(event="test.flaky.other"),
        lambda body: body.update(version="1.1"),
    ],
    ids=["payload-value", "payload-key", "timestamp", "event", "version"],
)
def test_same_event_id_with_different_content_is_a_conflict(deliver, receiver, caplog, change):
    body = flaky_body()
    assert deliver(body).status_code == 200
    event = InboundEvent.objects.get()
    first = snapshot(event)
    altered = json.loads(json.dumps(body))
    change(altered)
    caplog.set_level(logging.INFO)

    response = deliver(altered)

    assert response.status_code == 409, response.content
    answer = response.json()
    assert body["event_id"] in answer["detail"]
    assert "different content" in answer["detail"]
    errors = [
        record
        for record in caplog.records
        if record.name == "jodo_webhooks" and record.levelno == logging.ERROR
    ]
    assert len(errors) == 1
    assert body["event_id"] in errors[0].getMessage()
    second = snapshot(event)
    assert second["digest_mismatches"] == 1
    assert second["payload"] == body["payload"]  # the recorded content wins
    assert second["raw_body"] == first["raw_body"]
    assert second["payload_digest"] == first["payload_digest"]
    assert second["event_type"] == first["event_type"]
    assert second["occurred_at"] == first["occurred_at"]
    assert second["status"] == first["status"]
    assert second["attempts"] == first["attempts"]
    assert receiver.calls == [body["event_id"]]
    assert InboundEvent.objects.count() == 1


def test_conflicts_are_counted_and_a_true_duplicate_is_still_recognised(deliver, receiver):
    body = flaky_body()
    altered = flaky_body(event_id=body["event_id"], timestamp=body["timestamp"])
    altered["payload"]["amount"] = 1
    assert deliver(body).status_code == 200
    assert deliver(altered).status_code == 409
    assert deliver(altered).status_code == 409
    assert deliver(body).json()["status"] == "duplicate"
    event = InboundEvent.objects.get()
    assert event.digest_mismatches == 2
    assert event.delivery_count == 2
    assert event.payload["amount"] == 1250


# --- Processing statuses -----------------------------------------------------------------------


def test_event_type_without_receiver_is_ignored_and_accepted(deliver, receiver):
    body = EnvelopeFactory(event=UNHANDLED, payload={"anything": [1, 2]})
    response = deliver(body)
    assert response.status_code == 200, response.content
    assert response.json() == {"status": "accepted", "event_id": body["event_id"]}
    event = InboundEvent.objects.get()
    assert event.status == InboundEvent.Status.IGNORED
    assert UNHANDLED in event.status_reason
    assert event.attempts == 1
    assert receiver.calls == []


def test_ignored_event_is_not_retried_on_redelivery(deliver, receiver):
    body = EnvelopeFactory(event=UNHANDLED, payload={})
    deliver(body)
    assert deliver(body).json()["status"] == "duplicate"
    event = InboundEvent.objects.get()
    assert event.status == InboundEvent.Status.IGNORED
    assert event.attempts == 1
    assert event.delivery_count == 2


def test_receiver_that_raises_fails_the_event_but_the_delivery_is_accepted(deliver, receiver):
    receiver.error = RuntimeError("ledger unavailable")
    body = flaky_body()

    response = deliver(body)

    assert response.status_code == 200, response.content
    assert response.json() == {"status": "accepted", "event_id": body["event_id"]}
    event = InboundEvent.objects.get()
    assert event.status == InboundEvent.Status.FAILED
    assert event.last_error == "RuntimeError: ledger unavailable"
    assert "Traceback" in event.last_error_traceback
    assert "RuntimeError: ledger unavailable" in event.last_error_traceback
    assert event.attempts == 1
    assert event.processed_at is None


def test_failed_receiver_work_is_rolled_back(deliver, receiver):
    receiver.side_effect = lambda event: Work.objects.create(name="ROLLED-BACK")
    receiver.error = ValueError("after writing")
    deliver(flaky_body())
    assert InboundEvent.objects.get().status == InboundEvent.Status.FAILED
    assert not Work.objects.filter(name="ROLLED-BACK").exists()


def test_redelivery_of_a_failed_event_retries_it(deliver, receiver):
    receiver.error = KeyError("grade")
    body = flaky_body()
    deliver(body)
    assert InboundEvent.objects.get().status == InboundEvent.Status.FAILED

    receiver.error = None  # fixed
    response = deliver(body)

    assert response.status_code == 200, response.content
    assert response.json() == {"status": "duplicate", "event_id": body["event_id"]}
    event = InboundEvent.objects.get()
    assert event.status == InboundEvent.Status.PROCESSED
    assert event.attempts == 2
    assert event.delivery_count == 2
    assert receiver.calls == [body["event_id"], body["event_id"]]


def test_redelivery_of_a_still_failing_event_counts_another_attempt(deliver, receiver):
    receiver.error = RuntimeError("first")
    body = flaky_body()
    deliver(body)
    receiver.error = RuntimeError("second")
    assert deliver(body).status_code == 200
    event = InboundEvent.objects.get()
    assert event.status == InboundEvent.Status.FAILED
    assert event.attempts == 2
    assert event.last_error == "RuntimeError: second"


def test_receiver_raising_skip_event_records_skipped_with_reason(deliver, receiver):
    receiver.side_effect = lambda event: Work.objects.create(name="NOT-KEPT")
    receiver.error = SkipEvent("superseded by a newer event")
    assert deliver(flaky_body()).status_code == 200
    event = InboundEvent.objects.get()
    assert event.status == InboundEvent.Status.SKIPPED
    assert event.status_reason == "superseded by a newer event"
    assert event.attempts == 1
    assert not Work.objects.filter(name="NOT-KEPT").exists()


# --- Maximum event age -------------------------------------------------------------------------


def days_ago(days: float) -> int:
    return int(time.time() - days * 86400)


def test_event_older_than_the_maximum_age_is_skipped_not_applied(deliver, receiver, jodo_settings):
    jodo_settings["MAX_EVENT_AGE_DAYS"] = 7
    body = flaky_body(timestamp=days_ago(8))
    response = deliver(body)
    assert response.status_code == 200, response.content
    assert response.json() == {"status": "accepted", "event_id": body["event_id"]}
    event = InboundEvent.objects.get()
    assert event.status == InboundEvent.Status.SKIPPED
    assert "7 days" in event.status_reason
    assert receiver.calls == []


def test_event_within_the_maximum_age_is_applied(deliver, receiver, jodo_settings):
    jodo_settings["MAX_EVENT_AGE_DAYS"] = 7
    deliver(flaky_body(timestamp=days_ago(6.9)))
    assert InboundEvent.objects.get().status == InboundEvent.Status.PROCESSED
    assert len(receiver.calls) == 1


@pytest.mark.parametrize("disabled", [0, None])
def test_maximum_age_zero_or_none_disables_the_check(deliver, receiver, jodo_settings, disabled):
    jodo_settings["MAX_EVENT_AGE_DAYS"] = disabled
    deliver(flaky_body(timestamp=days_ago(3650)))
    assert InboundEvent.objects.get().status == InboundEvent.Status.PROCESSED
    assert len(receiver.calls) == 1


# --- Database unavailable ----------------------------------------------------------------------


@requires_server_database
@pytest.mark.django_db(transaction=True)
def test_database_down_answers_503_so_jodo_retries(deliver, caplog):
    """A real connection failure (nothing mocked): the server refuses connections on port 1.

    Server databases only: an in-memory SQLite test database cannot be disconnected.
    """
    body = flaky_body()
    saved = dict(connection.settings_dict)
    connection.close()
    connection.settings_dict.update(HOST="127.0.0.1", PORT="1")
    try:
        response = deliver(body)
    finally:
        connection.close()
        connection.settings_dict.clear()
        connection.settings_dict.update(saved)
    assert response.status_code == 503, response.content
    assert response.json()["error"] == "unavailable"
    assert any(
        record.name == "jodo_webhooks"
        and record.levelno == logging.ERROR
        and body["event_id"] in record.getMessage()
        for record in caplog.records
    )
    assert not InboundEvent.objects.filter(event_id=body["event_id"]).exists()


def test_the_view_is_non_atomic_on_every_database_alias(settings):
    # The event is written to router.db_for_write's alias, which need not be "default" (the
    # ERP suite's settings add a "replica" alias on PostgreSQL and MariaDB).
    from jodo_webhooks.views import JodoWebhookView

    assert set(settings.DATABASES) <= JodoWebhookView.as_view()._non_atomic_requests
