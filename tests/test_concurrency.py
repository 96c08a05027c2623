"""Concurrent deliveries, each in its own thread with its own client and database connection.

One event delivered many times at once is recorded once and applied once; different events for
one student, racing in any order, leave the student as the newest event says, and none fails.
"""

from __future__ import annotations

import os
import random
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
from django.test import Client

from jodo_webhooks.models import InboundEvent
from students.models import Student

from .factories import EnvelopeFactory
from .helpers import requires_server_database, signed_post
from .processes import run_concurrently

pytestmark = [requires_server_database, pytest.mark.django_db(transaction=True)]

COUNTED = "test.counted"
REGISTERED = "masterdata.student.registered"
DROPPED = "masterdata.student.dropped"
ACTIVATED = "masterdata.student.activated"
STATUS_AFTER = {REGISTERED: "active", ACTIVATED: "active", DROPPED: "dropped"}


def delivery(body: dict[str, Any], delay: float = 0.0) -> Callable[[Client], tuple[int, Any]]:
    """A job delivering `body` after `delay` seconds; returns (status code, JSON answer)."""

    def job(client: Client) -> tuple[int, Any]:
        if delay:
            time.sleep(delay)
        response = signed_post(client, body)
        return response.status_code, response.json()

    return job


@pytest.fixture
def counted_calls(connect_receiver) -> list[str]:
    """A receiver handling `test.counted` events; yields the event_ids it was called with."""
    calls: list[str] = []
    lock = threading.Lock()

    def count(sender: type, event: InboundEvent, event_type: str, **kwargs: Any) -> Any:
        if event_type != COUNTED:
            return None
        with lock:
            calls.append(event.event_id)
        return True

    connect_receiver(count, COUNTED)
    return calls


def failures() -> list[tuple[str, str, str]]:
    return list(
        InboundEvent.objects.filter(status=InboundEvent.Status.FAILED).values_list(
            "event_type", "event_id", "last_error"
        )
    )


def test_fifty_concurrent_deliveries_of_one_event_record_and_apply_it_once(counted_calls):
    body = EnvelopeFactory(event=COUNTED)

    answers = run_concurrently([delivery(body) for _ in range(50)])

    assert [code for code, _ in answers] == [200] * 50, answers
    kinds = sorted(answer["status"] for _, answer in answers)
    assert kinds == ["accepted"] + ["duplicate"] * 49
    event = InboundEvent.objects.get()
    assert event.event_id == body["event_id"]
    assert event.delivery_count == 50
    assert event.digest_mismatches == 0
    assert (event.status, event.attempts) == ("processed", 1), event.last_error
    assert counted_calls == [body["event_id"]]


def student_event(
    event_type: str, timestamp: int, identifier: str, email: str, **student: Any
) -> dict[str, Any]:
    return EnvelopeFactory(
        event=event_type,
        timestamp=timestamp,
        payload__jodo_student_id=f"J-{identifier}",
        payload__student__identifier=identifier,
        payload__student__primary_contact_email=email,
        **{f"payload__student__{field}": value for field, value in student.items()},
    )


def assert_applied_or_stale(bodies: list[dict[str, Any]], context: str = "") -> None:
    """Every event was processed or skipped as stale: none failed, none left unprocessed."""
    events = InboundEvent.objects.filter(event_id__in=[body["event_id"] for body in bodies])
    outcomes = {event.event_id: (event.status, event.status_reason) for event in events}
    assert len(outcomes) == len(bodies), context
    assert not failures(), f"{context} failed events: {failures()}"
    for event_id, (status, reason) in outcomes.items():
        assert status in ("processed", "skipped"), f"{context} {event_id}: {status} {reason}"
        if status == "skipped":
            assert reason.startswith("stale"), f"{context} {event_id}: {reason}"


def test_concurrent_registrations_of_a_new_student_create_it_once_as_the_newest_says():
    now = int(time.time())
    bodies = [
        student_event(
            REGISTERED,
            now - 100 + i,
            "RACE-NEW",
            f"parent{i}@example.com",
            primary_contact_number=f"90000000{i:02d}",
            grade={"code": f"G{i}", "name": f"Grade {i}"},
        )
        for i in range(8)
    ]
    random.shuffle(bodies)

    answers = run_concurrently([delivery(body) for body in bodies])

    assert [code for code, _ in answers] == [200] * len(bodies), answers
    assert_applied_or_stale(bodies)
    newest = max(bodies, key=lambda body: body["timestamp"])
    student = Student.objects.get()
    expected = newest["payload"]["student"]
    assert student.identifier == "RACE-NEW"
    assert student.jodo_student_id == "J-RACE-NEW"
    assert student.primary_contact_email == expected["primary_contact_email"]
    assert student.primary_contact_number == expected["primary_contact_number"]
    assert (student.grade_code, student.grade_name) == (
        expected["grade"]["code"],
        expected["grade"]["name"],
    )
    assert student.status == "active"
    assert student.jodo_updated_at is not None
    assert int(student.jodo_updated_at.timestamp()) == newest["timestamp"]
    processed = InboundEvent.objects.filter(status="processed").count()
    assert processed >= 1
    # The newest event is never stale: whoever applied something before it was older.
    assert InboundEvent.objects.get(event_id=newest["event_id"]).status == "processed"


ROUNDS = 25


def test_lifecycle_events_racing_in_random_order_leave_the_newest_state():
    base_seed = int(os.environ.get("JODO_RACE_SEED") or random.randrange(2**32))
    print(f"base seed {base_seed} (rerun with JODO_RACE_SEED={base_seed})")
    now = int(time.time())
    for round_number in range(ROUNDS):
        seed = base_seed + round_number
        rng = random.Random(seed)
        context = f"round {round_number} (seed {seed}):"
        identifier = f"LIFE-{round_number}"
        count = rng.randint(3, 6)
        offsets = rng.sample(range(3600), count)  # distinct timestamps within the last hour
        bodies = [
            student_event(
                rng.choice([REGISTERED, DROPPED, ACTIVATED]),
                now - 3600 + offset,
                identifier,
                f"parent.{round_number}.{offset}@example.com",
            )
            for offset in offsets
        ]
        print(context, [(body["event"].rsplit(".", 1)[1], body["timestamp"]) for body in bodies])
        jobs = [delivery(body, delay=rng.choice([0, 0, 0.002, 0.005, 0.01])) for body in bodies]

        answers = run_concurrently(jobs)

        assert [code for code, _ in answers] == [200] * count, f"{context} {answers}"
        assert_applied_or_stale(bodies, context)
        newest = max(bodies, key=lambda body: body["timestamp"])
        student = Student.objects.get(identifier=identifier)
        assert student.status == STATUS_AFTER[newest["event"]], context
        assert (
            student.primary_contact_email == (newest["payload"]["student"]["primary_contact_email"])
        ), context
        assert student.jodo_updated_at is not None, context
        assert int(student.jodo_updated_at.timestamp()) == newest["timestamp"], context
    assert Student.objects.count() == ROUNDS
