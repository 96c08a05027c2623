"""Processing an event: run the receivers of `event_received` and record the outcome.

Two ways in. `process_new_event`: a new delivery in inline mode, recorded and processed in one
transaction. `process_event`: an event already recorded (a redelivery, the task, the admin
action, the management commands), claimed first. Both run the receivers through
`run_receivers`, the one place they run.
"""

from __future__ import annotations

import logging
import random
import time
import traceback
from datetime import timedelta
from typing import Any

from django.db import IntegrityError, OperationalError, router, transaction
from django.db.models import F
from django.utils import timezone

from .conf import app_settings
from .exceptions import SkipEvent
from .logs import log_safe
from .models import InboundEvent
from .recording import AlreadyRecorded, insert_event
from .signals import event_received, is_handled

logger = logging.getLogger("jodo_webhooks")

Status = InboundEvent.Status
RETRYABLE_STATUSES = (Status.RECEIVED, Status.FAILED)

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
    cause = exc.__cause__
    code = getattr(cause, "sqlstate", None) or getattr(cause, "pgcode", None)
    if code in RETRYABLE_SQLSTATES:  # psycopg 3 / psycopg2
        return True
    return bool(exc.args) and exc.args[0] in RETRYABLE_MYSQL_ERRORS  # mysqlclient


def run_receivers(event: InboundEvent) -> tuple[str, str]:
    """Send `event_received` for the event: its outcome (status, reason) if no receiver raises.

    Receivers raise SkipEvent, or any other exception, to their caller, whose transaction then
    rolls their work back.
    """
    max_age_days = app_settings.MAX_EVENT_AGE_DAYS
    # Measured at receipt: a replayed old body is refused, a failed one reprocessed late is not.
    if max_age_days and event.occurred_at < event.received_at - timedelta(days=max_age_days):
        return Status.SKIPPED, f"older than the maximum event age ({max_age_days} days)"
    event_received.send(sender=InboundEvent, event=event, event_type=event.event_type)
    if is_handled(event.event_type):
        return Status.PROCESSED, ""
    return Status.IGNORED, f"no receiver handles {event.event_type}"


def outcome(status: str, reason: str = "", error: BaseException | None = None) -> dict[str, Any]:
    """The event's fields that record an attempt's outcome (`attempts` aside)."""
    if error is None:
        return {"status": status, "status_reason": reason, "processed_at": timezone.now()}
    message = f"{type(error).__name__}: {error}"
    return {
        "status": status,
        "status_reason": message,
        "last_error": message,
        "last_error_traceback": "".join(traceback.format_exception(error)),
        "processed_at": None,
    }


def _retry_or_log(event_id: str, exc: Exception, attempt: int, attempts: int) -> bool:
    """Whether to run the attempt again (after a short jitter); logs either way."""
    if attempt < attempts and _is_retryable(exc):
        logger.warning(
            "Retrying Jodo event %s after %s: %s",
            log_safe(event_id),
            type(exc).__name__,
            log_safe(exc),
        )
        time.sleep(random.uniform(0, 0.05 * attempt))  # noqa: S311 - jitter only
        return True
    logger.exception("Processing of Jodo event %s failed: %s", log_safe(event_id), log_safe(exc))
    return False


def process_new_event(db: str, event: InboundEvent) -> None:
    """Record a new event and process it in one transaction: one commit, and no claim, since no
    one else can see the row before that commit.

    If a receiver raises (SkipEvent or an error), the transaction rolls back, the event's row
    with it, and the row is inserted again with the outcome: the receivers' work is gone, the
    delivery is not. A deadlock or a lost unique-key race runs the whole transaction again, a
    few times. Raises AlreadyRecorded if another delivery recorded the event_id first, and a
    database error if the row could not be stored (the answer is then 503: nothing is kept).
    `event` is unsaved; on return it is the row as stored.
    """
    # Inside a caller's transaction an error has broken that too: no retry then.
    in_callers_transaction = not transaction.get_autocommit(using=db)
    attempts = 1 if in_callers_transaction else PROCESSING_ATTEMPTS
    for attempt in range(1, attempts + 1):
        try:
            with transaction.atomic(using=db):
                insert_event(db, event)
                fields = outcome(*run_receivers(event))
                InboundEvent.objects.using(db).filter(pk=event.pk).update(**fields, attempts=1)
        except AlreadyRecorded:
            raise
        except SkipEvent as skip:
            fields = outcome(Status.SKIPPED, skip.reason)
        except Exception as exc:
            if in_callers_transaction and transaction.get_rollback(using=db):
                raise  # the caller's transaction must roll back too (see process_event)
            if _retry_or_log(event.event_id, exc, attempt, attempts):
                continue
            fields = outcome(Status.FAILED, error=exc)
        else:
            _set(event, fields, attempts=1)
            return
        # A receiver raised: its work was rolled back with the row; store the row with why.
        _set(event, fields, attempts=1)
        insert_event(db, event)
        return
    raise AssertionError("unreachable")


def _set(event: InboundEvent, fields: dict[str, Any], **more: Any) -> None:
    for name, value in (fields | more).items():
        setattr(event, name, value)


def process_event(event_pk: int, *, force: bool = False) -> str | None:
    """Claim a recorded event, run the receivers and record the outcome, in one transaction.

    Returns the new status, or None when the event was not claimable: another worker holds it,
    or it already reached a final status (unless `force`). A crash or a dropped connection
    mid-way rolls back claim and work together, leaving the event as it was. A deadlock or a
    lost unique-key race is retried from the start (claim included) a few times before it
    counts as a failure; inside a caller's transaction it fails at once.
    """
    claimable: list[str] = list(Status) if force else list(RETRYABLE_STATUSES)
    db = router.db_for_write(InboundEvent)
    # Inside a caller's transaction an error has broken that too: no retry then.
    in_callers_transaction = not transaction.get_autocommit(using=db)
    attempts = 1 if in_callers_transaction else PROCESSING_ATTEMPTS
    for attempt in range(1, attempts + 1):
        event: InboundEvent | None = None
        try:
            with transaction.atomic(using=db):
                event = _claim(db, event_pk, claimable)
                if event is None:
                    return None
                status, reason = run_receivers(event)
                _events(db, event_pk).update(**outcome(status, reason), attempts=F("attempts") + 1)
                return status
        except SkipEvent as skip:
            # The receivers' work is rolled back; the outcome is recorded in its own transaction.
            fields = outcome(Status.SKIPPED, skip.reason)
        except Exception as exc:
            if in_callers_transaction and transaction.get_rollback(using=db):
                # The caller's transaction is broken (InnoDB rolls a deadlock victim's whole
                # transaction back): nothing can be recorded in it, so it must roll back too.
                raise
            if _retry_or_log(event.event_id if event else f"pk={event_pk}", exc, attempt, attempts):
                continue
            fields = outcome(Status.FAILED, error=exc)
        return _record_outcome(db, event_pk, claimable, event, fields)
    raise AssertionError("unreachable")


def _events(db: str, event_pk: int) -> Any:
    return InboundEvent.objects.using(db).filter(pk=event_pk)


def _claim(db: str, event_pk: int, claimable: list[str]) -> InboundEvent | None:
    """Lock the event's row if its status allows processing; None if it does not, or if
    another worker holds the lock (SKIP LOCKED; SQLite serialises writers instead)."""
    return (
        _events(db, event_pk)
        .filter(status__in=claimable)
        .select_for_update(skip_locked=True)
        .first()
    )


def _record_outcome(
    db: str,
    event_pk: int,
    claimable: list[str],
    claimed: InboundEvent | None,
    fields: dict[str, Any],
) -> str | None:
    """Record a skip or a failure after the rollback, in its own transaction: unless another
    worker ran an attempt since this one's claim (its `attempts` moved on), whose outcome
    stands. With `force` every status is claimable, so the status alone cannot tell."""
    unchanged = _events(db, event_pk).filter(status__in=claimable)
    if claimed is not None:
        unchanged = unchanged.filter(attempts=claimed.attempts)
    with transaction.atomic(using=db):
        updated = unchanged.update(**fields, attempts=F("attempts") + 1)
    return fields["status"] if updated else None
