"""Applying Jodo's student master-data events to the ERP's Student and StudentNote rows."""

from __future__ import annotations

from django.db import connection
from django.db.models.constants import OnConflict
from django.utils import timezone

from jodo_webhooks.models import InboundEvent
from jodo_webhooks.processing import SkipEvent
from jodo_webhooks.serializers import STUDENT_EVENT_TYPES, StudentData, parse_student_event

from .models import Student, StudentNote

STATUS_BY_EVENT = {
    "masterdata.student.registered": Student.Status.ACTIVE,
    "masterdata.student.activated": Student.Status.ACTIVE,
    "masterdata.student.dropped": Student.Status.DROPPED,
}


class StudentConflict(Exception):
    """The event's ids point at records that cannot be reconciled; nothing is changed."""


def apply_student_event(event: InboundEvent) -> Student | None:
    """Apply a student master-data event; None for other event types."""
    if event.event_type not in STUDENT_EVENT_TYPES:
        return None
    data = parse_student_event(event)
    student = _find_student(data)
    created = student is None
    if student is None:
        # Losing a race to create this student raises IntegrityError, and `process_event`
        # runs the event again: the winner has committed by then, so the lookup finds it.
        student = Student()
    else:
        _check_not_stale(student, data)
    _assign_profile(student, data)
    student.save()
    if data.notes is not None:
        _replace_jodo_notes(student, data.notes, created=created)
    return student


def _check_not_stale(student: Student, data: StudentData) -> None:
    if student.jodo_updated_at and data.occurred_at < student.jodo_updated_at:
        raise SkipEvent(
            f"stale: event from {data.occurred_at.isoformat()} is older than the last one "
            f"applied to student {student.identifier} ({student.jodo_updated_at.isoformat()})"
        )


def _assign_profile(student: Student, data: StudentData) -> None:
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


# The database says which id matched which row, so its collation decides equality (MariaDB's
# default one ignores case) exactly as its unique indexes do. An absent id is passed as NULL,
# which matches nothing. Fixed SQL, because compiling the ORM's equivalent for every event cost
# more CPU than running it (docs/benchmarks.md).
FIND_STUDENT_SQL = (
    "SELECT s.*, s.jodo_student_id = %s AS by_jodo_id, s.identifier = %s AS by_identifier,"
    " s.custom_identifier = %s AS by_custom FROM {table} s"
    " WHERE s.jodo_student_id = %s OR s.identifier = %s OR s.custom_identifier = %s"
    " ORDER BY s.id {lock}"
)


def _find_student(data: StudentData) -> Student | None:
    """The one student the event's ids point at, locked; None if there is none."""
    ids = [data.jodo_student_id or None, data.identifier, data.custom_identifier or None]
    sql = FIND_STUDENT_SQL.format(
        table=connection.ops.quote_name(Student._meta.db_table),
        lock=connection.ops.for_update_sql() if connection.features.has_select_for_update else "",
    )
    candidates = list(Student.objects.raw(sql, [*ids, *ids]))

    def first(flag: str) -> Student | None:
        return next((s for s in candidates if getattr(s, flag)), None)

    by_jodo_id = first("by_jodo_id")
    by_identifier = first("by_identifier")
    by_custom = first("by_custom")
    student = by_jodo_id or by_identifier or by_custom
    if student is None:
        return None

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
    return student


def _replace_jodo_notes(student: Student, notes: dict[str, str], *, created: bool) -> None:
    """Make the student's Jodo-sourced notes exactly `notes`; ERP notes with other keys stay.

    A constant number of queries whatever the number of notes.
    """
    if not created:
        StudentNote.objects.filter(student=student, source=StudentNote.Source.JODO).exclude(
            key__in=list(notes)
        ).delete()
    if notes:
        _upsert_jodo_notes(student, notes)


# One multi-row upsert in fixed SQL, which the ORM's bulk_create would compile for every event.
# A key the student already has takes Jodo's value and becomes Jodo-sourced. Even a new
# student can have one: an ERP hook on Student.save may add notes, and MariaDB's default
# collation makes "Email" and "email" the same key.
UPSERT_NOTES_SQL = "INSERT INTO {table} ({columns}) VALUES {rows} {on_conflict}"


def _upsert_jodo_notes(student: Student, notes: dict[str, str]) -> None:
    ops = connection.ops
    fields = [
        StudentNote._meta.get_field(name)
        for name in ("student", "key", "value", "source", "updated_at")
    ]
    now = ops.adapt_datetimefield_value(timezone.now())
    jodo = StudentNote.Source.JODO.value
    rows = [(student.pk, key, value, jodo, now) for key, value in notes.items()]
    on_conflict = ops.on_conflict_suffix_sql(
        fields, OnConflict.UPDATE, ["value", "source", "updated_at"], ["student_id", "key"]
    )
    table = ops.quote_name(StudentNote._meta.db_table)
    columns = ", ".join(ops.quote_name(field.column) for field in fields)
    batch_size = ops.bulk_batch_size(fields, rows) or 1  # SQLite caps its parameters
    with connection.cursor() as cursor:
        for start in range(0, len(rows), batch_size):
            batch = rows[start : start + batch_size]
            placeholders = ", ".join(["(%s, %s, %s, %s, %s)"] * len(batch))
            sql = UPSERT_NOTES_SQL.format(
                table=table, columns=columns, rows=placeholders, on_conflict=on_conflict
            )
            cursor.execute(sql, [value for row in batch for value in row])
