"""Recording deliveries and processing events: the one place every caller goes through.

The view, the admin action, the management commands and the task all call `process_event`.
"""

from __future__ import annotations

import hashlib
import json
import logging
import random
import time
import traceback
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from contextlib import nullcontext
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from django.db import IntegrityError, OperationalError, connection, transaction
from django.db.models import F
from django.utils import timezone

from .conf import app_settings
from .models import InboundEvent, RejectedDelivery
from .signals import event_received

logger = logging.getLogger("jodo_webhooks")

Status = InboundEvent.Status
RETRYABLE_STATUSES = (Status.RECEIVED, Status.FAILED)


class SkipEvent(Exception):
    """Raised by a receiver to leave an event deliberately unapplied (e.g. stale)."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


class Delivery(StrEnum):
    NEW = "accepted"  # first delivery of this event_id: recorded now
    DUPLICATE = "duplicate"  # the same event again
    MISMATCH = "mismatch"  # a known event_id with different content: not applied


@dataclass(frozen=True, slots=True)
class RecordedDelivery:
    kind: Delivery
    event: InboundEvent


def canonical_digest(body: dict[str, Any]) -> str:
    """SHA-256 of the event's content in canonical JSON, so re-serialising it is no mismatch.

    Covers event, timestamp, version and payload: extra envelope fields may describe the
    delivery rather than the event, and the event_id is the key itself.
    """
    content = {key: body.get(key) for key in ("event", "timestamp", "version", "payload")}
    canonical = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


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
    event = InboundEvent(
        event_id=body["event_id"],
        event_type=body["event"],
        version=body["version"],
        occurred_at=datetime.fromtimestamp(body["timestamp"], tz=UTC),
        jodo_student_id=(jodo_student_id.strip()[:255] if isinstance(jodo_student_id, str) else ""),
        payload=body["payload"],
        raw_body=raw_body,
        payload_digest=digest,
        headers=headers,
        remote_addr=remote_addr,
        received_at=now,
        last_delivered_at=now,
    )
    if _insert_event(event):
        return RecordedDelivery(Delivery.NEW, event)

    # The event_id is already recorded (possibly by a concurrent delivery). The digest never
    # changes after the INSERT, so comparing it here and counting below cannot race.
    known = InboundEvent.objects.only("event_id", "status", "payload_digest").get(
        event_id=event.event_id
    )
    if known.payload_digest == digest:
        InboundEvent.objects.filter(pk=known.pk).update(
            delivery_count=F("delivery_count") + 1, last_delivered_at=now
        )
        return RecordedDelivery(Delivery.DUPLICATE, known)
    InboundEvent.objects.filter(pk=known.pk).update(digest_mismatches=F("digest_mismatches") + 1)
    return RecordedDelivery(Delivery.MISMATCH, known)


INSERT_EVENT_SQL = "INSERT INTO {table} ({columns}) VALUES ({values})"


def _insert_event(event: InboundEvent) -> bool:
    """Insert the event unless its event_id is already recorded; True if it was inserted.

    `event.save(force_insert=True)` in fixed SQL, which the ORM would compile anew for every
    delivery. Like `bulk_create`, it sends no pre_save/post_save: `event_received` is the hook.
    """
    ops, features = connection.ops, connection.features
    fields = [field for field in InboundEvent._meta.concrete_fields if not field.primary_key]
    sql = INSERT_EVENT_SQL.format(
        table=_event_table(),
        columns=", ".join(ops.quote_name(field.column) for field in fields),
        values=", ".join(["%s"] * len(fields)),
    )
    # PostgreSQL and SQLite skip a known event_id without an error (none in the server's log
    # for every redelivery); MariaDB raises IntegrityError, which inside a caller's transaction
    # needs a savepoint so that the transaction survives it.
    skips_conflicts = features.supports_update_conflicts_with_target
    if skips_conflicts:
        sql += " ON CONFLICT (event_id) DO NOTHING"
    returning = features.can_return_columns_from_insert
    if returning:
        sql += " RETURNING id"
    params = [field.get_db_prep_save(getattr(event, field.attname), connection) for field in fields]
    savepoint = connection.in_atomic_block and not skips_conflicts
    try:
        with transaction.atomic() if savepoint else nullcontext(), connection.cursor() as cursor:
            cursor.execute(sql, params)
            if returning:
                row = cursor.fetchone()
                if row is None:
                    return False
                event.pk = row[0]
            elif cursor.rowcount == 1:
                event.pk = cursor.lastrowid
            else:
                return False
    except IntegrityError:
        if skips_conflicts:
            raise  # not the event_id: a real error, reported as such
        return False
    event._state.adding = False
    event._state.db = connection.alias
    return True


# Errors after which running the event again can succeed: a deadlock or serialization failure,
# where the database rolled the transaction back and says "try restarting transaction"; and a
# unique key that a concurrent transaction took first (two events creating one new student),
# where looking again finds its row. Other integrity errors (a foreign key, NOT NULL, CHECK)
# would fail the same way again. SQLite serialises writers, so it never needs a retry.
PROCESSING_ATTEMPTS = 3
RETRYABLE_SQLSTATES = frozenset({"40001", "40P01", "23505"})  # serialization, deadlock, unique
RETRYABLE_MYSQL_ERRORS = frozenset({1213, 1062})  # deadlock, duplicate key


def _is_retryable(exc: BaseException) -> bool:
    if not isinstance(exc, OperationalError | IntegrityError):
        return False
    if getattr(exc.__cause__, "sqlstate", None) in RETRYABLE_SQLSTATES:  # psycopg
        return True
    return bool(exc.args) and exc.args[0] in RETRYABLE_MYSQL_ERRORS  # mysqlclient


def process_event(
    event_pk: int, *, force: bool = False, loaded: InboundEvent | None = None
) -> str | None:
    """Claim the event, run the receivers and record the outcome, all in one transaction.

    Returns the new status, or None when the event was not claimable: another worker holds it,
    or it already reached a final status (unless `force`). A crash or a dropped connection
    mid-way rolls back claim and work together, leaving the event as it was. A deadlock or a
    lost unique-key race is retried from the start (claim included) a few times before it
    counts as a failure; inside a caller's transaction it fails at once. `loaded` is the event
    as the caller just recorded it, which the claim reuses unless another attempt ran since.
    """
    claimable = list(Status) if force else list(RETRYABLE_STATUSES)
    # Inside a caller's transaction an error has broken that too: no retry then.
    attempts = 1 if connection.in_atomic_block else PROCESSING_ATTEMPTS
    for attempt in range(1, attempts + 1):
        event: InboundEvent | None = None
        try:
            with transaction.atomic():
                event = _claim(event_pk, claimable, loaded)
                if event is None:
                    return None
                status, reason = _dispatch(event)
                _set_outcome(event_pk, status, reason)
                return status
        except SkipEvent as skip:
            # The receivers' work is rolled back; the outcome is recorded in its own transaction.
            return _record_outcome(event_pk, claimable, Status.SKIPPED, reason=skip.reason)
        except Exception as exc:
            event_id = event.event_id if event else f"pk={event_pk}"
            if attempt < attempts and _is_retryable(exc):
                logger.warning(
                    "Retrying Jodo event %s after %s: %s", event_id, type(exc).__name__, exc
                )
                time.sleep(random.uniform(0, 0.05 * attempt))  # noqa: S311 - jitter only
                continue
            logger.exception("Processing of Jodo event %s failed: %s", event_id, exc)
            return _record_outcome(event_pk, claimable, Status.FAILED, error=exc)
    raise AssertionError("unreachable")


# The claim and the outcome run for every event, so they are fixed SQL: compiling the ORM's
# equivalents cost more CPU than running them (docs/benchmarks.md).
CLAIM_SQL = "SELECT {columns} FROM {table} WHERE id = %s AND status IN ({statuses}) {lock}"
SET_OUTCOME_SQL = (
    "UPDATE {table} SET status = %s, status_reason = %s, attempts = attempts + 1,"
    " processed_at = %s WHERE id = %s"
)


def _event_table() -> str:
    return connection.ops.quote_name(InboundEvent._meta.db_table)


def _claim(event_pk: int, claimable: list[str], loaded: InboundEvent | None) -> InboundEvent | None:
    """Lock the event's row if its status allows processing; None if it does not, or if
    another worker holds the lock (SKIP LOCKED; SQLite serialises writers instead).

    With `loaded`, only `attempts` is read: if no attempt ran since the caller read the event,
    its content and processing state are current, and decoding the whole row is saved.
    """
    features = connection.features
    lock = ""
    if features.has_select_for_update:
        lock = connection.ops.for_update_sql(skip_locked=features.has_select_for_update_skip_locked)

    def claim_sql(columns: str) -> str:
        statuses = ", ".join(["%s"] * len(claimable))
        return CLAIM_SQL.format(columns=columns, table=_event_table(), statuses=statuses, lock=lock)

    params = [event_pk, *claimable]
    if loaded is not None:
        with connection.cursor() as cursor:
            cursor.execute(claim_sql("attempts"), params)
            row = cursor.fetchone()
        if row is None:
            return None
        if row[0] == loaded.attempts:
            return loaded
    return next(iter(InboundEvent.objects.raw(claim_sql("*"), params)), None)


def _set_outcome(event_pk: int, status: str, reason: str) -> None:
    processed_at = connection.ops.adapt_datetimefield_value(timezone.now())
    with connection.cursor() as cursor:
        cursor.execute(
            SET_OUTCOME_SQL.format(table=_event_table()), [status, reason, processed_at, event_pk]
        )


def _dispatch(event: InboundEvent) -> tuple[str, str]:
    max_age_days = app_settings.MAX_EVENT_AGE_DAYS
    # Measured at receipt: a replayed old body is refused, a failed one reprocessed late is not.
    if max_age_days and event.occurred_at < event.received_at - timedelta(days=max_age_days):
        return Status.SKIPPED, f"older than the maximum event age ({max_age_days} days)"
    responses = event_received.send(sender=InboundEvent, event=event, event_type=event.event_type)
    if any(response is not None for _, response in responses):
        return Status.PROCESSED, ""
    return Status.IGNORED, f"no receiver handles {event.event_type}"


def _record_outcome(
    event_pk: int,
    claimable: list[str],
    status: str,
    *,
    reason: str = "",
    error: BaseException | None = None,
) -> str | None:
    fields: dict[str, Any] = {
        "status": status,
        "status_reason": reason,
        "attempts": F("attempts") + 1,
        "processed_at": timezone.now(),
    }
    if error is not None:
        fields["status_reason"] = fields["last_error"] = f"{type(error).__name__}: {error}"
        fields["last_error_traceback"] = "".join(traceback.format_exception(error))
        fields["processed_at"] = None
    # Guarded by status: a worker that processed the event meanwhile is not overwritten.
    with transaction.atomic():
        updated = InboundEvent.objects.filter(pk=event_pk, status__in=claimable).update(**fields)
    return status if updated else None


def process_after_delivery(recorded: RecordedDelivery) -> None:
    """Process (or enqueue) a delivery's event unless an earlier attempt already settled it.

    Never raises: the event is durably recorded, and whatever goes wrong here is retried by
    the next delivery or `jodo_reprocess`, so the answer to Jodo stays 2xx.
    """
    event = recorded.event
    if recorded.kind is Delivery.MISMATCH or event.status not in RETRYABLE_STATUSES:
        return
    if app_settings.PROCESSING == "task":
        transaction.on_commit(lambda: _enqueue(event))
        return
    try:
        # A new event is complete in memory; a known one was read only in part.
        process_event(event.pk, loaded=event if recorded.kind is Delivery.NEW else None)
    except Exception:
        logger.exception("Could not process Jodo event %s", event.event_id)


def _enqueue(event: InboundEvent) -> None:
    from .tasks import process_event_task  # the Tasks API is only needed in task mode

    try:
        process_event_task.enqueue(event.pk)
    except Exception:
        logger.exception(
            "Could not enqueue Jodo event %s; it stays received for `jodo_reprocess --pending`",
            event.event_id,
        )


BODY_PREFIX_BYTES = 4096


def _storable(text: str) -> str:
    """`text` without NUL characters, which PostgreSQL text and jsonb columns cannot hold."""
    return text.replace("\x00", "\N{REPLACEMENT CHARACTER}")


def record_rejected_delivery(
    reason: str,
    detail: str,
    *,
    body: bytes,
    headers: dict[str, str],
    remote_addr: str | None,
    event_id: str = "",
) -> None:
    """Keep a refused request for operators, then trim the table to its bound. Never raises."""
    try:
        rejected = RejectedDelivery.objects.create(
            reason=reason,
            detail=_storable(detail),
            remote_addr=remote_addr,
            event_id=_storable(event_id)[:255],
            headers={_storable(name): _storable(value) for name, value in headers.items()},
            body_prefix=_storable(body[:BODY_PREFIX_BYTES].decode("utf-8", errors="replace")),
        )
        limit = app_settings.REJECTED_DELIVERY_LIMIT
        # Ids only grow, so everything `limit` ids behind the newest row is older than it.
        RejectedDelivery.objects.filter(pk__lte=rejected.pk - limit).delete()
    except Exception:
        logger.exception("Could not record a rejected Jodo delivery (%s)", reason)


NOT_CLAIMED = "not claimed"  # held by another worker, or already final (without force)


def format_counts(counts: Mapping[str, int]) -> str:
    """Counts by status as operators read them: "2 failed, 8 processed"."""
    return ", ".join(f"{n} {status}" for status, n in sorted(counts.items()))


def reprocess_events(
    event_pks: Iterable[int],
    *,
    force: bool = False,
    progress: Callable[[int, Counter[str]], None] | None = None,
) -> Counter[str]:
    """Run `process_event` over events one by one; counts outcomes by status."""
    outcomes: Counter[str] = Counter()
    for done, pk in enumerate(event_pks, start=1):
        outcomes[process_event(pk, force=force) or NOT_CLAIMED] += 1
        if progress is not None:
            progress(done, outcomes)
    return outcomes


def prunable_events(cutoff: datetime, *, include_failed: bool = False):
    """Settled events received before `cutoff`; `received` ones are never pruned."""
    statuses = [Status.PROCESSED, Status.SKIPPED, Status.IGNORED]
    if include_failed:
        statuses.append(Status.FAILED)
    return InboundEvent.objects.filter(received_at__lt=cutoff, status__in=statuses)


def delete_in_batches(queryset, batch_size: int = 1000) -> int:
    """Delete `queryset` a batch at a time, so no single statement holds locks for long."""
    deleted = 0
    while True:
        batch = list(queryset.order_by("pk").values_list("pk", flat=True)[:batch_size])
        if not batch:
            return deleted
        deleted += queryset.model.objects.filter(pk__in=batch).delete()[0]
