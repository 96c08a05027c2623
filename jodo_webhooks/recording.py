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
    NEW = "accepted"  # first delivery of this event_id: recorded now
    DUPLICATE = "duplicate"  # the same event again
    MISMATCH = "mismatch"  # a known event_id with different content: not applied


@dataclass(frozen=True, slots=True)
class RecordedDelivery:
    kind: Delivery
    event: InboundEvent


def record_delivery(
    body: dict[str, Any],
    raw_body: str,
    headers: dict[str, str],
    remote_addr: str | None,
) -> RecordedDelivery:
    """Insert the event, or count one more delivery of it; the unique event_id decides which."""
    now = timezone.now()
    digest = canonical_digest(body)
    jodo_student_id = body["payload"].get("jodo_student_id")
    student = body["payload"].get("student")
    identifier = student.get("identifier") if isinstance(student, dict) else None
    event = InboundEvent(
        event_id=body["event_id"],
        event_type=body["event"],
        version=body["version"],
        occurred_at=datetime.fromtimestamp(body["timestamp"], tz=UTC),
        jodo_student_id=_searchable_id(jodo_student_id),
        student_identifier=_searchable_id(identifier),
        payload=body["payload"],
        raw_body=raw_body,
        payload_digest=digest,
        headers=headers,
        remote_addr=remote_addr,
        received_at=now,
        last_delivered_at=now,
    )
    db = router.db_for_write(InboundEvent)
    # Inside a caller's transaction, a savepoint keeps a duplicate from breaking it; on its own,
    # the INSERT needs no transaction at all.
    in_transaction = not transaction.get_autocommit(using=db)
    try:
        with transaction.atomic(using=db) if in_transaction else nullcontext():
            event.save(force_insert=True, using=db)
        return RecordedDelivery(Delivery.NEW, event)
    except IntegrityError:
        # Read from the primary: a replica may not have the row yet.
        known = (
            InboundEvent.objects.using(db)
            .only("event_id", "status", "payload_digest")
            .filter(event_id=event.event_id)
            .first()
        )
        if known is None:
            raise  # not the event_id: a real error, reported as such

    # The digest never changes after the INSERT, so comparing it here and counting below cannot
    # race with another delivery.
    known_event = InboundEvent.objects.using(db).filter(pk=known.pk)
    if known.payload_digest == digest:
        known_event.update(delivery_count=F("delivery_count") + 1, last_delivered_at=now)
        return RecordedDelivery(Delivery.DUPLICATE, known)
    known_event.update(digest_mismatches=F("digest_mismatches") + 1)
    return RecordedDelivery(Delivery.MISMATCH, known)


def _searchable_id(value: Any) -> str:
    """An id as recorded for search (and for payments waiting for their student): product
    events may send ids as numbers."""
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    return value.strip()[:255] if isinstance(value, str) else ""
