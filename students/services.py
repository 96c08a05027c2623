"""Applying Jodo's student master-data events to the ERP's Student and StudentNote rows."""

from __future__ import annotations

from django.db import IntegrityError, connection, transaction
from django.db.models import Q

from jodo_webhooks.models import InboundEvent
from jodo_webhooks.processing import SkipEvent
from jodo_webhooks.serializers import STUDENT_EVENT_TYPES, StudentData, parse_student_event

from .models import Student, StudentNote

STATUS_BY_EVENT = {
    "masterdata.student.registered": Student.Status.ACTIVE,
    "masterdata.student.activated": Student.Status.ACTIVE,
    "masterdata.student.dropped": Student.Status.DROPPED,
}
# A lost race for a brand-new student's unique ids is settled by looking again; one retry
# suffices (the winner is committed by then), the third attempt only guards against bad luck.
MAX_ATTEMPTS = 3


class StudentConflict(Exception):
    """The event's ids point at records that cannot be reconciled; nothing is changed."""


def apply_student_event(event: InboundEvent) -> Student | None:
    """Apply a student master-data event; None for other event types."""
    if event.event_type not in STUDENT_EVENT_TYPES:
        return None
    data = parse_student_event(event)
    for attempt in range(1, MAX_ATTEMPTS + 1):
        try:
            with transaction.atomic():
                return _apply(data)
        except IntegrityError:
            if attempt == MAX_ATTEMPTS:
                raise
    raise AssertionError("unreachable")


def _apply(data: StudentData) -> Student:
    student, created = _find_student(data)
    if not created and student.jodo_updated_at and data.occurred_at < student.jodo_updated_at:
        raise SkipEvent(
            f"stale: event from {data.occurred_at.isoformat()} is older than the last one "
            f"applied to student {student.identifier} ({student.jodo_updated_at.isoformat()})"
        )
    student.jodo_student_id = data.jodo_student_id or student.jodo_student_id
    student.identifier = data.identifier
    student.custom_identifier = data.custom_identifier
    student.collector_code = data.collector_code
    student.grade_code = data.grade_code
    student.grade_name = data.grade_name
    student.academic_year_start = data.academic_year_start
    student.academic_year_end = data.academic_year_end
    student.primary_contact_number = data.primary_contact_number
    student.primary_contact_email = data.primary_contact_email
    student.status = STATUS_BY_EVENT[data.event_type]
    student.jodo_updated_at = data.occurred_at
    student.save()
    _replace_jodo_notes(student, data.notes, created=created)
    return student


def _find_student(data: StudentData) -> tuple[Student, bool]:
    """The one student the event's ids point at (locked), or a new unsaved one."""
    lookup = Q(identifier=data.identifier)
    if data.jodo_student_id:
        lookup |= Q(jodo_student_id=data.jodo_student_id)
    if data.custom_identifier:
        lookup |= Q(custom_identifier=data.custom_identifier)
    candidates = list(Student.objects.select_for_update().filter(lookup))

    def matching(field: str, value: str | None) -> Student | None:
        return next((s for s in candidates if value and getattr(s, field) == value), None)

    by_jodo_id = matching("jodo_student_id", data.jodo_student_id)
    by_identifier = matching("identifier", data.identifier)
    by_custom = matching("custom_identifier", data.custom_identifier)
    student = by_jodo_id or by_identifier or by_custom
    if student is None:
        return Student(), True

    for field, other in (("identifier", by_identifier), ("custom_identifier", by_custom)):
        if other is not None and other.pk != student.pk:
            raise StudentConflict(
                f"{field} {getattr(data, field)!r} belongs to student {other.pk} "
                f"({other.identifier}), but the event's other ids point at student "
                f"{student.pk} ({student.identifier}); nothing was changed."
            )
    if data.jodo_student_id and student.jodo_student_id not in (None, data.jodo_student_id):
        raise StudentConflict(
            f"student {student.pk} ({student.identifier}) already has jodo_student_id "
            f"{student.jodo_student_id!r}, but the event says {data.jodo_student_id!r}; "
            "nothing was changed."
        )
    return student, False


def _replace_jodo_notes(student: Student, notes: dict[str, str], *, created: bool) -> None:
    """Make the student's Jodo-sourced notes exactly `notes`; ERP notes with other keys stay.

    A constant number of queries whatever the number of notes.
    """
    if not created:
        StudentNote.objects.filter(student=student, source=StudentNote.Source.JODO).exclude(
            key__in=list(notes)
        ).delete()
    if not notes:
        return
    upsert_target = (
        {"unique_fields": ["student", "key"]}
        if connection.features.supports_update_conflicts_with_target
        else {}
    )
    StudentNote.objects.bulk_create(
        [
            StudentNote(student=student, key=key, value=value, source=StudentNote.Source.JODO)
            for key, value in notes.items()
        ],
        update_conflicts=True,
        update_fields=["value", "source", "updated_at"],
        **upsert_target,
    )
