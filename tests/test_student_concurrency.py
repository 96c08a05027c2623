"""Simultaneous events for one brand-new student: one Student, holding the newest event's data."""

from __future__ import annotations

from datetime import UTC, datetime
from functools import partial

import pytest

from jodo_webhooks.models import InboundEvent
from students.models import Student, StudentNote

from .factories import EnvelopeFactory
from .helpers import requires_server_database, signed_post
from .processes import run_concurrently
from .students_support import timestamp


def post_all_at_once(bodies):
    """POST every body from its own thread and client, all released together; the responses."""
    return run_concurrently([partial(signed_post, body=body) for body in bodies])


@requires_server_database
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("n_events", [2, 8])
def test_simultaneous_events_for_a_new_student_create_it_once(n_events):
    now = timestamp()
    # Different events (ids, timestamps, contents) about the same student; the newest is last.
    bodies = [
        EnvelopeFactory(
            event_id=f"race-{n_events}-{i}",
            timestamp=now - n_events + i,
            payload__jodo_student_id="J-RACE",
            payload__student__identifier="ERP-RACE",
            payload__student__custom_identifier="CUST-RACE",
            payload__student__primary_contact_email=f"parent{i}@example.com",
            payload__student__notes=[{"key": "version", "value": str(i)}],
        )
        for i in range(n_events)
    ]

    responses = post_all_at_once(bodies)

    assert [r.status_code for r in responses] == [200] * n_events, [r.content for r in responses]
    events = InboundEvent.objects.order_by("occurred_at")
    outcomes = [(event.event_id, event.status, event.last_error) for event in events]
    assert len(outcomes) == n_events
    assert all(status in ("processed", "skipped") for _, status, _ in outcomes), outcomes
    last = events.last()
    assert last is not None
    assert last.status == "processed", outcomes

    newest = bodies[-1]["payload"]["student"]
    student = Student.objects.get()
    assert (student.identifier, student.custom_identifier, student.jodo_student_id) == (
        "ERP-RACE",
        "CUST-RACE",
        "J-RACE",
    )
    assert student.primary_contact_email == newest["primary_contact_email"]
    assert student.jodo_updated_at == datetime.fromtimestamp(now - 1, tz=UTC)
    assert list(StudentNote.objects.values_list("key", "value")) == [("version", str(n_events - 1))]
