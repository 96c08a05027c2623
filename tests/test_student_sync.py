"""The student sync's rules, written once and run against both test ERPs through the real endpoint.

The `erp` fixture points JODO_WEBHOOKS["STUDENT_SYNC"] at one ERP's mapping and hands the test
that ERP's adapter (tests/erps.py), which creates and reads students in Jodo's names. Rules that
only one ERP can show (notes the ERP owns; a NOT NULL collector field; a before_save hook) have
tests of their own at the end, on the `students_erp` or `pupils_erp` fixture.
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from functools import partial

import pytest
from django.core.checks import run_checks
from django.db import connection
from django.test.utils import CaptureQueriesContext

import jodo_webhooks
from jodo_webhooks import Notes
from jodo_webhooks.models import InboundEvent
from students.jodo import STUDENT_SYNC
from students.models import Student
from tests.pupils.jodo import PUPIL_SYNC
from tests.pupils.models import Pupil, PupilTag

from .erps import ERPS
from .factories import EnvelopeFactory, InboundEventFactory, NoteFactory
from .helpers import load_fixture, requires_server_database, signed_post
from .processes import run_concurrently
from .students_support import deliver_event, timestamp

pytestmark = pytest.mark.django_db

REGISTERED = "masterdata.student.registered"
DROPPED = "masterdata.student.dropped"
ACTIVATED = "masterdata.student.activated"


def use_erp(settings, name):
    """Send the student events to this ERP's mapping for the test; its adapter."""
    erp = ERPS[name]
    settings.JODO_WEBHOOKS = {**settings.JODO_WEBHOOKS, "STUDENT_SYNC": erp.sync_path}
    return erp


@pytest.fixture(params=list(ERPS))
def erp(request, settings, jodo_settings):
    return use_erp(settings, request.param)


@pytest.fixture
def students_erp(settings, jodo_settings):
    return use_erp(settings, "students")


@pytest.fixture
def pupils_erp(settings, jodo_settings):
    return use_erp(settings, "pupils")


def student_event(
    identifier="A1",
    *,
    event=REGISTERED,
    seconds_ago=60,
    jodo_student_id="J-1",
    version="1.0",
    **student,
):
    """A Jodo event about one student; `student` sets fields of `payload.student`."""
    return EnvelopeFactory(
        event=event,
        version=version,
        timestamp=timestamp(seconds_ago),
        payload__jodo_student_id=jodo_student_id,
        payload__student__identifier=identifier,
        **{f"payload__student__{name}": value for name, value in student.items()},
    )


def notes(*pairs):
    """An event's `notes`: a list of {key, value} objects, in order, repeats allowed."""
    return [{"key": key, "value": value} for key, value in pairs]


def apply(deliver, body, expected="processed"):
    """Deliver `body`; the event must end with the `expected` status."""
    event = deliver_event(deliver, body)
    assert event.status == expected, event.last_error or event.status_reason
    return event


def at(seconds_ago):
    """The datetime of a `timestamp(seconds_ago)`, as the ERP stores it."""
    return datetime.fromtimestamp(timestamp(seconds_ago), tz=UTC)


# --- creating a student -----------------------------------------------------------------------


def test_documented_example_creates_the_student(deliver, erp, settings):
    settings.JODO_WEBHOOKS = {**settings.JODO_WEBHOOKS, "MAX_EVENT_AGE_DAYS": 0}

    apply(deliver, load_fixture("masterdata.student.registered.json"))

    student = erp.student("1234")
    assert student["custom_identifier"] == "cust_1234"
    assert student["jodo_student_id"] == "student_1234"
    assert student["status"] == "active"
    assert (student["grade_code"], student["grade_name"]) == ("M1BLUE", "Montessori 1")
    assert student["jodo_updated_at"] == datetime.fromtimestamp(1655448963, tz=UTC)
    assert erp.notes("1234") == erp.jodo_notes("1234") == {"registration_number": "REG12345"}


def test_profile_fields_are_stored_where_the_mapping_says(deliver, erp):
    body = student_event(
        "A1",
        seconds_ago=60,
        jodo_student_id="J-1",
        custom_identifier="C1",
        collector_code="BRANCH-7",
        grade={"code": "G5", "name": "Grade 5"},
        academic_year_start=2026,
        academic_year_end=2027,
        primary_contact_number="9123456789",
        primary_contact_email="parent@example.com",
    )
    event = apply(deliver, body)

    in_jodos_names = {
        "identifier": "A1",
        "custom_identifier": "C1",
        "jodo_student_id": "J-1",
        "status": "active",
        "jodo_updated_at": event.occurred_at,
        "collector_code": "BRANCH-7",
        "grade_code": "G5",
        "grade_name": "Grade 5",
        "academic_year_start": 2026,
        "academic_year_end": 2027,
        "primary_contact_number": "9123456789",
        "primary_contact_email": "parent@example.com",
    }
    stored = erp.student("A1")
    assert set(stored) == set(in_jodos_names) - erp.not_stored
    assert stored == {name: in_jodos_names[name] for name in stored}


def test_absent_custom_identifiers_do_not_collide(deliver, erp):
    apply(deliver, student_event("A1", jodo_student_id="J-1", custom_identifier=None))
    apply(deliver, student_event("A2", jodo_student_id="J-2", custom_identifier=""))

    assert erp.count() == 2
    assert erp.student("A1")["custom_identifier"] is None
    assert erp.student("A2")["custom_identifier"] is None


# --- matching an existing student: by jodo_student_id, else identifier, else custom_identifier -


def test_matched_by_identifier_the_student_takes_the_jodo_id(deliver, erp):
    erp.create_student("A1")

    apply(
        deliver,
        student_event(
            "A1",
            jodo_student_id="J-1",
            custom_identifier=None,
            primary_contact_email="new@example.com",
        ),
    )

    assert erp.count() == 1
    student = erp.student("A1")
    assert student["jodo_student_id"] == "J-1"
    assert student["primary_contact_email"] == "new@example.com"


def test_matched_by_custom_identifier_the_student_takes_the_new_identifier(deliver, erp):
    erp.create_student("OLD", custom_identifier="C1")

    apply(
        deliver,
        student_event(
            "NEW",
            jodo_student_id="J-1",
            custom_identifier="C1",
            primary_contact_email="new@example.com",
        ),
    )

    assert erp.count() == 1
    student = erp.student("NEW")
    assert (student["custom_identifier"], student["jodo_student_id"]) == ("C1", "J-1")
    assert student["primary_contact_email"] == "new@example.com"


def test_matched_by_jodo_id_the_student_takes_the_new_identifier(deliver, erp):
    erp.create_student("OLD", jodo_student_id="J-1")

    apply(
        deliver,
        student_event(
            "NEW",
            jodo_student_id="J-1",
            custom_identifier=None,
            primary_contact_email="new@example.com",
        ),
    )

    assert erp.count() == 1
    student = erp.student("NEW")
    assert student["jodo_student_id"] == "J-1"
    assert student["primary_contact_email"] == "new@example.com"


@requires_server_database
def test_the_lookup_locks_the_students_rows(deliver, erp):
    erp.create_student("A1", jodo_student_id="J-1")

    with CaptureQueriesContext(connection) as captured:
        apply(deliver, student_event("A1", jodo_student_id="J-1"))

    table = connection.ops.quote_name(erp.student_table)
    lookups = [
        query["sql"]
        for query in captured.captured_queries
        if query["sql"].startswith("SELECT") and f"FROM {table}" in query["sql"]
    ]
    assert len(lookups) == 1, lookups
    assert lookups[0].endswith("FOR UPDATE"), lookups[0]


# --- conflicts: fail the event, name both records, change nothing -------------------------------


def assert_conflict(event, *names, records):
    """Failed with a StudentConflict whose message names `names` and whose data names the
    `records` (model label, pk), stored with the failure for the admin's links."""
    assert event.status == "failed"
    assert event.last_error.startswith("StudentConflict: "), event.last_error
    for name in names:
        assert name in event.last_error, (name, event.last_error)
    assert event.error_records == [[label, str(pk)] for label, pk in records]
    assert event.processed_at is None


def test_jodo_id_of_one_student_and_identifier_of_another_is_a_conflict(deliver, erp):
    by_jodo_id = erp.create_student("ERP-AAA", jodo_student_id="J-AAA")
    by_identifier = erp.create_student("ERP-BBB")
    erp.add_jodo_note("ERP-AAA", "house", "Blue")
    before = erp.state()

    event = deliver_event(
        deliver, student_event("ERP-BBB", jodo_student_id="J-AAA", custom_identifier=None)
    )

    records = [(erp.student_label, by_identifier), (erp.student_label, by_jodo_id)]
    assert_conflict(event, "ERP-AAA", "ERP-BBB", records=records)
    # The jodo id comes first: the identifier's student is the one reported as taken.
    assert f"point at student {by_jodo_id} (ERP-AAA)" in event.last_error
    assert erp.state() == before


def test_student_already_carrying_another_jodo_id_is_a_conflict(deliver, erp):
    carrying = erp.create_student("ERP-AAA", jodo_student_id="J-OLD")
    erp.add_jodo_note("ERP-AAA", "house", "Blue")
    before = erp.state()

    event = deliver_event(
        deliver, student_event("ERP-AAA", jodo_student_id="J-NEW", custom_identifier=None)
    )

    assert_conflict(event, "ERP-AAA", "J-OLD", "J-NEW", records=[(erp.student_label, carrying)])
    assert erp.state() == before


def test_custom_identifier_of_another_student_is_a_conflict(deliver, erp):
    by_jodo_id = erp.create_student("ERP-AAA", jodo_student_id="J-AAA")
    by_custom = erp.create_student("ERP-BBB", custom_identifier="CUST-BBB")
    erp.add_jodo_note("ERP-AAA", "house", "Blue")
    before = erp.state()

    event = deliver_event(
        deliver, student_event("ERP-AAA", jodo_student_id="J-AAA", custom_identifier="CUST-BBB")
    )

    records = [(erp.student_label, by_custom), (erp.student_label, by_jodo_id)]
    assert_conflict(event, "ERP-AAA", "ERP-BBB", "CUST-BBB", records=records)
    assert erp.state() == before


@pytest.mark.skipif(connection.vendor != "mysql", reason="a case-insensitive collation")
def test_ids_compare_exactly_even_where_the_columns_collation_ignores_case(deliver, pupils_erp):
    # The pupils ERP keeps MariaDB's default, case-insensitive collation on its id columns (the
    # reference ERP's compare exactly). A Jodo id differing only in case is another id, as on
    # PostgreSQL: the matched pupil already has one, a conflict.
    apply(deliver, student_event("A1", seconds_ago=300, jodo_student_id="J-ABC"))
    event = deliver_event(deliver, student_event("A1", seconds_ago=100, jodo_student_id="j-abc"))
    assert event.status == "failed"
    assert "already has jodo_student_id 'J-ABC'" in event.last_error


@pytest.mark.skipif(connection.vendor != "mysql", reason="a case-insensitive collation")
def test_a_row_equal_only_by_the_columns_collation_is_a_conflict_not_an_integrity_error(
    deliver, pupils_erp
):
    apply(deliver, student_event("abc", seconds_ago=300, jodo_student_id="J-1"))
    event = deliver_event(deliver, student_event("ABC", seconds_ago=100, jodo_student_id="J-2"))
    assert event.status == "failed"
    assert event.last_error.startswith("StudentConflict:")
    assert "collation treats as equal" in event.last_error
    assert pupils_erp.count() == 1


# --- staleness ----------------------------------------------------------------------------------


def test_a_late_event_whose_ids_have_since_moved_is_skipped_as_stale(deliver, erp):
    # J-1 was "X", then renamed "Y", then J-2 took "X": a retry of J-1's older "X" event is stale,
    # not a conflict (and not a failure that keeps jodo_status unhealthy).
    for identifier, jodo_id, age in (("X", "J-1", 300), ("Y", "J-1", 200), ("X", "J-2", 100)):
        apply(deliver, student_event(identifier, seconds_ago=age, jodo_student_id=jodo_id))
    late = deliver_event(deliver, student_event("X", seconds_ago=250, jodo_student_id="J-1"))
    assert late.status == "skipped", late.last_error
    assert late.status_reason.startswith("stale:")


def test_an_event_older_than_the_last_applied_is_skipped(deliver, erp):
    apply(deliver, student_event("A1", seconds_ago=60, notes=notes(("house", "Blue"))))
    before = erp.state()

    event = apply(
        deliver,
        student_event(
            "A1",
            seconds_ago=120,
            primary_contact_email="old@example.com",
            notes=notes(("house", "Red")),
        ),
        expected="skipped",
    )

    assert event.status_reason.startswith("stale: "), event.status_reason
    assert event.last_error == ""
    assert erp.state() == before


def test_an_erp_student_with_a_newer_jodo_timestamp_is_not_overwritten(deliver, erp):
    erp.create_student("A1", jodo_updated_at=at(0), primary_contact_email="erp@example.com")
    before = erp.state()

    event = apply(deliver, student_event("A1", seconds_ago=3600), expected="skipped")

    assert event.status_reason.startswith("stale: "), event.status_reason
    assert erp.state() == before


def test_an_event_with_the_same_timestamp_applies_again(deliver, erp):
    first_body = student_event("A1", seconds_ago=60)
    first = apply(deliver, first_body)
    second_body = student_event("A1", primary_contact_email="new@example.com")
    second_body["timestamp"] = first_body["timestamp"]

    again = apply(deliver, second_body)

    assert again.occurred_at == first.occurred_at
    student = erp.student("A1")
    assert student["primary_contact_email"] == "new@example.com"
    assert student["jodo_updated_at"] == first.occurred_at


# --- status -------------------------------------------------------------------------------------


def test_the_old_name_of_student_status_imports_with_a_deprecation_warning():
    with pytest.warns(DeprecationWarning, match="use jodo_webhooks.StudentStatus"):
        from jodo_webhooks import Status
    assert Status is jodo_webhooks.StudentStatus


@pytest.mark.parametrize(
    ("event", "status_before", "status_after"),
    [
        (REGISTERED, "dropped", "active"),
        (DROPPED, "active", "dropped"),
        (ACTIVATED, "dropped", "active"),
    ],
)
def test_the_event_type_sets_the_status_and_keeps_the_student(
    deliver, erp, event, status_before, status_after
):
    erp.create_student("A1", jodo_student_id="J-1", status=status_before)
    erp.add_jodo_note("A1", "house", "Blue")

    apply(deliver, student_event("A1", event=event, notes=notes(("house", "Blue"))))

    assert erp.count() == 1
    assert erp.student("A1")["status"] == status_after
    assert erp.notes("A1") == {"house": "Blue"}


@pytest.mark.parametrize(
    ("event", "status"), [(REGISTERED, "active"), (DROPPED, "dropped"), (ACTIVATED, "active")]
)
def test_an_unknown_student_is_created_with_the_events_status(deliver, erp, event, status):
    apply(deliver, student_event("A1", event=event, notes=notes(("house", "Blue"))))

    student = erp.student("A1")
    assert (student["jodo_student_id"], student["status"]) == ("J-1", status)
    assert erp.jodo_notes("A1") == {"house": "Blue"}


def test_status_follows_the_newest_event_whatever_the_arrival_order(deliver, erp):
    apply(deliver, student_event("A1", event=REGISTERED, seconds_ago=300))
    activated = apply(deliver, student_event("A1", event=ACTIVATED, seconds_ago=60))

    apply(deliver, student_event("A1", event=DROPPED, seconds_ago=120), expected="skipped")

    student = erp.student("A1")
    assert student["status"] == "active"
    assert student["jodo_updated_at"] == activated.occurred_at


# --- notes --------------------------------------------------------------------------------------


@pytest.fixture
def send_notes(deliver):
    """Deliver an event for student A1 (Jodo id J-1) carrying `pairs` as its notes; each
    event is newer than the one before."""
    seconds_ago = iter(range(600, 0, -1))

    def _send(*pairs):
        apply(deliver, student_event("A1", seconds_ago=next(seconds_ago), notes=notes(*pairs)))

    return _send


def test_notes_are_created_and_their_values_updated(erp, send_notes):
    send_notes(("registration_number", "REG1"), ("house", "Blue"))
    send_notes(("registration_number", "REG2"), ("house", "Blue"))

    assert erp.notes("A1") == {"registration_number": "REG2", "house": "Blue"}
    assert erp.jodo_notes("A1") == erp.notes("A1")


def test_jodo_notes_absent_from_the_event_are_deleted(erp, send_notes):
    send_notes(("registration_number", "REG1"), ("house", "Blue"), ("bus", "7"))

    send_notes(("house", "Red"))

    assert erp.notes("A1") == {"house": "Red"}


def test_an_empty_notes_list_deletes_jodos_notes(erp, send_notes):
    send_notes(("registration_number", "REG1"), ("house", "Blue"))

    send_notes()

    assert erp.notes("A1") == {}


def test_an_event_without_a_notes_field_leaves_notes_alone(deliver, erp, send_notes):
    send_notes(("registration_number", "REG1"), ("house", "Blue"))
    body = student_event("A1", seconds_ago=0, primary_contact_email="new@example.com")
    del body["payload"]["student"]["notes"]

    apply(deliver, body)

    assert erp.student("A1")["primary_contact_email"] == "new@example.com"
    assert erp.notes("A1") == {"registration_number": "REG1", "house": "Blue"}


def test_a_key_repeated_in_one_event_keeps_its_last_value(erp, send_notes):
    send_notes(("house", "Green"))

    send_notes(("house", "Blue"), ("bus", "7"), ("house", "Red"))

    assert erp.notes("A1") == {"house": "Red", "bus": "7"}


def test_other_students_notes_are_untouched(erp, send_notes):
    erp.create_student("A2", jodo_student_id="J-2")
    erp.add_jodo_note("A2", "house", "Green")

    send_notes(("house", "Blue"))
    send_notes()

    assert erp.notes("A2") == {"house": "Green"}


# --- a bounded number of statements, whatever the number of notes ------------------------------


def statements_for(deliver, body):
    """Every statement one delivery runs, savepoints included, as in production (autocommit)."""
    with CaptureQueriesContext(connection) as captured:
        response = deliver(body)
    assert response.status_code == 200, response.content
    event = InboundEvent.objects.get(event_id=body["event_id"])
    assert event.status == "processed", event.last_error
    return [query["sql"] for query in captured.captured_queries]


@pytest.mark.django_db(transaction=True)
def test_a_new_student_takes_as_many_statements_for_1_note_as_for_50(deliver, erp):
    one = statements_for(deliver, student_event("A1", jodo_student_id="J-1", notes=[NoteFactory()]))
    fifty = statements_for(
        deliver, student_event("A2", jodo_student_id="J-2", notes=NoteFactory.build_batch(50))
    )

    message = f"1 note: {len(one)}, 50 notes: {len(fifty)} statements\n" + "\n".join(fifty)
    assert len(one) == len(fifty), message
    assert len(fifty) <= 10, message
    assert len(erp.notes("A2")) == 50


@pytest.mark.django_db(transaction=True)
def test_an_update_takes_as_many_statements_for_1_note_as_for_50(deliver, erp):
    def update_with(n_notes, identifier, jodo_student_id):
        apply(
            deliver,
            student_event(
                identifier,
                seconds_ago=60,
                jodo_student_id=jodo_student_id,
                notes=NoteFactory.build_batch(n_notes),
            ),
        )
        # New keys: n_notes upserted, n_notes deleted.
        return statements_for(
            deliver,
            student_event(
                identifier,
                seconds_ago=30,
                jodo_student_id=jodo_student_id,
                notes=NoteFactory.build_batch(n_notes),
            ),
        )

    one, fifty = update_with(1, "A1", "J-1"), update_with(50, "A2", "J-2")

    message = f"1 note: {len(one)}, 50 notes: {len(fifty)} statements\n" + "\n".join(fifty)
    assert len(one) == len(fifty), message
    assert len(fifty) <= 10, message
    assert len(erp.notes("A2")) == 50


# --- versions -----------------------------------------------------------------------------------


@pytest.mark.parametrize("version", ["1", "1.0", "1.12.3"])
def test_every_1x_version_is_applied(deliver, erp, version):
    apply(deliver, student_event("A1", version=version))

    assert erp.count() == 1


def test_version_2_fails_the_event_and_changes_nothing(deliver, erp):
    event = apply(deliver, student_event("A1", version="2.0"), expected="failed")

    assert event.last_error.startswith("UnsupportedVersion: "), event.last_error
    assert erp.count() == 0


# --- the race to create a new student -----------------------------------------------------------


@requires_server_database
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("n_events", [2, 8])
def test_simultaneous_events_for_a_new_student_create_it_once(erp, n_events):
    # Different events about one new student, from oldest to newest.
    bodies = [
        student_event(
            "RACE-1",
            seconds_ago=n_events - i,
            jodo_student_id="J-RACE",
            custom_identifier="CUST-RACE",
            primary_contact_email=f"parent{i}@example.com",
            notes=notes(("version", str(i))),
        )
        for i in range(n_events)
    ]

    responses = run_concurrently([partial(signed_post, body=body) for body in bodies])

    assert [r.status_code for r in responses] == [200] * n_events, [r.content for r in responses]
    events = list(InboundEvent.objects.order_by("occurred_at"))
    outcomes = [(event.status, event.last_error) for event in events]
    assert len(events) == n_events
    assert all(status in ("processed", "skipped") for status, _ in outcomes), outcomes
    assert events[-1].status == "processed", outcomes
    assert erp.count() == 1
    student = erp.student("RACE-1")
    assert (student["custom_identifier"], student["jodo_student_id"]) == ("CUST-RACE", "J-RACE")
    assert student["primary_contact_email"] == f"parent{n_events - 1}@example.com"
    assert student["jodo_updated_at"] == events[-1].occurred_at
    assert erp.notes("RACE-1") == {"version": str(n_events - 1)}


# --- the mapping itself: the E007 system check --------------------------------------------------


def e007_messages():
    return [message.msg for message in run_checks() if message.id == "jodo_webhooks.E007"]


def test_system_check_accepts_both_mappings_and_reports_a_broken_one(settings):
    assert STUDENT_SYNC.problems() == []
    assert PUPIL_SYNC.problems() == []
    for erp in ERPS.values():
        use_erp(settings, erp.name)
        assert e007_messages() == [], erp.name

    broken = dataclasses.replace(
        PUPIL_SYNC,
        identifier="class_code",  # not unique
        jodo_student_id="admission_no",  # unique, but NOT NULL: absent ids would collide
        # PupilTag is unique on (pupil, label), not on (pupil, text).
        notes=Notes("pupils.PupilTag", student="pupil", key="text", value="label"),
    )
    settings.JODO_WEBHOOKS = {**settings.JODO_WEBHOOKS, "STUDENT_SYNC": broken}

    assert e007_messages() == [
        "JODO_WEBHOOKS STUDENT_SYNC: Pupil.class_code must be unique.",
        "JODO_WEBHOOKS STUDENT_SYNC: Pupil.admission_no must be null=True: absent ids are NULL.",
        "JODO_WEBHOOKS STUDENT_SYNC: PupilTag needs a unique constraint on (pupil, text).",
    ]


# --- the reference ERP only: notes the ERP owns (source `erp`) ----------------------------------


def test_erp_notes_are_untouched(students_erp, send_notes):
    students_erp.create_student("A1", jodo_student_id="J-1")
    erp_note = students_erp.add_erp_note("A1", "allergies", "peanuts")

    send_notes(("registration_number", "REG1"))
    send_notes(("house", "Blue"))
    send_notes()

    assert students_erp.notes("A1") == {"allergies": "peanuts"}
    erp_note_after = type(erp_note).objects.get()
    assert (erp_note_after.pk, erp_note_after.source, erp_note_after.updated_at) == (
        erp_note.pk,
        "erp",
        erp_note.updated_at,
    )


def test_an_erp_notes_key_that_jodo_starts_sending_takes_jodos_value_and_becomes_jodos(
    students_erp, send_notes
):
    students_erp.create_student("A1", jodo_student_id="J-1")
    erp_note = students_erp.add_erp_note("A1", "registration_number", "ERP-REG")

    send_notes(("registration_number", "REG9"))

    assert students_erp.jodo_notes("A1") == {"registration_number": "REG9"}
    assert type(erp_note).objects.get().pk == erp_note.pk
    # From now on it is Jodo's: an event without it deletes it.
    send_notes(("house", "Blue"))
    assert students_erp.notes("A1") == {"house": "Blue"}


# --- the pupils ERP only: every tag is Jodo's, a NOT NULL branch, a before_save hook ------------


def test_a_tag_absent_from_the_event_is_deleted_whoever_added_it(pupils_erp, send_notes):
    pupils_erp.create_student("A1", jodo_student_id="J-1")
    PupilTag.objects.create(pupil=Pupil.objects.get(), label="allergies", text="peanuts")

    send_notes(("house", "Blue"))

    assert pupils_erp.notes("A1") == {"house": "Blue"}


def test_jodos_null_collector_code_is_an_empty_branch(deliver, pupils_erp):
    assert not Pupil._meta.get_field("branch").null

    apply(deliver, student_event("A1", collector_code=None))

    assert Pupil.objects.get().branch == ""


def test_the_before_save_hook_sets_what_the_mapping_cannot(deliver, pupils_erp):
    apply(deliver, student_event("A1", grade={"code": "G5", "name": "Grade 5"}))

    assert Pupil.objects.get().display_name == "A1 (Grade 5)"


def test_the_reference_erp_is_left_alone_when_the_pupils_mapping_is_configured(deliver, pupils_erp):
    apply(deliver, student_event("A1"))

    assert pupils_erp.count() == 1
    assert not Student.objects.exists()


# --- the ERP's managers, and the sync outside process_event -------------------------------------


def test_a_filtering_default_manager_does_not_hide_students_from_the_sync(deliver, pupils_erp):
    # `Pupil.objects`, the default manager, lists enrolled pupils only (as a soft-delete or
    # "current students" manager does). The sync must still find a dropped pupil, not insert a
    # second row for it (which would fail on the unique key forever after).
    apply(deliver, student_event("P1", seconds_ago=300))
    apply(deliver, student_event("P1", seconds_ago=200, event=DROPPED))
    assert not Pupil.objects.filter(admission_no="P1").exists()  # hidden from `objects`

    again = apply(deliver, student_event("P1", seconds_ago=100, event=ACTIVATED))

    assert again.status == "processed"
    assert [p.enrolled for p in Pupil.every_pupil.filter(admission_no="P1")] == [True]


@pytest.mark.django_db(transaction=True)
def test_student_sync_apply_works_outside_process_event():
    # Public API: called on its own (a script, a shell), its locked lookup needs a transaction.
    body = EnvelopeFactory()
    event = InboundEventFactory(event_type=body["event"], payload=body["payload"])
    STUDENT_SYNC.apply(event)
    assert Student.objects.get().identifier == body["payload"]["student"]["identifier"]
