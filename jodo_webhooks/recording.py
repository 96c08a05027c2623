"""Recording a verified delivery: one `InboundEvent` row per event_id, however often it comes."""

from __future__ import annotations

from contextlib import nullcontext
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from django.db import IntegrityError, router, transaction
from django.db.models import F
from django.utils import timezone

from .envelope import canonical_digest
from .models import InboundEvent


class Delivery(StrEnum):
    ACCEPTED = "accepted"  # first delivery of this event_id: recorded now
    DUPLICATE = "duplicate"  # the same event again
    MISMATCH = "mismatch"  # a known event_id with different content: not applied


@dataclass(frozen=True, slots=True)
class RecordedDelivery:
    kind: Delivery
    event: InboundEvent


class AlreadyRecorded(Exception):
    """The event's INSERT hit the unique event_id: another delivery recorded it first.

    Raised out of the transaction around the INSERT, which the unique-key error has broken
    on PostgreSQL; `counted_redelivery` then tells a duplicate from a mismatch.
    """

    def __init__(self, error: IntegrityError) -> None:
        super().__init__(str(error))
        self.error = error


def new_event(
    envelope: dict[str, Any], raw_text: str, headers: dict[str, str], remote_addr: str | None
) -> InboundEvent:
    """The unsaved `InboundEvent` row of a validated envelope."""
    now = timezone.now()
    payload = envelope["payload"]
    jodo_student_id = payload.get("jodo_student_id")
    student = payload.get("student")
    identifier = student.get("identifier") if isinstance(student, dict) else None
    return InboundEvent(
        event_id=envelope["event_id"],
        event_type=envelope["event"],
        version=envelope["version"],
        occurred_at=datetime.fromtimestamp(envelope["timestamp"], tz=UTC),
        jodo_student_id=_searchable_id(jodo_student_id),
        student_identifier=_searchable_id(identifier),
        payload=payload,
        raw_body=raw_text,
        payload_digest=canonical_digest(envelope),
        headers=headers,
        remote_addr=remote_addr,
        received_at=now,
        last_delivered_at=now,
    )


def _searchable_id(value: Any) -> str:
    """An id as recorded for search (and for payments waiting for their student): product
    events may send ids as numbers."""
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    return value.strip()[:255] if isinstance(value, str) else ""


def insert_event(db: str, event: InboundEvent) -> None:
    """INSERT the event's row (again, after a rolled-back attempt); AlreadyRecorded if its
    event_id is taken. Inside a transaction, the caller rolls back on AlreadyRecorded."""
    event.pk = None  # a rolled-back attempt's id is gone with its row
    try:
        event.save(force_insert=True, using=db)
    except IntegrityError as exc:
        raise AlreadyRecorded(exc) from exc


def counted_redelivery(db: str, event: InboundEvent) -> RecordedDelivery | None:
    """Count a delivery of an event_id already recorded: a duplicate, or a mismatch if its
    content differs. None if the event_id is not recorded (yet)."""
    # Read from the primary: a replica may not have the row yet. The event_id is unique: no
    # ordering needed.
    found = InboundEvent.objects.using(db).filter(event_id=event.event_id)
    known = next(iter(found.only("event_id", "status", "payload_digest")[:1]), None)
    if known is None:
        return None
    # The digest never changes after the INSERT, so comparing it here and counting below cannot
    # race with another delivery.
    known_event = InboundEvent.objects.using(db).filter(pk=known.pk)
    if known.payload_digest == event.payload_digest:
        known_event.update(
            delivery_count=F("delivery_count") + 1, last_delivered_at=event.last_delivered_at
        )
        return RecordedDelivery(Delivery.DUPLICATE, known)
    known_event.update(digest_mismatches=F("digest_mismatches") + 1)
    return RecordedDelivery(Delivery.MISMATCH, known)


def insert_alone(db: str, event: InboundEvent) -> None:
    """`insert_event` in no transaction of its own: committed at once, or inside a caller's
    transaction, in a savepoint that keeps a duplicate from breaking it."""
    in_transaction = not transaction.get_autocommit(using=db)
    with transaction.atomic(using=db) if in_transaction else nullcontext():
        insert_event(db, event)


def record_delivery(
    envelope: dict[str, Any],
    raw_text: str,
    headers: dict[str, str],
    remote_addr: str | None,
) -> RecordedDelivery:
    """Record a validated envelope without processing it (seeding, tests): the INSERT, or the
    delivery counted if its event_id is recorded; the unique event_id decides which."""
    db = router.db_for_write(InboundEvent)
    event = new_event(envelope, raw_text, headers, remote_addr)
    try:
        insert_alone(db, event)
        return RecordedDelivery(Delivery.ACCEPTED, event)
    except AlreadyRecorded as taken:
        known = counted_redelivery(db, event)
        if known is None:
            raise taken.error from None  # not the event_id: a real error, reported as such
        return known
