"""An event's life: received -> processed | failed | skipped | ignored, via the endpoint."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

import pytest
from django.db import IntegrityError
from django.utils import timezone

from jodo_webhooks import SkipEvent
from jodo_webhooks.models import InboundEvent
from jodo_webhooks.processing import _is_retryable, process_event
from students.models import Student, StudentNote

from .factories import EnvelopeFactory, InboundEventFactory
from .students_support import deliver_event, timestamp

pytestmark = pytest.mark.django_db

Status = InboundEvent.Status
DAY = 24 * 60 * 60


@pytest.fixture
def flaky(connect_receiver) -> dict[str, Any]:
    """A receiver for "test.flaky" that creates a Student, then fails while state["broken"]."""
    state: dict[str, Any] = {"broken": True, "calls": 0}

    def receiver(sender: type, event: InboundEvent, event_type: str, **kwargs: Any) -> Any:
        if event_type != "test.flaky":
            return None
        state["calls"] += 1
        Student.objects.create(identifier=f"flaky-{event.event_id[:8]}-{state['calls']}")
        if state["broken"]:
            raise RuntimeError("receiver broke")
        return True

    connect_receiver(receiver, "test.flaky")
    return state


def test_new_event_is_received_until_processed(connect_receiver):
    connect_receiver(lambda sender, event, event_type, **kw: None, "test.ok")
    event = InboundEventFactory(event_type="test.ok")
    assert (event.status, event.attempts, event.processed_at) == (Status.RECEIVED, 0, None)

    assert process_event(event.pk) == Status.PROCESSED
    event.refresh_from_db()
    assert event.status == Status.PROCESSED
    assert event.attempts == 1


def test_student_event_is_processed_and_applied(deliver):
    body = EnvelopeFactory()
    event = deliver_event(deliver, body)
    assert event.status == Status.PROCESSED, event.last_error
    assert event.status_reason == ""
    assert event.attempts == 1
    assert event.processed_at is not None
    assert event.processed_at >= event.received_at
    assert event.last_error == ""
    assert Student.objects.get().identifier == body["payload"]["student"]["identifier"]


def test_event_without_receiver_is_ignored(deliver):
    body = EnvelopeFactory(event="direct.payment.added", payload={"payment": {"id": "p1"}})
    response = deliver(body)
    assert response.status_code == 200, response.content
    assert response.json() == {"status": "accepted", "event_id": body["event_id"]}
    event = InboundEvent.objects.get()
    assert event.status == Status.IGNORED
    assert event.status_reason == "no receiver handles direct.payment.added"
    assert event.attempts == 1
    assert event.processed_at is not None
    assert not Student.objects.exists()


def test_failure_records_error_traceback_logs_and_rolls_back(deliver, flaky, caplog):
    body = EnvelopeFactory(event="test.flaky")
    with caplog.at_level(logging.ERROR, logger="jodo_webhooks"):
        response = deliver(body)
    # Recorded is what the 2xx means: Jodo must not retry an event we hold.
    assert response.status_code == 200, response.content
    event = InboundEvent.objects.get()
    assert event.status == Status.FAILED
    assert event.attempts == 1
    assert event.last_error == "RuntimeError: receiver broke"
    assert event.status_reason == "RuntimeError: receiver broke"
    assert "Traceback (most recent call last)" in event.last_error_traceback
    assert "in receiver" in event.last_error_traceback
    assert event.last_error_traceback.rstrip().endswith("RuntimeError: receiver broke")
    assert event.processed_at is None
    # The receiver created a Student before raising: rolled back with the attempt.
    assert flaky["calls"] == 1
    assert not Student.objects.exists()

    errors = [r for r in caplog.records if r.name == "jodo_webhooks" and r.levelno == logging.ERROR]
    assert len(errors) == 1
    assert body["event_id"] in errors[0].getMessage()
    assert errors[0].exc_info is not None


def test_every_attempt_increments_attempts(deliver, flaky):
    event = deliver_event(deliver, EnvelopeFactory(event="test.flaky"))
    assert (event.status, event.attempts) == (Status.FAILED, 1)

    assert process_event(event.pk) == Status.FAILED
    event.refresh_from_db()
    assert (event.status, event.attempts) == (Status.FAILED, 2)

    flaky["broken"] = False
    assert process_event(event.pk) == Status.PROCESSED
    event.refresh_from_db()
    assert (event.status, event.attempts, event.status_reason) == (Status.PROCESSED, 3, "")
    assert event.processed_at is not None
    # Only the successful attempt's work remains.
    assert Student.objects.count() == 1
    assert flaky["calls"] == 3

    assert process_event(event.pk, force=True) == Status.PROCESSED
    event.refresh_from_db()
    assert event.attempts == 4


@pytest.mark.django_db(transaction=True)
def test_an_integrity_error_other_than_a_lost_race_fails_without_a_retry(deliver, connect_receiver):
    calls: list[str] = []

    def receiver(sender: type, event: InboundEvent, event_type: str, **kwargs: Any) -> Any:
        calls.append(event.event_id)
        # A foreign key to nothing: running the event again would fail the same way.
        StudentNote.objects.create(student_id=987654321, key="k", value="v")
        return True

    connect_receiver(receiver, "test.broken_fk")
    event = deliver_event(deliver, EnvelopeFactory(event="test.broken_fk"))

    assert (event.status, event.attempts) == (Status.FAILED, 1)
    assert event.last_error.startswith("IntegrityError")
    assert len(calls) == 1


def test_a_psycopg2_unique_violation_is_retryable():
    # psycopg 3 says `sqlstate`; psycopg2, which Django 5.2 supports too, says `pgcode`.
    class Psycopg2UniqueViolation(Exception):
        pgcode = "23505"

    exc = IntegrityError("duplicate key value violates unique constraint")
    exc.__cause__ = Psycopg2UniqueViolation()
    assert _is_retryable(exc)


def test_skip_event_marks_skipped_with_reason_and_rolls_back(deliver, connect_receiver):
    def skipper(sender: type, event: InboundEvent, event_type: str, **kwargs: Any) -> Any:
        if event_type != "test.skip":
            return None
        Student.objects.create(identifier="created-before-skip")
        raise SkipEvent("why")

    connect_receiver(skipper, "test.skip")
    event = deliver_event(deliver, EnvelopeFactory(event="test.skip"))
    assert event.status == Status.SKIPPED
    assert event.status_reason == "why"
    assert event.attempts == 1
    assert event.processed_at is not None
    assert event.last_error == ""
    assert not Student.objects.exists()


def test_stale_student_event_is_skipped_and_not_applied(deliver):
    newer = EnvelopeFactory(timestamp=timestamp(60))
    deliver_event(deliver, newer)
    student = Student.objects.get()

    older = EnvelopeFactory(timestamp=timestamp(120), event="masterdata.student.dropped")
    older["payload"] = newer["payload"]
    event = deliver_event(deliver, older)
    assert event.status == Status.SKIPPED
    assert event.status_reason.startswith("stale: ")
    assert event.attempts == 1
    student.refresh_from_db()
    assert student.status == Student.Status.ACTIVE


def test_event_older_than_max_age_is_skipped_and_not_applied(deliver):
    body = EnvelopeFactory(timestamp=timestamp(8 * DAY))
    event = deliver_event(deliver, body)
    assert event.status == Status.SKIPPED
    assert event.status_reason == "older than the maximum event age (7 days)"
    assert event.attempts == 1
    assert not Student.objects.exists()


def test_max_age_follows_the_setting(deliver, jodo_settings):
    jodo_settings["MAX_EVENT_AGE_DAYS"] = 30
    event = deliver_event(deliver, EnvelopeFactory(timestamp=timestamp(8 * DAY)))
    assert event.status == Status.PROCESSED, event.status_reason
    assert Student.objects.count() == 1

    jodo_settings["MAX_EVENT_AGE_DAYS"] = 0  # off
    event = deliver_event(deliver, EnvelopeFactory(timestamp=timestamp(400 * DAY)))
    assert event.status == Status.PROCESSED, event.status_reason
    assert Student.objects.count() == 2


def test_event_just_inside_max_age_is_applied(deliver):
    event = deliver_event(deliver, EnvelopeFactory(timestamp=timestamp(7 * DAY - 3600)))
    assert event.status == Status.PROCESSED, event.status_reason
    assert Student.objects.count() == 1


@pytest.mark.parametrize("final", [Status.PROCESSED, Status.SKIPPED, Status.IGNORED])
def test_final_event_is_not_reprocessed_without_force(connect_receiver, final):
    calls: list[str] = []

    def receiver(sender: type, event: InboundEvent, event_type: str, **kwargs: Any) -> Any:
        if event_type != "test.final":
            return None
        calls.append(event.event_id)
        return True

    connect_receiver(receiver, "test.final")
    event = InboundEventFactory(event_type="test.final", status=final, attempts=1)
    assert process_event(event.pk) is None
    event.refresh_from_db()
    assert (event.status, event.attempts) == (final, 1)
    assert calls == []

    assert process_event(event.pk, force=True) == Status.PROCESSED
    event.refresh_from_db()
    assert (event.status, event.attempts, event.status_reason) == (Status.PROCESSED, 2, "")
    assert calls == [event.event_id]


def test_forced_rerun_of_processed_student_event_reapplies_it(deliver):
    event = deliver_event(deliver, EnvelopeFactory())
    Student.objects.update(grade_name="changed in the ERP")
    assert process_event(event.pk) is None
    assert Student.objects.get().grade_name == "changed in the ERP"

    assert process_event(event.pk, force=True) == Status.PROCESSED
    assert Student.objects.get().grade_name == "Montessori 1"
    event.refresh_from_db()
    assert event.attempts == 2


def test_process_event_of_unknown_pk_returns_none():
    assert process_event(987654321) is None
    assert process_event(987654321, force=True) is None


def test_failed_event_received_in_time_is_applied_when_reprocessed_later():
    """Received fresh 8 days ago, failed (receiver bug); the fix ships today.

    The age limit exists against replayed bodies (conf.py): this is no replay, and Jodo's own
    retries stopped after 3 days, so reprocessing is the only way the student is ever applied.
    """
    eight_days_ago = timezone.now() - timedelta(days=8)
    event = InboundEventFactory(
        occurred_at=eight_days_ago,
        received_at=eight_days_ago + timedelta(seconds=5),
        status=Status.FAILED,
        attempts=1,
        last_error="RuntimeError: receiver bug",
    )
    assert process_event(event.pk) == Status.PROCESSED
    assert Student.objects.get().jodo_student_id == event.payload["jodo_student_id"]
