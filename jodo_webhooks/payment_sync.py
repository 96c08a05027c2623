"""Applying Jodo's student-linked payment events to an ERP's own payment (and line) models.

The ERP declares how its models hold a Jodo payment, and names the declaration in settings:

    # school/jodo.py
    PAYMENT_SYNC = PaymentSync(
        model="school.Receipt",
        jodo_payment_id="jodo_ref",
        student="pupil",
        amount=Amount("amount_paise", unit="paise"),
        state=PaymentState("status", received="R", settled="S", bounced="B", cancelled="C"),
        jodo_updated_at="jodo_synced_at",
        jodo_versions="jodo_versions",
        fields={"mode": "mode", "settlement_utr": "utr"},
        lines=PaymentLines("school.ReceiptLine", payment="receipt", component="head",
                           amount=Amount("paise", unit="paise")),
    )

    # settings.py
    JODO_WEBHOOKS = {..., "STUDENT_SYNC": "school.jodo.STUDENT_SYNC",
                     "PAYMENT_SYNC": "school.jodo.PAYMENT_SYNC"}

The rules (once per payment id, any arrival order, exact money, the right student, nothing
deleted) live here, once. How the events of one payment converge:

- The payment's state only moves up a fixed order, received < settled < bounced < cancelled,
  so the state is the highest any of its events reached, whatever the order they came in.
- Every other value (amount, mode, UTR, lines, ...) is the one stated by the newest event that
  states it, "newest" being the order of (timestamp, state rank, event id). The key of the
  event each value came from is kept in the `jodo_versions` JSON field, so an older event never
  overwrites a newer value, and a value an event leaves out (null) is never blanked.
"""

from __future__ import annotations

import logging
import operator
from collections.abc import Mapping
from contextlib import nullcontext
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from enum import StrEnum
from functools import cached_property, partial, reduce
from typing import TYPE_CHECKING, Any, Literal

from django.core.exceptions import ImproperlyConfigured
from django.db import connections, models, router, transaction
from django.db.models import Q

from .conf import app_settings, configured_object
from .event_types import (
    DIRECT_PAYMENT_EVENT_TYPES,
    FLEX_PAYMENT_EVENT_TYPES,
    PAY_PAYMENT_DEBITED,
    PAY_PAYMENT_SETTLED,
)
from .exceptions import PaymentConflict, SkipEvent, WaitForStudent
from .logs import log_safe
from .payment_payload import PaymentData, PaymentKind, PaymentLine, parse_payment_event
from .student_sync import (
    ModelRef,
    StudentSync,
    _has_field,
    _model,
    _row_per_key_problems,
    _unique_together,
)
from .student_sync import configured_sync as configured_student_sync

if TYPE_CHECKING:
    from .models import InboundEvent
    from .student_ref import StudentRef

logger = logging.getLogger("jodo_webhooks")

# The payment events that name a student: the ones the payment sync applies. Checkout orders,
# payment pages and payment links have no student and stay `ignored`.
SYNCED_PAYMENT_EVENT_TYPES = (
    DIRECT_PAYMENT_EVENT_TYPES
    | FLEX_PAYMENT_EVENT_TYPES
    | frozenset({PAY_PAYMENT_DEBITED, PAY_PAYMENT_SETTLED})
)

# Integer fields the database refuses negative numbers in.
UNSIGNED_FIELDS = (
    models.PositiveSmallIntegerField,
    models.PositiveIntegerField,
    models.PositiveBigIntegerField,
)

# The PaymentData attributes that `PaymentSync.fields` may map to model fields.
PAYMENT_FIELDS = (
    "product",
    "mode",
    "transaction_id",
    "reference_id",
    "settlement_utr",
    "settled_at",
    "paid_at",
    "notes",
    "subscription_id",
)
# The PaymentLine attributes that `PaymentLines.fields` may map to line fields.
LINE_FIELDS = ("settlement_utr", "settled_at")


class PaymentStage(StrEnum):
    """A payment's state in the ledger, in the only order it may move (each ranks above the last).

    A bounce or a cancellation is final: a late `settled` or `added` cannot undo it.
    """

    RECEIVED = "received"  # added, updated or debited: the money was collected
    SETTLED = "settled"  # it reached the school's bank account
    BOUNCED = "bounced"  # an instalment's debit bounced (Flex)
    CANCELLED = "cancelled"  # a manual payment was cancelled

    @property
    def rank(self) -> int:
        return list(PaymentStage).index(self) + 1


STAGE_OF_KIND = {
    PaymentKind.ADDED: PaymentStage.RECEIVED,
    PaymentKind.UPDATED: PaymentStage.RECEIVED,
    PaymentKind.DEBITED: PaymentStage.RECEIVED,
    PaymentKind.SETTLED: PaymentStage.SETTLED,
    PaymentKind.BOUNCED: PaymentStage.BOUNCED,
    PaymentKind.CANCELLED: PaymentStage.CANCELLED,
}

# An event's place in a payment's history: (timestamp, state rank, event id). Total and the
# same on every worker, so every arrival order keeps the same values. Stored as a JSON list.
Version = tuple[str, int, str]


def _version(data: PaymentData, event_id: str) -> Version:
    moment = data.occurred_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return (moment, STAGE_OF_KIND[data.kind].rank, event_id)


@dataclass(frozen=True)
class Amount:
    """A model field holding money: rupees in a DecimalField, or paise in an integer field."""

    field: str
    unit: Literal["rupees", "paise"] = "rupees"

    def to_model(self, rupees: Decimal, model: type[models.Model]) -> Decimal | int:
        """The value to store for `rupees`; ValueError when the field cannot hold it exactly."""
        model_field = model._meta.get_field(self.field)
        value = rupees * 100 if self.unit == "paise" else rupees
        if isinstance(model_field, models.DecimalField):
            exponent = value.normalize().as_tuple().exponent
            places = -exponent if isinstance(exponent, int) and exponent < 0 else 0
            whole_digits = len(str(abs(int(value)))) if int(value) else 0
            if (
                places > model_field.decimal_places
                or whole_digits > model_field.max_digits - model_field.decimal_places
            ):
                raise ValueError(
                    f"{rupees} rupees do not fit {model.__name__}.{self.field} (max_digits "
                    f"{model_field.max_digits}, decimal_places {model_field.decimal_places})."
                )
            return value
        if value != value.to_integral_value():
            raise ValueError(f"{rupees} rupees is not a whole number of {self.unit}.")
        return int(value)

    def rupees(self, stored: Decimal | int) -> Decimal:
        value = Decimal(stored)
        return value / 100 if self.unit == "paise" else value

    def problems(self, model: type[models.Model]) -> list[str]:
        if not _has_field(model, self.field):
            return [f"{model.__name__} has no field {self.field!r}."]
        model_field = model._meta.get_field(self.field)
        name = f"{model.__name__}.{self.field}"
        if self.unit not in ("rupees", "paise"):
            return [f"{name}: unit must be 'rupees' or 'paise', not {self.unit!r}."]
        if isinstance(model_field, models.DecimalField):
            places = 2 if self.unit == "rupees" else 0
            if model_field.decimal_places < places:
                return [f"{name} needs decimal_places >= {places} to hold {self.unit} exactly."]
            return []
        if isinstance(model_field, models.IntegerField) and self.unit == "paise":
            return []
        if isinstance(model_field, models.IntegerField):
            return [f"{name} is an integer field: rupees need Amount({self.field!r}, 'paise')."]
        return [f"{name} must be a DecimalField, or an integer field holding paise."]


def _as_amount(amount: str | Amount) -> Amount:
    return amount if isinstance(amount, Amount) else Amount(amount)


@dataclass(frozen=True)
class PaymentState:
    """The model field that holds the payment's state, and its value for each PaymentStage."""

    field: str
    received: Any
    settled: Any
    bounced: Any
    cancelled: Any

    def value_for(self, stage: PaymentStage) -> Any:
        return getattr(self, stage.value)

    def stage_of(self, value: Any) -> PaymentStage | None:
        return next((stage for stage in PaymentStage if self.value_for(stage) == value), None)


class _MoneyModel:
    """What a payment mapping and a lines mapping share: a model, and its amount field."""

    model: ModelRef
    amount: str | Amount

    @cached_property
    def model_class(self) -> type[models.Model]:
        return _model(self.model)

    @property
    def amount_field(self) -> Amount:
        return _as_amount(self.amount)


@dataclass(frozen=True)
class PaymentLines(_MoneyModel):
    """The model that holds a payment's fee-component lines: one row per (payment, component),
    unique together. `fields` maps LINE_FIELDS to line fields."""

    model: ModelRef
    payment: str  # the foreign key to the payment model
    component: str
    amount: str | Amount
    fields: Mapping[str, str] = field(default_factory=dict)

    @property
    def jodo_owned_fields(self) -> list[str]:
        return [self.payment, self.component, self.amount_field.field, *self.fields.values()]

    def problems(self, payment_model: type[models.Model]) -> list[str]:
        model = self.model_class
        problems = [
            f"lines: {name!r} is not a line field; use one of {', '.join(LINE_FIELDS)}."
            for name in self.fields
            if name not in LINE_FIELDS
        ]
        problems += [
            f"{model.__name__} has no field {name!r}."
            for name in (self.payment, self.component, *self.fields.values())
            if not _has_field(model, name)
        ]
        problems += self.amount_field.problems(model)
        if problems:
            return problems
        return _row_per_key_problems(model, self.payment, payment_model, "payment", self.component)


@dataclass(frozen=True)
class PaymentSync(_MoneyModel):
    """How an ERP's payment model holds Jodo's student-linked payments.

    Field arguments name model fields. `student` is the foreign key to the STUDENT_SYNC's model;
    the student is found with that sync's ids. `jodo_versions` is a JSONField the sync keeps
    for itself (which event each value came from). `fields` maps PAYMENT_FIELDS to model
    fields; attributes left out are not stored. `difference`, if given, receives amount minus
    the sum of the lines (0 when they add up, NULL without lines), in the amount's unit.
    `state_changed_at`, if given, receives the timestamp of the event that set the state.
    """

    model: ModelRef
    jodo_payment_id: str
    student: str
    amount: str | Amount
    state: PaymentState
    jodo_updated_at: str
    jodo_versions: str
    fields: Mapping[str, str] = field(default_factory=dict)
    lines: PaymentLines | None = None
    difference: str | None = None
    state_changed_at: str | None = None

    @property
    def jodo_owned_fields(self) -> list[str]:
        """The payment model's fields that events write: read-only for people."""
        owned: list[str | None] = [self.jodo_payment_id, self.student, self.amount_field.field]
        owned += [self.state.field, *self.fields.values(), self.difference, self.state_changed_at]
        return [name for name in [*owned, self.jodo_updated_at, self.jodo_versions] if name]

    def problems(self) -> list[str]:
        """What keeps this mapping from working with its models (the E008 system check)."""
        model = self.model_class
        students = configured_student_sync()
        if students is None:
            return ["needs STUDENT_SYNC: payments are matched to students by its ids."]
        problems = [
            f"{name!r} is not a payment field; use one of {', '.join(PAYMENT_FIELDS)}."
            for name in self.fields
            if name not in PAYMENT_FIELDS
        ]
        named: list[str | None] = [self.jodo_payment_id, self.student, self.state.field]
        named += [self.jodo_updated_at, self.jodo_versions, self.difference, self.state_changed_at]
        problems += [
            f"{model.__name__} has no field {name!r}."
            for name in [*named, *self.fields.values()]
            if name and not _has_field(model, name)
        ]
        problems += self.amount_field.problems(model)
        if problems:
            return problems
        opts = model._meta
        if not _unique_together(model, {self.jodo_payment_id}):
            problems.append(f"{model.__name__}.{self.jodo_payment_id} must be unique.")
        if opts.get_field(self.student).related_model is not students.model_class:
            problems.append(
                f"{model.__name__}.{self.student} is not a foreign key to the STUDENT_SYNC's "
                f"model ({students.model_class.__name__})."
            )
        elif opts.get_field(self.student).null:  # PostgreSQL cannot lock an outer join's side
            problems.append(
                f"{model.__name__}.{self.student} must not be null=True: every payment has its "
                "student, and it is locked with the payment."
            )
        if not isinstance(opts.get_field(self.jodo_versions), models.JSONField):
            problems.append(f"{model.__name__}.{self.jodo_versions} must be a JSONField.")
        if self.difference:
            difference = Amount(self.difference, self.amount_field.unit)
            problems += [f"difference: {p}" for p in difference.problems(model)]
            if not opts.get_field(self.difference).null:
                problems.append(f"{model.__name__}.{self.difference} must be null=True.")
            if isinstance(opts.get_field(self.difference), UNSIGNED_FIELDS):
                problems.append(
                    f"{model.__name__}.{self.difference} cannot hold a negative difference (lines "
                    "adding up to more than the amount): use a signed field."
                )
        if self.lines is not None:
            problems += self.lines.problems(model)
        return problems

    # --- applying an event -------------------------------------------------------------------

    def apply(self, event: InboundEvent) -> Any:
        """Apply a payment event to the ERP's payment; returns the payment.

        Raises WaitForStudent when the student is not known yet (the event waits, and is applied
        once the student sync has applied that student), PaymentConflict when the event's ids
        point at records that cannot be reconciled, and InvalidPayload / UnsupportedVersion for
        a payload this app cannot read. A unique-key race to create a new payment raises
        IntegrityError, after which `process_event` runs the event again.
        """
        data = parse_payment_event(event)
        if data.student is None:
            raise SkipEvent(f"{event.event_type} names no student: the payment sync skips it")
        students = _required_student_sync()
        db = router.db_for_write(self.model_class)
        in_transaction = not transaction.get_autocommit(using=db)
        with nullcontext() if in_transaction else transaction.atomic(using=db):
            payment = self._locked_payment(db, data.payment_id)
            created = payment is None
            if payment is None:
                student = _find_student(db, students, data.student)
                if student is None:
                    raise WaitForStudent(
                        f"waiting for student {_describe_ref(data.student)}: applied once the "
                        "student sync has applied that student",
                        recheck=partial(_student_exists, db, students, data.student),
                    )
                payment = self.model_class(
                    **{self.jodo_payment_id: data.payment_id, self.student: student}
                )
                setattr(payment, self.jodo_versions, {})
            else:
                self._check_student(db, students, payment, data)
            before = {name: getattr(payment, name) for name in self.jodo_owned_fields}
            version = _version(data, event.event_id)
            new_lines = self._merge(payment, data, version)
            refreshed = self._merge_line_values(payment, data, version)
            changed = any(getattr(payment, name) != value for name, value in before.items())
            if created or changed:
                payment.save(using=db, force_insert=created)
            if self.lines is not None and new_lines is not None:
                self._replace_lines(db, payment, new_lines, created=created)
            elif refreshed:
                self._update_line_values(db, payment, refreshed)
        return payment

    def _locked_payment(self, db: str, payment_id: str) -> Any:
        rows = (
            self.model_class._base_manager.db_manager(db)
            .select_related(self.student)
            .select_for_update()
            .filter(**{self.jodo_payment_id: payment_id})
            .order_by()
        )
        # Ids compare exactly: a row a case-insensitive collation also finds is another payment.
        return next((p for p in rows if getattr(p, self.jodo_payment_id) == payment_id), None)

    def _check_student(
        self, db: str, students: StudentSync, payment: Any, data: PaymentData
    ) -> None:
        """The payment stays with its student: an event naming another one changes nothing."""
        ref = data.student
        assert ref is not None
        student = getattr(payment, self.student)
        known_jodo_id = getattr(student, students.jodo_student_id)
        if ref.jodo_student_id and known_jodo_id:
            same = known_jodo_id == ref.jodo_student_id
        else:
            # Without two Jodo ids to compare, the event's ids must point at this student and at
            # no other, exactly as they must for a new payment (one query).
            found = _find_student(db, students, ref)
            same = found is not None and found.pk == student.pk
        if not same:
            raise PaymentConflict(
                f"payment {data.payment_id!r} belongs to student {student.pk}, but "
                f"this {data.event_type} names student {_describe_ref(ref)}; nothing was changed.",
                records=(_record(payment), _record(student)),
            )

    def _merge(self, payment: Any, data: PaymentData, version: Version) -> list[PaymentLine] | None:
        """Take from the event each value it is the newest word on; the lines to store, or None
        when the payment keeps its lines."""
        versions: dict[str, Any] = dict(getattr(payment, self.jodo_versions) or {})

        def newer(key: str, value: Any) -> bool:
            if value is None or (key in versions and tuple(versions[key][:3]) >= version):
                return False
            versions[key] = list(version)
            return True

        stage = STAGE_OF_KIND[data.kind]
        state_key = (version[1], version[0], version[2])  # rank first: states only move up
        held = versions.get("state")
        if held is None or tuple(held) < state_key:
            versions["state"] = list(state_key)
            setattr(payment, self.state.field, self.state.value_for(stage))
            if self.state_changed_at:
                setattr(payment, self.state_changed_at, data.occurred_at)
        amount = self.amount_field
        took_amount = newer("amount", data.amount)
        if took_amount:
            assert data.amount is not None
            setattr(payment, amount.field, amount.to_model(data.amount, self.model_class))
        for name, model_field in self.fields.items():
            value = getattr(data, name)
            if newer(name, str(value) if name == "product" else value):
                setattr(payment, model_field, _text(self.model_class, model_field, value))
        lines = None
        if self.lines is not None and newer("lines", data.lines or None):
            lines = _unique_lines(data)
            versions["lines_total"] = str(sum((line.amount for line in lines), Decimal(0)))
            versions["line_components"] = sorted(line.component for line in lines)
        latest = getattr(payment, self.jodo_updated_at)
        if latest is None or data.occurred_at > latest:
            setattr(payment, self.jodo_updated_at, data.occurred_at)
        setattr(payment, self.jodo_versions, versions)
        self._set_difference(payment, versions, data, changed=took_amount or lines is not None)
        return lines

    def _set_difference(
        self, payment: Any, versions: dict[str, Any], data: PaymentData, *, changed: bool
    ) -> None:
        """Store amount minus lines in `difference`, if mapped; warn when it changes (without the
        field: when this event changed the amount or the lines), so operators see it either way."""
        if "lines_total" not in versions or "amount" not in versions:
            if self.difference:
                setattr(payment, self.difference, None)
            return
        amount = self.amount_field
        paid = amount.rupees(getattr(payment, amount.field))
        gap = paid - Decimal(versions["lines_total"])
        if self.difference:
            value = Amount(self.difference, amount.unit).to_model(gap, self.model_class)
            known = getattr(payment, self.difference)
            setattr(payment, self.difference, value)
            changed = known is None or Decimal(known) != value
        if gap and changed:  # said once, when it changes
            logger.warning(
                "Jodo payment %s: its lines add up to %s, not %s (difference %s)",
                log_safe(data.payment_id),
                versions["lines_total"],
                paid,
                gap,
            )

    def _merge_line_values(self, payment: Any, data: PaymentData, version: Version) -> set[str]:
        """A line's mapped fields (its UTR, its settlement time) are values like the payment's:
        per component and field, the newest event that states one wins, and a null never blanks
        it, in any arrival order. Kept in `jodo_versions["line_values"]` as [value, *version].
        Returns the current lines' components whose values this event changed."""
        if self.lines is None or not self.lines.fields:
            return set()
        versions: dict[str, Any] = getattr(payment, self.jodo_versions)
        known: dict[str, dict[str, list[Any]]] = {
            component: dict(values) for component, values in versions.get("line_values", {}).items()
        }
        changed: set[str] = set()
        for line in data.lines:
            for name in self.lines.fields:
                value = getattr(line, name)
                held = known.get(line.component, {}).get(name)
                if value is None or (held is not None and tuple(held[1:4]) >= version):
                    continue
                stored = value.isoformat() if isinstance(value, datetime) else value
                known.setdefault(line.component, {})[name] = [stored, *version]
                changed.add(line.component)
        if changed:
            setattr(payment, self.jodo_versions, {**versions, "line_values": known})
        return changed & set(versions.get("line_components", ()))

    def _line_values(self, payment: Any, component: str) -> dict[str, Any]:
        """The model fields and values of a line's mapped fields, from `line_values`."""
        spec = self.lines
        assert spec is not None
        held = getattr(payment, self.jodo_versions).get("line_values", {}).get(component, {})
        values: dict[str, Any] = {}
        for name, model_field in spec.fields.items():
            value = held[name][0] if name in held else None
            if value is not None and name == "settled_at":
                value = datetime.fromisoformat(value)
            values[model_field] = _text(spec.model_class, model_field, value)
        return values

    def _update_line_values(self, db: str, payment: Any, components: set[str]) -> None:
        """An older event brought a UTR or time the kept lines lacked: one UPDATE per line."""
        spec = self.lines
        assert spec is not None
        manager = spec.model_class._base_manager.db_manager(db)
        for component in sorted(components):
            manager.filter(**{spec.payment: payment, spec.component: component}).update(
                **self._line_values(payment, component)
            )

    def _replace_lines(
        self, db: str, payment: Any, lines: list[PaymentLine], *, created: bool
    ) -> None:
        """Make the payment's lines exactly `lines`: one upsert, and for a payment that existed
        before this event, one DELETE of the components it no longer lists."""
        spec = self.lines
        assert spec is not None
        manager = spec.model_class._base_manager.db_manager(db)
        components = [line.component for line in lines]
        if not created:
            manager.filter(**{spec.payment: payment}).exclude(
                **{f"{spec.component}__in": components}
            ).delete()
        amount = spec.amount_field
        rows = [
            spec.model_class(
                **{
                    spec.payment: payment,
                    spec.component: line.component,
                    amount.field: amount.to_model(line.amount, spec.model_class),
                    **self._line_values(payment, line.component),
                }
            )
            for line in lines
        ]
        on_mysql = connections[db].vendor == "mysql"  # upserts on any unique key, no target
        manager.bulk_create(
            rows,
            update_conflicts=True,
            update_fields=[amount.field, *spec.fields.values()],
            unique_fields=None if on_mysql else [spec.payment, spec.component],
        )


def _unique_lines(data: PaymentData) -> list[PaymentLine]:
    components = [line.component for line in data.lines]
    repeated = sorted({c for c in components if components.count(c) > 1})
    if repeated:
        raise ValueError(
            f"payment {data.payment_id!r} lists fee component(s) {', '.join(repeated)} more "
            "than once; lines are kept one per component, so nothing was changed."
        )
    return list(data.lines)


def _text(model: type[models.Model], name: str, value: Any) -> Any:
    """Jodo's null in a NOT NULL text field is ""."""
    if value is None and not model._meta.get_field(name).null:
        return ""
    return value


def _record(instance: models.Model) -> tuple[str, object]:
    return (instance._meta.label_lower, instance.pk)


def _describe_ref(ref: StudentRef) -> str:
    ids = [
        f"{name} {value!r}"
        for name, value in (
            ("jodo_student_id", ref.jodo_student_id),
            ("identifier", ref.identifier),
            ("custom_identifier", ref.custom_identifier),
        )
        if value
    ]
    return ", ".join(ids)


def _ids_filter(students: StudentSync, ref: StudentRef) -> list[tuple[str, str, str]]:
    """(Jodo's name, model field, value) of each id the event gives and the mapping holds."""
    ids = [
        ("jodo_student_id", students.jodo_student_id, ref.jodo_student_id),
        ("identifier", students.identifier, ref.identifier),
        ("custom_identifier", students.custom_identifier, ref.custom_identifier),
    ]
    return [(name, f, value) for name, f, value in ids if f and value]


def _candidates(db: str, students: StudentSync, ref: StudentRef) -> Any:
    present = _ids_filter(students, ref)
    condition = reduce(operator.or_, (Q(**{f: value}) for _, f, value in present))
    return students.model_class._base_manager.db_manager(db).filter(condition).order_by("pk")


def _find_student(db: str, students: StudentSync, ref: StudentRef) -> Any:
    """The one student the payment's ids point at, as the student sync matches them; None when
    the ERP has none yet. Ids compare exactly; ids pointing at two students are a conflict."""
    candidates = list(_candidates(db, students, ref))
    matched = [
        s for s in candidates if any(getattr(s, f) == v for _, f, v in _ids_filter(students, ref))
    ]
    unmatched = [s for s in candidates if s not in matched]
    if unmatched or len(matched) > 1:
        raise PaymentConflict(
            f"the ids of student {_describe_ref(ref)} point at students "
            f"{', '.join(str(s.pk) for s in candidates)} (ids compare exactly); nothing was "
            "changed.",
            records=tuple(_record(s) for s in candidates),
        )
    if not matched:
        return None
    student = matched[0]
    known_jodo_id = getattr(student, students.jodo_student_id)
    if ref.jodo_student_id and known_jodo_id and known_jodo_id != ref.jodo_student_id:
        raise PaymentConflict(
            f"student {student.pk} has jodo_student_id {known_jodo_id!r}, but the payment "
            f"names {ref.jodo_student_id!r}; nothing was changed.",
            records=(_record(student),),
        )
    return student


def _student_exists(db: str, students: StudentSync, ref: StudentRef) -> bool:
    return bool(_candidates(db, students, ref).exists())


def _required_student_sync() -> StudentSync:
    students = configured_student_sync()
    if students is None:
        raise ImproperlyConfigured("JODO_WEBHOOKS PAYMENT_SYNC needs STUDENT_SYNC.")
    return students


def configured_sync() -> PaymentSync | None:
    """The PaymentSync named by the PAYMENT_SYNC setting (a dotted path or the object), if any."""
    return configured_object(app_settings.PAYMENT_SYNC, PaymentSync, "PAYMENT_SYNC")


def is_configured() -> bool:
    return bool(app_settings.PAYMENT_SYNC and app_settings.STUDENT_SYNC)


def apply_configured_sync(sender: Any, event: InboundEvent, event_type: str, **kwargs: Any) -> None:
    """The app's own receiver for payment events, active while PAYMENT_SYNC is set."""
    sync = configured_sync()
    if sync is not None:
        sync.apply(event)


def release_waiting_payments(
    sender: Any, event: InboundEvent, event_type: str, **kwargs: Any
) -> None:
    """The app's receiver for student events while PAYMENT_SYNC is set: once the student event
    has committed, the payment events waiting for that student are processed.

    After the commit, not before: a payment that starts waiting meanwhile looks for its student
    again after committing `waiting`, so one of the two always sees the other.
    """
    from .models import InboundEvent  # the app's models load after its public API

    ids = [
        Q(**{name: value})
        for name, value in (
            ("jodo_student_id", event.jodo_student_id),
            ("student_identifier", event.student_identifier),
        )
        if value
    ]
    # A payment may name its student by custom_identifier alone, which has no column of its own.
    ids += _custom_identifier_filters(event.payload)
    if not ids:
        return
    db = router.db_for_write(InboundEvent)
    transaction.on_commit(partial(_process_waiting, db, reduce(operator.or_, ids)), using=db)


def _custom_identifier_filters(payload: Any) -> list[Q]:
    """The waiting events whose payload names the student event's custom_identifier, as text or,
    all digits, as the number Jodo may send (JodoIdField reads both as this text)."""
    student = payload.get("student") if isinstance(payload, dict) else None
    value = student.get("custom_identifier") if isinstance(student, dict) else None
    if not isinstance(value, str) or not value.strip():
        return []
    text = value.strip()
    sent_as: list[str | int] = [text, int(text)] if text.isascii() and text.isdigit() else [text]
    return [Q(payload__student__custom_identifier=form) for form in sent_as]


def _process_waiting(db: str, ids: Q) -> None:
    from .models import InboundEvent
    from .processing import process_event

    waiting = (
        InboundEvent.objects.using(db)
        .filter(ids, status=InboundEvent.Status.WAITING)
        .order_by("occurred_at", "pk")
        .values_list("pk", flat=True)
    )
    for event_pk in list(waiting):
        try:
            process_event(event_pk)
        except Exception:  # the student event is done: a payment's failure is its own
            logger.exception("Could not process waiting Jodo event pk=%s", event_pk)
