"""dropped and activated events: a student's status follows the newest event, whatever the order."""

from __future__ import annotations

import pytest

from students.models import Student, StudentNote

from .factories import EnvelopeFactory
from .helpers import load_fixture
from .students_support import StudentFactory, StudentNoteFactory, deliver_event, notes_of, timestamp

pytestmark = pytest.mark.django_db

REGISTERED = "masterdata.student.registered"
DROPPED = "masterdata.student.dropped"
ACTIVATED = "masterdata.student.activated"


def student_event(event, seconds_ago, **student):
    return EnvelopeFactory(
        event=event,
        timestamp=timestamp(seconds_ago),
        payload__jodo_student_id="J-1",
        payload__student__identifier="ERP-1",
        **{f"payload__student__{field}": value for field, value in student.items()},
    )


def apply(deliver, event, seconds_ago, expected_status="processed", **student):
    event = deliver_event(deliver, student_event(event, seconds_ago, **student))
    assert event.status == expected_status, event.last_error or event.status_reason
    return event


def test_documented_examples_register_drop_and_activate(deliver, jodo_settings):
    jodo_settings["MAX_EVENT_AGE_DAYS"] = 0
    statuses = []
    for name in (REGISTERED, DROPPED, ACTIVATED):
        event = deliver_event(deliver, load_fixture(f"{name}.json"))
        assert event.status == "processed", event.last_error
        student = Student.objects.get()
        statuses.append(student.status)
        assert student.jodo_updated_at == event.occurred_at
        assert notes_of(student) == {"registration_number": ("REG12345", "jodo")}

    assert statuses == ["active", "dropped", "active"]


def test_dropped_marks_the_student_dropped_and_keeps_its_notes(deliver):
    apply(deliver, REGISTERED, 120, notes=[{"key": "registration_number", "value": "REG1"}])
    StudentNoteFactory(student=Student.objects.get(), key="fees_history", value="paid 2026")

    apply(deliver, DROPPED, 60, notes=[{"key": "registration_number", "value": "REG1"}])

    student = Student.objects.get()
    assert student.status == Student.Status.DROPPED
    assert notes_of(student) == {
        "registration_number": ("REG1", "jodo"),
        "fees_history": ("paid 2026", "erp"),
    }


def test_activated_makes_a_dropped_student_active(deliver):
    StudentFactory(identifier="ERP-1", jodo_student_id="J-1", status=Student.Status.DROPPED)

    apply(deliver, ACTIVATED, 60)

    assert Student.objects.get().status == Student.Status.ACTIVE


def test_older_dropped_arriving_after_newer_activated_is_skipped(deliver):
    apply(deliver, REGISTERED, 300)
    activated = apply(deliver, ACTIVATED, 60)

    stale = apply(deliver, DROPPED, 120, expected_status="skipped")

    assert "stale" in stale.status_reason
    student = Student.objects.get()
    assert student.status == Student.Status.ACTIVE
    assert student.jodo_updated_at == activated.occurred_at


def test_older_activated_arriving_after_newer_dropped_is_skipped(deliver):
    apply(deliver, REGISTERED, 300)
    apply(deliver, DROPPED, 60)

    apply(deliver, ACTIVATED, 120, expected_status="skipped")

    assert Student.objects.get().status == Student.Status.DROPPED


@pytest.mark.parametrize(
    ("event", "status"), [(DROPPED, Student.Status.DROPPED), (ACTIVATED, Student.Status.ACTIVE)]
)
def test_unknown_student_is_created_with_the_events_status(deliver, event, status):
    apply(deliver, event, 60, notes=[{"key": "registration_number", "value": "REG1"}])

    student = Student.objects.get()
    assert (student.identifier, student.jodo_student_id, student.status) == ("ERP-1", "J-1", status)
    assert StudentNote.objects.filter(student=student, source="jodo").count() == 1


def test_events_older_than_the_maximum_age_are_skipped(deliver):
    event = apply(deliver, DROPPED, 8 * 24 * 3600, expected_status="skipped")

    assert "maximum event age" in event.status_reason
    assert not Student.objects.exists()
