"""Applying registered events to Student rows: the documented example, matching, conflicts,
staleness, validation and versions. (The bound on statements per delivery, whatever the number
of notes, is tested on both ERPs in test_student_sync.py.)"""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest

from jodo_webhooks.processing import process_event
from students.models import Student

from .factories import EnvelopeFactory
from .helpers import load_fixture
from .students_support import (
    StudentFactory,
    StudentNoteFactory,
    database_state,
    deliver_event,
    notes_of,
    timestamp,
)

pytestmark = pytest.mark.django_db


def test_documented_example_creates_the_student(deliver, jodo_settings):
    jodo_settings["MAX_EVENT_AGE_DAYS"] = 0

    event = deliver_event(deliver, load_fixture("masterdata.student.registered.json"))

    assert event.status == "processed", event.last_error
    student = Student.objects.get()
    assert student.identifier == "1234"
    assert student.custom_identifier == "cust_1234"
    assert student.jodo_student_id == "student_1234"
    assert student.collector_code is None
    assert (student.grade_code, student.grade_name) == ("M1BLUE", "Montessori 1")
    assert (student.academic_year_start, student.academic_year_end) == (2022, 2023)
    assert student.primary_contact_number == "9876543210"
    assert student.primary_contact_email == "parent@example.com"
    assert student.status == Student.Status.ACTIVE
    assert student.jodo_updated_at == datetime.fromtimestamp(1655448963, tz=UTC)
    assert notes_of(student) == {"registration_number": ("REG12345", "jodo")}


# --- matching an existing ERP student ---------------------------------------------------------


@pytest.mark.parametrize(
    ("existing", "event_student", "expected"),
    [
        pytest.param(
            {"identifier": "ERP-1", "jodo_student_id": None},
            {"identifier": "ERP-1", "custom_identifier": None},
            {"identifier": "ERP-1", "jodo_student_id": "J-1"},
            id="by-identifier-stores-jodo-id",
        ),
        pytest.param(
            {"identifier": "ERP-OLD", "custom_identifier": "C-1"},
            {"identifier": "ERP-NEW", "custom_identifier": "C-1"},
            {"identifier": "ERP-NEW", "custom_identifier": "C-1", "jodo_student_id": "J-1"},
            id="by-custom-identifier-updates-identifier",
        ),
        pytest.param(
            {"identifier": "ERP-OLD", "jodo_student_id": "J-1"},
            {"identifier": "ERP-NEW", "custom_identifier": None},
            {"identifier": "ERP-NEW", "jodo_student_id": "J-1"},
            id="by-jodo-id-changes-identifier",
        ),
    ],
)
def test_event_updates_the_matching_student(deliver, existing, event_student, expected):
    student = StudentFactory(**existing, primary_contact_email="old@example.com")
    body = EnvelopeFactory(
        payload__jodo_student_id="J-1",
        payload__student__primary_contact_email="new@example.com",
        **{f"payload__student__{field}": value for field, value in event_student.items()},
    )

    event = deliver_event(deliver, body)

    assert event.status == "processed", event.last_error
    assert Student.objects.count() == 1
    student.refresh_from_db()
    assert {field: getattr(student, field) for field in expected} == expected
    assert student.primary_contact_email == "new@example.com"


# --- conflicts --------------------------------------------------------------------------------


def jodo_id_of_one_identifier_of_another():
    StudentFactory(identifier="ERP-AAA", jodo_student_id="J-AAA")
    StudentFactory(identifier="ERP-BBB")
    return {"jodo_student_id": "J-AAA", "identifier": "ERP-BBB"}, ["ERP-AAA", "ERP-BBB"]


def found_student_has_another_jodo_id():
    StudentFactory(identifier="ERP-AAA", jodo_student_id="J-OLD")
    return {"jodo_student_id": "J-NEW", "identifier": "ERP-AAA"}, ["ERP-AAA", "J-OLD", "J-NEW"]


def custom_identifier_taken_by_another():
    StudentFactory(identifier="ERP-AAA", jodo_student_id="J-AAA")
    StudentFactory(identifier="ERP-BBB", custom_identifier="CUST-BBB")
    return (
        {"jodo_student_id": "J-AAA", "identifier": "ERP-AAA", "custom_identifier": "CUST-BBB"},
        ["ERP-AAA", "ERP-BBB", "CUST-BBB"],
    )


@pytest.mark.parametrize(
    "setup",
    [
        jodo_id_of_one_identifier_of_another,
        found_student_has_another_jodo_id,
        custom_identifier_taken_by_another,
    ],
)
def test_conflicting_ids_change_nothing_and_fail_the_event(deliver, setup):
    ids, named_in_error = setup()
    StudentNoteFactory(student=Student.objects.first(), key="erp_only")
    before = database_state()
    jodo_student_id = ids.pop("jodo_student_id")
    student = {"custom_identifier": None, "primary_contact_email": "new@example.com", **ids}
    body = EnvelopeFactory(
        payload__jodo_student_id=jodo_student_id,
        **{f"payload__student__{field}": value for field, value in student.items()},
    )

    event = deliver_event(deliver, body)

    assert event.status == "failed"
    assert event.last_error.startswith("StudentConflict:"), event.last_error
    for name in named_in_error:
        assert name in event.last_error
    assert event.processed_at is None
    assert database_state() == before


# --- stale and repeated timestamps ------------------------------------------------------------


def test_event_older_than_the_last_applied_is_skipped(deliver):
    newer = EnvelopeFactory(timestamp=timestamp(60))
    deliver_event(deliver, newer)
    before = database_state()
    older = EnvelopeFactory(
        timestamp=timestamp(120),
        payload=newer["payload"]
        | {"student": newer["payload"]["student"] | {"primary_contact_email": "old@example.com"}},
    )

    event = deliver_event(deliver, older)

    assert event.status == "skipped"
    assert "stale" in event.status_reason
    assert event.last_error == ""
    assert database_state() == before


def test_erp_student_with_a_newer_jodo_timestamp_is_not_overwritten(deliver):
    student = StudentFactory(
        identifier="ERP-1",
        primary_contact_email="erp@example.com",
        jodo_updated_at=datetime.fromtimestamp(timestamp(), tz=UTC),
    )
    before = database_state()

    event = deliver_event(
        deliver, EnvelopeFactory(timestamp=timestamp(3600), payload__student__identifier="ERP-1")
    )

    assert event.status == "skipped"
    assert "stale" in event.status_reason
    assert database_state() == before
    student.refresh_from_db()
    assert student.primary_contact_email == "erp@example.com"


def test_event_with_the_same_timestamp_is_applied(deliver):
    at = timestamp(60)
    first = EnvelopeFactory(timestamp=at)
    deliver_event(deliver, first)
    second = EnvelopeFactory(
        timestamp=at,
        payload=first["payload"]
        | {"student": first["payload"]["student"] | {"primary_contact_email": "new@example.com"}},
    )

    event = deliver_event(deliver, second)

    assert event.status == "processed", event.last_error
    student = Student.objects.get()
    assert student.primary_contact_email == "new@example.com"
    assert student.jodo_updated_at == datetime.fromtimestamp(at, tz=UTC)


# --- validation -------------------------------------------------------------------------------


def set_student(field, value):
    def change(student):
        student[field] = value

    return change


def remove_student_field(field):
    def change(student):
        del student[field]

    return change


@pytest.mark.parametrize(
    ("change", "field_in_error"),
    [
        pytest.param(remove_student_field("identifier"), "identifier", id="identifier-missing"),
        pytest.param(set_student("identifier", ""), "identifier", id="identifier-empty"),
        pytest.param(set_student("identifier", "   "), "identifier", id="identifier-whitespace"),
        pytest.param(set_student("identifier", 1234), "identifier", id="identifier-number"),
        pytest.param(
            set_student("academic_year_end", 2025), "academic_year_end", id="year-end<start"
        ),
        pytest.param(
            set_student("academic_year_start", "2026"), "academic_year_start", id="year-str"
        ),
        pytest.param(
            set_student("notes", {"key": "k", "value": "v"}), "notes", id="notes-not-a-list"
        ),
        pytest.param(
            set_student("notes", [{"key": "k", "value": 5}]), "value", id="note-value-int"
        ),
        pytest.param(set_student("notes", [{"value": "v"}]), "key", id="note-key-missing"),
    ],
)
def test_invalid_payload_changes_nothing_and_fails_the_event(deliver, change, field_in_error):
    StudentNoteFactory(
        student=StudentFactory(identifier="ERP-1", jodo_student_id="J-1", primary_contact_email="")
    )
    before = database_state()
    body = EnvelopeFactory(
        payload__jodo_student_id="J-1",
        payload__student__identifier="ERP-1",
        payload__student__primary_contact_email="new@example.com",
    )
    change(body["payload"]["student"])

    event = deliver_event(deliver, body)

    assert event.status == "failed"
    assert event.last_error.startswith("InvalidPayload: Invalid payload:"), event.last_error
    assert f'"{field_in_error}"' in event.last_error
    assert database_state() == before


def test_missing_student_object_fails_the_event(deliver):
    event = deliver_event(deliver, EnvelopeFactory(payload={"jodo_student_id": "J-1"}))

    assert event.status == "failed"
    assert '"student"' in event.last_error
    assert not Student.objects.exists()


def test_strings_are_trimmed(deliver):
    body = EnvelopeFactory(
        payload__jodo_student_id=" J-1 ",
        payload__student__identifier="  A1  ",
        payload__student__custom_identifier="\tC1\n",
        payload__student__primary_contact_email=" parent@example.com ",
        payload__student__notes=[{"key": " roll ", "value": " 42 "}],
    )

    event = deliver_event(deliver, body)

    assert event.status == "processed", event.last_error
    student = Student.objects.get()
    assert (student.identifier, student.custom_identifier, student.jodo_student_id) == (
        "A1",
        "C1",
        "J-1",
    )
    assert student.primary_contact_email == "parent@example.com"
    assert notes_of(student) == {"roll": ("42", "jodo")}


@pytest.mark.parametrize("how", ["null", "missing", "empty"])
def test_optional_ids_may_be_null_or_missing(deliver, how):
    bodies = [EnvelopeFactory(), EnvelopeFactory()]
    for body in bodies:
        student = body["payload"]["student"]
        for field in ("custom_identifier", "collector_code"):
            if how == "missing":
                del student[field]
            else:
                student[field] = None if how == "null" else ""

    events = [deliver_event(deliver, body) for body in bodies]

    assert [event.status for event in events] == ["processed", "processed"], [
        event.last_error for event in events
    ]
    # Two students without a custom identifier do not collide on its unique constraint.
    assert list(Student.objects.values_list("custom_identifier", "collector_code")) == [
        (None, None),
        (None, None),
    ]


def test_collector_code_is_stored(deliver):
    deliver_event(deliver, EnvelopeFactory(payload__student__collector_code="BRANCH-7"))

    assert Student.objects.get().collector_code == "BRANCH-7"


# --- versions ---------------------------------------------------------------------------------


def test_unsupported_version_fails_the_event(deliver):
    event = deliver_event(deliver, EnvelopeFactory(version="2.0"))

    assert event.status == "failed"
    assert "Unsupported version" in event.last_error
    assert not Student.objects.exists()


@pytest.mark.parametrize("version", ["1", "1.0", "1.1", "1.12.3"])
def test_every_1x_version_is_applied(deliver, version):
    event = deliver_event(deliver, EnvelopeFactory(version=version))

    assert event.status == "processed", event.last_error
    assert Student.objects.count() == 1


def test_failed_event_is_reprocessed_once_its_version_is_supported(deliver, monkeypatch):
    body = EnvelopeFactory(version="2.0")
    event = deliver_event(deliver, body)
    assert (event.status, event.attempts) == ("failed", 1)

    assert process_event(event.pk) == "failed"
    event.refresh_from_db()
    assert event.attempts == 2
    assert "Unsupported version" in event.last_error

    # The receiver is upgraded to understand 2.x.
    monkeypatch.setattr(
        "jodo_webhooks.student_payload.SUPPORTED_VERSION", re.compile(r"[12](\.\d+)*")
    )
    assert process_event(event.pk) == "processed"

    event.refresh_from_db()
    assert (event.status, event.attempts) == ("processed", 3)
    student = Student.objects.get()
    assert student.identifier == body["payload"]["student"]["identifier"]
    # A processed event is final: processing it again does nothing.
    assert process_event(event.pk) is None
