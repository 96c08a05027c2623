"""SQL statements per delivery, through the real endpoint: few, and not one more per note.

Counted as Django logs them (CaptureQueriesContext), BEGIN, COMMIT and savepoints included: each
is a round trip to the database. The connection health check (CONN_HEALTH_CHECKS) bypasses
Django's cursor and is not counted. transaction=True, so that transactions commit as in
production instead of nesting in the test's own.
"""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from jodo_webhooks.models import InboundEvent

from .factories import EnvelopeFactory, NoteFactory, StudentBodyFactory

pytestmark = pytest.mark.django_db(transaction=True)

# A new student, applied in the request: the look for a known event_id, then one transaction
# that inserts the event, looks the student up, inserts it, upserts all its notes at once and
# stores the outcome (BEGIN and COMMIT included), whatever the number of notes: 7 on every
# database (the row is inserted with its outcome, so no UPDATE follows). The reference ERP sets
# PAYMENT_SYNC, which adds one after the commit: the look for payments waiting for the student.
NEW_STUDENT_MAX_STATEMENTS = 8
# The same for a student the ERP already has: an UPDATE instead of the INSERT, and the Jodo
# notes the event no longer carries deleted: 8 on every database, 9 with PAYMENT_SYNC's look.
EXISTING_STUDENT_MAX_STATEMENTS = 9
# A delivery of an event already recorded and processed: the look that finds it and the count
# of the delivery; no transaction, nothing applied again. 2 on every database (budget: 3).
DUPLICATE_MAX_STATEMENTS = 2
# Task mode with the queue in the same database: one transaction for the event's INSERT and
# the task's (no look first: it would cost every new event more than it saves a redelivery).
TASK_INGEST_MAX_STATEMENTS = 4
# A redelivery in task mode, of an event a worker already processed: the transaction's INSERT
# fails on the unique event_id and rolls back, then the look that finds the event and the count
# (BEGIN, INSERT, ROLLBACK, SELECT, UPDATE). Over the inline budget of 3, knowingly: looking
# first, as inline does, would add a statement to every new event to save two on a redelivery,
# which Jodo sends only after a failed delivery.
TASK_DUPLICATE_MAX_STATEMENTS = 5


def statements(deliver, body: dict) -> list[str]:
    """Every statement one accepted delivery runs."""
    with CaptureQueriesContext(connection) as captured:
        response = deliver(body)
    assert response.status_code == 200, response.content
    return [query["sql"] for query in captured.captured_queries]


def applied(body: dict) -> bool:
    event = InboundEvent.objects.get(event_id=body["event_id"])
    return event.status == InboundEvent.Status.PROCESSED


def new_student(notes: int) -> dict:
    return EnvelopeFactory(
        payload__student=StudentBodyFactory(notes=NoteFactory.build_batch(notes))
    )


def test_a_new_student_takes_the_same_few_statements_for_1_or_50_notes(deliver):
    one, fifty = new_student(1), new_student(50)

    with_one, with_fifty = statements(deliver, one), statements(deliver, fifty)

    assert applied(one)
    assert applied(fifty)
    listing = "\n".join(with_fifty)
    assert len(with_one) == len(with_fifty), listing
    assert len(with_fifty) <= NEW_STUDENT_MAX_STATEMENTS, listing


def test_an_existing_student_takes_few_statements(deliver):
    first = new_student(3)
    assert statements(deliver, first)
    student = first["payload"]["student"] | {"notes": NoteFactory.build_batch(3)}
    update = EnvelopeFactory(timestamp=first["timestamp"] + 1, payload__student=student)

    run = statements(deliver, update)

    assert applied(update)
    assert len(run) <= EXISTING_STUDENT_MAX_STATEMENTS, "\n".join(run)


def test_a_duplicate_delivery_takes_few_statements(deliver):
    body = new_student(3)
    assert statements(deliver, body)

    run = statements(deliver, body)

    assert InboundEvent.objects.get(event_id=body["event_id"]).delivery_count == 2
    assert len(run) <= DUPLICATE_MAX_STATEMENTS, "\n".join(run)


def test_task_mode_ingest_commits_the_event_and_its_task_once(deliver, jodo_settings):
    jodo_settings["PROCESSING"] = "task"  # the ERP's Tasks backend keeps its queue in this database
    one, fifty = new_student(1), new_student(50)

    with_one, with_fifty = statements(deliver, one), statements(deliver, fifty)

    listing = "\n".join(with_fifty)
    assert InboundEvent.objects.filter(status=InboundEvent.Status.RECEIVED).count() == 2
    assert len(with_one) == len(with_fifty) <= TASK_INGEST_MAX_STATEMENTS, listing
    assert [sql for sql in with_fifty if sql.upper().startswith("COMMIT")] == ["COMMIT"], listing


def test_a_duplicate_in_task_mode_takes_few_statements(deliver, jodo_settings):
    jodo_settings["PROCESSING"] = "task"
    body = new_student(3)
    assert statements(deliver, body)
    InboundEvent.objects.filter(event_id=body["event_id"]).update(
        status=InboundEvent.Status.PROCESSED  # as a worker leaves it: nothing to enqueue again
    )

    run = statements(deliver, body)

    assert InboundEvent.objects.get(event_id=body["event_id"]).delivery_count == 2
    assert len(run) <= TASK_DUPLICATE_MAX_STATEMENTS, "\n".join(run)
