"""Processing a recorded event: claim it, send `event_received`, record the outcome.

`process_event` is the one place every caller goes through: the view (inline mode), the task,
the admin action and the management commands.
"""

from __future__ import annotations

import logging
import random
import time
import traceback
from datetime import timedelta
from functools import partial
from typing import Any

from django.db import IntegrityError, OperationalError, router, transaction
from django.db.models import F, QuerySet
from django.utils import timezone

from .conf import app_settings
from .exceptions import SkipEvent, WaitForStudent
from .logs import log_safe
from .metrics import observe_processing
from .models import InboundEvent
from .signals import event_received, is_handled

logger = logging.getLogger("jodo_webhooks")

Status = InboundEvent.Status
RETRYABLE_STATUSES = (Status.RECEIVED, Status.FAILED, Status.WAITING)

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


def process_event(
    event_pk: int, *, force: bool = False, recorded: InboundEvent | None = None
) -> str | None:
    """Claim the event, run the receivers and record the outcome, all in one transaction.

    Returns the new status, or None when the event was not claimable: another worker holds it,
    or it already reached a final status (unless `force`). A crash or a dropped connection
    mid-way rolls back claim and work together, leaving the event as it was. A deadlock or a
    lost unique-key race is retried from the start (claim included) a few times before it
    counts as a failure; inside a caller's transaction it fails at once. `recorded` is the
    event as its caller has just inserted it, which the first claim reuses if no attempt ran
    since.
    """
    claimable: list[str] = list(Status) if force else list(RETRYABLE_STATUSES)
    db = router.db_for_write(InboundEvent)
    # Inside a caller's transaction an error has broken that too: no retry then.
    in_callers_transaction = not transaction.get_autocommit(using=db)
    attempts = 1 if in_callers_transaction else PROCESSING_ATTEMPTS
    started = time.perf_counter()
    for attempt in range(1, attempts + 1):
        event: InboundEvent | None = None
        try:
            with transaction.atomic(using=db):
                event = _claim(db, event_pk, claimable, recorded if attempt == 1 else None)
                if event is None:
                    return None
                status, reason = _dispatch(event)
                _events(db, event_pk).update(
                    status=status,
                    status_reason=reason,
                    attempts=F("attempts") + 1,
                    processed_at=timezone.now(),
                )
            observe_processing(event.event_type, status, time.perf_counter() - started)
            return status
        except WaitForStudent as wait:
            waiting = _record_outcome(db, event_pk, claimable, Status.WAITING, reason=wait.reason)
            if waiting is not None:
                # Whoever applies the student looks for waiting events once it has committed;
                # looking for the student once `waiting` has committed closes the gap between.
                transaction.on_commit(partial(_recheck, event_pk, wait), using=db)
            observe_processing(
                event.event_type if event else "", waiting, time.perf_counter() - started
            )
            return waiting
        except SkipEvent as skip:
            # The receivers' work is rolled back; the outcome is recorded in its own transaction.
            outcome = _record_outcome(db, event_pk, claimable, Status.SKIPPED, reason=skip.reason)
            observe_processing(
                event.event_type if event else "", outcome, time.perf_counter() - started
            )
            return outcome
        except Exception as exc:
            if in_callers_transaction and transaction.get_rollback(using=db):
                # The caller's transaction is broken (InnoDB rolls a deadlock victim's whole
                # transaction back): nothing can be recorded in it, so it must roll back too.
                raise
            event_id = event.event_id if event else f"pk={event_pk}"
            if attempt < attempts and _is_retryable(exc):
                logger.warning(
                    "Retrying Jodo event %s after %s: %s",
                    log_safe(event_id),
                    type(exc).__name__,
                    log_safe(exc),
                )
                time.sleep(random.uniform(0, 0.05 * attempt))  # noqa: S311 - jitter only
                continue
            logger.exception(
                "Processing of Jodo event %s failed: %s", log_safe(event_id), log_safe(exc)
            )
            outcome = _record_outcome(db, event_pk, claimable, Status.FAILED, error=exc)
            observe_processing(
                event.event_type if event else "", outcome, time.perf_counter() - started
            )
            return outcome
    raise AssertionError("unreachable")


def _recheck(event_pk: int, wait: WaitForStudent) -> None:
    if wait.recheck():
        process_event(event_pk)


def error_records(error: BaseException) -> list[list[str]]:
    """The records an error names (its `records`, as StudentConflict has), stored as JSON:
    [model label, pk as text] pairs. Anything else in `records` is left out."""
    records = getattr(error, "records", ())
    if not isinstance(records, tuple | list):
        return []
    return [
        [record[0], str(record[1])]
        for record in records
        if isinstance(record, tuple | list) and len(record) == 2 and isinstance(record[0], str)
    ]


def _events(db: str, event_pk: int) -> QuerySet[InboundEvent]:
    return InboundEvent.objects.using(db).filter(pk=event_pk)


def _claim(
    db: str, event_pk: int, claimable: list[str], recorded: InboundEvent | None
) -> InboundEvent | None:
    """Lock the event's row if its status allows processing; None if it does not, or if
    another worker holds the lock (SKIP LOCKED; SQLite serialises writers instead).

    With `recorded`, the row is locked and only its `attempts` read: if no attempt ran since
    the caller inserted it, the caller's copy is current, and reading the whole row (its body
    and payload decoded again) is saved.
    """
    claimable_row = (
        _events(db, event_pk).filter(status__in=claimable).select_for_update(skip_locked=True)
    )
    if recorded is not None:
        attempts = list(claimable_row.values_list("attempts", flat=True))
        if not attempts:
            return None
        if attempts[0] == recorded.attempts:
            return recorded
    return claimable_row.first()


def _dispatch(event: InboundEvent) -> tuple[str, str]:
    max_age_days = app_settings.MAX_EVENT_AGE_DAYS
    # Measured at receipt: a replayed old body is refused, a failed one reprocessed late is not.
    if max_age_days and event.occurred_at < event.received_at - timedelta(days=max_age_days):
        return Status.SKIPPED, f"older than the maximum event age ({max_age_days} days)"
    event_received.send(sender=InboundEvent, event=event, event_type=event.event_type)
    if is_handled(event.event_type):
        return Status.PROCESSED, ""
    return Status.IGNORED, f"no receiver handles {event.event_type}"


def _record_outcome(
    db: str,
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
        fields["error_records"] = error_records(error)
        fields["processed_at"] = None
    # Guarded by status: a worker that processed the event meanwhile is not overwritten.
    with transaction.atomic(using=db):
        updated = _events(db, event_pk).filter(status__in=claimable).update(**fields)
    return status if updated else None
