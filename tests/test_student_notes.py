"""A student's Jodo-sourced notes follow the latest applied event; ERP notes are left alone."""

from __future__ import annotations

import pytest
from django.db.models.signals import post_save

from students.models import Student, StudentNote

from .factories import EnvelopeFactory
from .students_support import StudentFactory, StudentNoteFactory, deliver_event, notes_of, timestamp

pytestmark = pytest.mark.django_db

JODO, ERP = StudentNote.Source.JODO, StudentNote.Source.ERP


@pytest.fixture
def send_notes(deliver):
    """Deliver a registered event for student ERP-1 (Jodo id J-1) carrying `notes`."""
    seconds_ago = iter(range(600, 0, -1))  # each event newer than the previous one

    def _send(*notes: tuple[str, str]) -> Student:
        body = EnvelopeFactory(
            timestamp=timestamp(next(seconds_ago)),
            payload__jodo_student_id="J-1",
            payload__student__identifier="ERP-1",
            payload__student__notes=[{"key": key, "value": value} for key, value in notes],
        )
        event = deliver_event(deliver, body)
        assert event.status == "processed", event.last_error
        return Student.objects.get(identifier="ERP-1")

    return _send


def test_notes_are_created_with_source_jodo(send_notes):
    student = send_notes(("registration_number", "REG1"), ("house", "Blue"))

    assert notes_of(student) == {"registration_number": ("REG1", JODO), "house": ("Blue", JODO)}


def test_note_value_is_updated(send_notes):
    send_notes(("registration_number", "REG1"), ("house", "Blue"))

    student = send_notes(("registration_number", "REG2"), ("house", "Blue"))

    assert notes_of(student) == {"registration_number": ("REG2", JODO), "house": ("Blue", JODO)}
    assert StudentNote.objects.count() == 2


def test_jodo_notes_absent_from_the_event_are_deleted(send_notes):
    send_notes(("registration_number", "REG1"), ("house", "Blue"), ("bus", "7"))

    student = send_notes(("house", "Red"))

    assert notes_of(student) == {"house": ("Red", JODO)}


def test_erp_notes_are_untouched(send_notes):
    student = StudentFactory(identifier="ERP-1", jodo_student_id="J-1")
    erp_note = StudentNoteFactory(student=student, key="allergies", value="peanuts")

    send_notes(("registration_number", "REG1"))
    student = send_notes(("house", "Blue"))

    assert notes_of(student) == {"allergies": ("peanuts", ERP), "house": ("Blue", JODO)}
    kept = StudentNote.objects.get(pk=erp_note.pk)
    assert kept.updated_at == erp_note.updated_at


def test_erp_note_whose_key_jodo_starts_sending_becomes_jodos(send_notes):
    student = StudentFactory(identifier="ERP-1", jodo_student_id="J-1")
    erp_note = StudentNoteFactory(student=student, key="registration_number", value="ERP-REG")

    student = send_notes(("registration_number", "REG9"))

    assert notes_of(student) == {"registration_number": ("REG9", JODO)}
    assert StudentNote.objects.get().pk == erp_note.pk
    # From now on Jodo owns it: an event without it removes it.
    assert notes_of(send_notes(("house", "Blue"))) == {"house": ("Blue", JODO)}


def test_repeated_key_in_one_event_keeps_the_last_value(send_notes):
    student = send_notes(("house", "Blue"), ("bus", "7"), ("house", "Red"))

    assert notes_of(student) == {"house": ("Red", JODO), "bus": ("7", JODO)}


def test_repeated_key_updating_an_existing_note_keeps_the_last_value(send_notes):
    send_notes(("house", "Green"))

    student = send_notes(("house", "Blue"), ("house", "Red"))

    assert notes_of(student) == {"house": ("Red", JODO)}


def test_empty_notes_remove_jodo_notes_and_keep_erp_notes(send_notes):
    student = StudentFactory(identifier="ERP-1", jodo_student_id="J-1")
    StudentNoteFactory(student=student, key="allergies", value="peanuts")
    send_notes(("registration_number", "REG1"), ("house", "Blue"))

    student = send_notes()

    assert notes_of(student) == {"allergies": ("peanuts", ERP)}


def test_other_students_notes_are_untouched(send_notes):
    other = StudentFactory(identifier="ERP-2", jodo_student_id="J-2")
    StudentNoteFactory(student=other, key="house", value="Green", source=JODO)
    StudentNoteFactory(student=other, key="allergies", value="none")

    send_notes(("house", "Blue"))
    send_notes()

    assert notes_of(other) == {"house": ("Green", JODO), "allergies": ("none", ERP)}


@pytest.fixture
def erp_adds_a_house_note_to_new_students():
    """An ERP hook of the kind the upsert must survive: a note added when a student is created."""

    def add_note(sender, instance, created, **kwargs):
        if created:
            StudentNote.objects.create(student=instance, key="house", value="-", source=ERP)

    post_save.connect(add_note, sender=Student, weak=False)
    yield
    post_save.disconnect(add_note, sender=Student)


@pytest.mark.usefixtures("erp_adds_a_house_note_to_new_students")
def test_a_note_an_erp_hook_added_to_a_new_student_takes_jodos_value(send_notes):
    student = send_notes(("house", "Blue"), ("bus", "7"))

    assert notes_of(student) == {"house": ("Blue", JODO), "bus": ("7", JODO)}


def test_keys_differing_only_in_case_are_applied_on_every_database(send_notes):
    # MariaDB's default collation makes them one key (the last value wins); elsewhere two.
    student = send_notes(("House", "Blue"), ("house", "Red"))

    notes = notes_of(student)
    assert {value for value, _ in notes.values()} <= {"Blue", "Red"}
    assert "Red" in {value for value, _ in notes.values()}
    assert {source for _, source in notes.values()} == {JODO}


def test_stale_event_leaves_notes_alone(deliver, send_notes):
    send_notes(("house", "Blue"))
    stale = EnvelopeFactory(
        timestamp=timestamp(3600),
        payload__jodo_student_id="J-1",
        payload__student__identifier="ERP-1",
        payload__student__notes=[{"key": "house", "value": "Red"}],
    )

    assert deliver_event(deliver, stale).status == "skipped"

    assert notes_of(Student.objects.get()) == {"house": ("Blue", JODO)}
