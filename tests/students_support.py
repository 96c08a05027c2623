"""Helpers shared by the reference ERP's tests: its factories, delivering an event, and reading
back the outcome."""

from __future__ import annotations

from typing import Any

import factory
from django.forms.models import model_to_dict

from students.models import Student, StudentNote

from .helpers import deliver_event, timestamp

__all__ = [
    "StudentFactory",
    "StudentNoteFactory",
    "database_state",
    "deliver_event",
    "notes_of",
    "timestamp",
]


def notes_of(student: Student) -> dict[str, tuple[str, str]]:
    """The student's notes as {key: (value, source)}."""
    return {note.key: (note.value, note.source) for note in student.notes.all()}


def database_state() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Every Student and StudentNote row, to show that an event changed nothing."""
    students = [model_to_dict(s) | {"updated_at": s.updated_at} for s in Student.objects.all()]
    notes = [
        model_to_dict(n) | {"updated_at": n.updated_at}
        for n in StudentNote.objects.order_by("student_id", "key")
    ]
    return students, notes


class StudentFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Student

    identifier = factory.Sequence(lambda n: f"ERP{n:05d}")
    custom_identifier = None
    jodo_student_id = None
    grade_code = "M1BLUE"
    grade_name = "Montessori 1"
    academic_year_start = 2026
    academic_year_end = 2027


class StudentNoteFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = StudentNote

    student = factory.SubFactory(StudentFactory)
    key = factory.Sequence(lambda n: f"erp_note_{n}")
    value = "kept by the ERP"
    source = StudentNote.Source.ERP
