"""Applying Jodo's student master-data events to an ERP's own student (and notes) models.

The ERP declares how its models hold Jodo's student, and names the declaration in settings:

    # school/jodo.py
    STUDENT_SYNC = StudentSync(
        model="school.Pupil",
        jodo_student_id="jodo_ref",
        identifier="admission_no",
        jodo_updated_at="jodo_synced_at",
        status=StudentStatus("enrolled", active=True, dropped=False),
        fields={"grade_code": "class_code", "academic_year_start": "session_from"},
        notes=Notes("school.PupilTag", student="pupil", key="label", value="text"),
    )

    # settings.py
    JODO_WEBHOOKS = {..., "STUDENT_SYNC": "school.jodo.STUDENT_SYNC"}

Every rule of the sync (matching, conflicts, staleness, notes) lives here, once. A race to
create a new student is settled by the database's unique key: the loser's IntegrityError
rolls its attempt back, and `process_event` (processing.py) runs the event again.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping
from contextlib import nullcontext
from dataclasses import dataclass, field
from functools import cached_property, reduce
from typing import TYPE_CHECKING, Any

from django.apps import apps
from django.core.exceptions import FieldDoesNotExist
from django.db import connections, models, router, transaction
from django.db.models import Q

from .conf import app_settings, configured_object
from .event_types import STUDENT_ACTIVATED, STUDENT_DROPPED, STUDENT_REGISTERED
from .exceptions import RecordRefs, SkipEvent, StudentConflict
from .student_payload import StudentData, parse_student_event

if TYPE_CHECKING:
    from .models import InboundEvent

# The StudentData attributes that `StudentSync.fields` may map to model fields.
PROFILE_FIELDS = (
    "collector_code",
    "grade_code",
    "grade_name",
    "academic_year_start",
    "academic_year_end",
    "primary_contact_number",
    "primary_contact_email",
)

ModelRef = str | type[models.Model]


def _model(ref: ModelRef) -> type[models.Model]:
    return apps.get_model(ref) if isinstance(ref, str) else ref


@dataclass(frozen=True)
class StudentStatus:
    """The model field that holds the student's status, and its value for each Jodo state.

    `registered` and `activated` make a student active; `dropped` makes it dropped.
    """

    field: str
    active: Any
    dropped: Any

    def value_for(self, event_type: str) -> Any:
        return {
            STUDENT_REGISTERED: self.active,
            STUDENT_ACTIVATED: self.active,
            STUDENT_DROPPED: self.dropped,
        }[event_type]


@dataclass(frozen=True)
class Notes:
    """The model that holds a student's notes: one row per (student, key), unique together.

    `source` names a field that tells Jodo's rows (value `jodo`) from the ERP's own; without
    it, every note of a student is Jodo's.
    """

    model: ModelRef
    student: str  # the foreign key to the student model
    key: str
    value: str
    source: str | None = None
    jodo: Any = "jodo"

    @cached_property
    def model_class(self) -> type[models.Model]:
        return _model(self.model)

    def problems(self, student_model: type[models.Model]) -> list[str]:
        model = self.model_class
        named = [self.student, self.key, self.value, self.source]
        problems = [
            f"{model.__name__} has no field {name!r}."
            for name in named
            if name and not _has_field(model, name)
        ]
        if problems:
            return problems
        return _row_per_key_problems(model, self.student, student_model, "student", self.key)


def _row_per_key_problems(
    model: type[models.Model],
    owner_field: str,
    owner_model: type[models.Model],
    owner: str,
    key: str,
) -> list[str]:
    """What stops `model` holding one row per (owner, key): `owner_field` must be a foreign key
    to `owner_model`, and the two fields unique together."""
    problems = []
    if model._meta.get_field(owner_field).related_model is not owner_model:
        problems.append(f"{model.__name__}.{owner_field} is not a foreign key to the {owner}.")
    if not _unique_together(model, {owner_field, key}):
        problems.append(f"{model.__name__} needs a unique constraint on ({owner_field}, {key}).")
    return problems


def _has_field(model: type[models.Model], name: str) -> bool:
    try:
        model._meta.get_field(name)
    except FieldDoesNotExist:
        return False
    return True


def _unique_together(model: type[models.Model], names: set[str]) -> bool:
    """Whether the database guarantees these fields' values are unique together."""
    opts = model._meta
    if len(names) == 1 and getattr(opts.get_field(next(iter(names))), "unique", False):
        return True
    unique_sets = [set(fields) for fields in opts.unique_together]
    unique_sets += [set(constraint.fields) for constraint in opts.total_unique_constraints]
    return names in unique_sets


@dataclass(frozen=True)
class StudentSync:
    """How an ERP's student model holds Jodo's student master data.

    Field arguments name model fields. `fields` maps the StudentData attributes in
    PROFILE_FIELDS to model fields; attributes left out are not stored. `before_save(student,
    data)` may set what the mapping cannot express; it runs just before the student is saved.
    """

    model: ModelRef
    jodo_student_id: str
    identifier: str
    jodo_updated_at: str
    custom_identifier: str | None = None
    status: StudentStatus | None = None
    fields: Mapping[str, str] = field(default_factory=dict)
    notes: Notes | None = None
    before_save: Callable[[Any, StudentData], None] | None = None

    @cached_property
    def model_class(self) -> type[models.Model]:
        return _model(self.model)

    @property
    def jodo_owned_fields(self) -> list[str]:
        """The student model's fields that every event overwrites: read-only for people."""
        owned = [self.jodo_student_id, self.identifier, self.custom_identifier]
        owned += [*self.fields.values(), self.status.field if self.status else None]
        return [name for name in [*owned, self.jodo_updated_at] if name]

    def problems(self) -> list[str]:
        """What keeps this mapping from working with its models (the E007 system check)."""
        model = self.model_class
        problems = [
            f"{name!r} is not a profile field; use one of {', '.join(PROFILE_FIELDS)}."
            for name in self.fields
            if name not in PROFILE_FIELDS
        ]
        named: list[str | None] = [self.jodo_student_id, self.identifier, self.jodo_updated_at]
        named += [self.custom_identifier, self.status.field if self.status else None]
        for name in [*named, *self.fields.values()]:
            if name and not _has_field(model, name):
                problems.append(f"{model.__name__} has no field {name!r}.")
        for name in (self.jodo_student_id, self.identifier, self.custom_identifier):
            if name and _has_field(model, name) and not _unique_together(model, {name}):
                problems.append(f"{model.__name__}.{name} must be unique.")
        for name in (self.jodo_student_id, self.custom_identifier):
            if name and _has_field(model, name) and not model._meta.get_field(name).null:
                problems.append(f"{model.__name__}.{name} must be null=True: absent ids are NULL.")
        if self.notes is not None:
            problems += self.notes.problems(model)
        return problems

    def apply(self, event: InboundEvent) -> Any:
        """Apply a student master-data event to the ERP's student; returns the student.

        Raises SkipEvent for a stale event, StudentConflict when the event's ids point at
        records that cannot be reconciled, and InvalidPayload / UnsupportedVersion for a
        payload this app cannot read. A unique-key race to create a new student raises
        IntegrityError, after which `process_event` runs the event again.
        """
        data = parse_student_event(event)
        db = router.db_for_write(self.model_class)
        # Inside process_event's transaction nothing more is needed (no savepoint: statement
        # count); called on its own, or with the student on another alias, a transaction of its own.
        in_transaction = not transaction.get_autocommit(using=db)
        with nullcontext() if in_transaction else transaction.atomic(using=db):
            student = self._find(db, data)
            created = student is None
            if student is None:
                student = self.model_class()
            self._assign(student, data)
            if self.before_save is not None:
                self.before_save(student, data)
            student.save(using=db)
            if self.notes is not None and data.notes is not None:
                self._replace_jodo_notes(db, student, data.notes, created=created)
        return student

    def _find(self, db: str, data: StudentData) -> Any:
        """The one student the event's ids point at, locked; None if there is none.

        Ids compare exactly, on every database. A row that the column's collation finds equal
        to an id but not identical (MariaDB's default collation ignores case) is a conflict:
        updating it would change an id behind the ERP's back, and inserting beside it would
        break its unique index. `jodo_webhooks.ExactCharField` avoids that for the id columns.
        """
        ids = {
            "jodo_student_id": (self.jodo_student_id, data.jodo_student_id),
            "identifier": (self.identifier, data.identifier),
            "custom_identifier": (self.custom_identifier, data.custom_identifier),
        }
        present = {
            jodo_name: (model_field, value)
            for jodo_name, (model_field, value) in ids.items()
            if model_field and value
        }
        candidates = list(
            self.model_class._base_manager.db_manager(db)
            .filter(reduce(operator.or_, (Q(**{f: v}) for f, v in present.values())))
            .order_by("pk")
            .select_for_update()
        )

        def first(jodo_name: str) -> Any:
            if jodo_name not in present:
                return None
            model_field, value = present[jodo_name]
            return next((s for s in candidates if getattr(s, model_field) == value), None)

        by_jodo_id, by_identifier, by_custom = (first(name) for name in ids)
        for candidate in candidates:
            if candidate not in (by_jodo_id, by_identifier, by_custom):
                event_ids = ", ".join(repr(value) for _, value in present.values())
                raise StudentConflict(
                    f"student {self._describe(candidate)} holds an id that the database's "
                    f"collation treats as equal to one of the event's ({event_ids}) but that "
                    "is not identical; ids compare exactly, so nothing was changed.",
                    records=self._records(candidate),
                )
        student = by_jodo_id or by_identifier or by_custom
        if student is None:
            return None
        # A late event about this very Jodo student is stale whatever its other ids point at now
        # (another student may have taken its old identifier since): skipped, not a conflict.
        if by_jodo_id is not None:
            self._check_not_stale(student, data)
        for jodo_name, other in (("identifier", by_identifier), ("custom_identifier", by_custom)):
            if other is not None and other.pk != student.pk:
                raise StudentConflict(
                    f"{jodo_name} {getattr(data, jodo_name)!r} belongs to student "
                    f"{self._describe(other)}, but the event's other ids point at student "
                    f"{self._describe(student)}; nothing was changed.",
                    records=self._records(other, student),
                )
        current = getattr(student, self.jodo_student_id)
        if data.jodo_student_id and by_jodo_id is None and current not in (None, ""):
            raise StudentConflict(
                f"student {self._describe(student)} already has jodo_student_id {current!r}, "
                f"but the event says {data.jodo_student_id!r}; nothing was changed.",
                records=self._records(student),
            )
        self._check_not_stale(student, data)
        return student

    def _describe(self, student: Any) -> str:
        return f"{student.pk} ({getattr(student, self.identifier)})"

    def _records(self, *students: Any) -> RecordRefs:
        """The students a conflict names, as data for the admin's links."""
        return tuple((self.model_class._meta.label_lower, student.pk) for student in students)

    def _check_not_stale(self, student: Any, data: StudentData) -> None:
        last_applied = getattr(student, self.jodo_updated_at)
        if last_applied and data.occurred_at < last_applied:
            raise SkipEvent(
                f"stale: event from {data.occurred_at.isoformat()} is older than the last one "
                f"applied to student {getattr(student, self.identifier)} "
                f"({last_applied.isoformat()})"
            )

    def _assign(self, student: Any, data: StudentData) -> None:
        if data.jodo_student_id:
            setattr(student, self.jodo_student_id, data.jodo_student_id)
        values: dict[str, Any] = {self.identifier: data.identifier}
        if self.custom_identifier:
            values[self.custom_identifier] = data.custom_identifier
        for jodo_name, model_field in self.fields.items():
            values[model_field] = getattr(data, jodo_name)
        if self.status is not None:
            values[self.status.field] = self.status.value_for(data.event_type)
        values[self.jodo_updated_at] = data.occurred_at
        opts = self.model_class._meta
        for name, value in values.items():
            if value is None and not opts.get_field(name).null:
                value = ""  # Jodo's null (no collector, no custom id) in a NOT NULL text field
            setattr(student, name, value)

    def _replace_jodo_notes(
        self, db: str, student: Any, notes: dict[str, str], *, created: bool
    ) -> None:
        """Make the student's Jodo notes exactly `notes`; ERP-owned notes with other keys stay.

        Two statements whatever the number of notes: one DELETE (none for a new student) and
        one upsert (which SQLite splits into batches past a few hundred notes). A key the
        student already has takes Jodo's value and becomes Jodo's; even a new student can have
        one, added by an ERP hook on save.
        """
        spec = self.notes
        assert spec is not None
        manager = spec.model_class._base_manager.db_manager(db)
        jodo_marker = {spec.source: spec.jodo} if spec.source else {}
        if not created:
            manager.filter(**{spec.student: student}, **jodo_marker).exclude(
                **{f"{spec.key}__in": list(notes)}
            ).delete()
        if not notes:
            return
        rows = [
            spec.model_class(
                **{spec.student: student, spec.key: key, spec.value: value}, **jodo_marker
            )
            for key, value in notes.items()
        ]
        auto_now = [
            f.name for f in spec.model_class._meta.concrete_fields if getattr(f, "auto_now", False)
        ]
        # MySQL and MariaDB upsert on any unique key and take no conflict target.
        on_mysql = connections[db].vendor == "mysql"
        manager.bulk_create(
            rows,
            update_conflicts=True,
            update_fields=[spec.value, *jodo_marker, *auto_now],
            unique_fields=None if on_mysql else [spec.student, spec.key],
        )


def configured_sync() -> StudentSync | None:
    """The StudentSync named by the STUDENT_SYNC setting (a dotted path or the object), if any."""
    return configured_object(app_settings.STUDENT_SYNC, StudentSync, "STUDENT_SYNC")


def apply_configured_sync(sender: Any, event: InboundEvent, event_type: str, **kwargs: Any) -> None:
    """The app's own receiver for student events, active while STUDENT_SYNC is set."""
    sync = configured_sync()
    if sync is not None:
        sync.apply(event)


def is_configured() -> bool:
    return bool(app_settings.STUDENT_SYNC)
