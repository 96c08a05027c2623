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
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from functools import partial
from typing import Any, TypeVar

from django.db import IntegrityError, OperationalError, router, transaction
from django.db.models import F, QuerySet
from django.utils import timezone

from .conf import app_settings
from .exceptions import SkipEvent, WaitForStudent
from .logs import log_safe
from .metrics import observe_processing
from .models import InboundEvent
from .recording import AlreadyRecorded, insert_event
from .signals import event_received, is_handled

logger = logging.getLogger("jodo_webhooks")

T = TypeVar("T")
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


def planned_outcome(event: InboundEvent) -> tuple[str, str]:
    """The outcome (status, reason) an attempt has if no receiver raises."""
    max_age_days = app_settings.MAX_EVENT_AGE_DAYS
    # Measured at receipt: a replayed old body is refused, a failed one reprocessed late is not.
    if max_age_days and event.occurred_at < event.received_at - timedelta(days=max_age_days):
        return Status.SKIPPED, f"older than the maximum event age ({max_age_days} days)"
    if is_handled(event.event_type):
        return Status.PROCESSED, ""
    return Status.IGNORED, f"no receiver handles {event.event_type}"


def run_receivers(event: InboundEvent, planned: tuple[str, str]) -> None:
    """Send `event_received` for the event, unless its planned outcome is to skip it.

    The one place receivers run. They raise SkipEvent, or any other exception, to the caller,
    whose transaction then rolls their work back.
    """
    if planned[0] != Status.SKIPPED:
        event_received.send(sender=InboundEvent, event=event, event_type=event.event_type)


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
        "error_records": error_records(error),
        "processed_at": None,
    }


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


@dataclass(frozen=True, slots=True)
class Failure:
    """Why an attempt did not apply the event (failed, skipped, waiting for its student): the
    fields to store after the rollback, and for `waiting`, the receiver's WaitForStudent."""

    fields: dict[str, Any]
    wait: WaitForStudent | None = None

    def recheck_on_commit(self, db: str, event_pk: int) -> None:
        """Once `waiting` is stored: whoever applies the student looks for waiting events after
        its commit; looking for the student after this one closes the gap between."""
        if self.wait is not None:
            transaction.on_commit(partial(_recheck, event_pk, self.wait), using=db)


def _recheck(event_pk: int, wait: WaitForStudent) -> None:
    # Once: a receiver whose recheck finds the student while it still waits must not loop.
    if wait.recheck():
        _process(event_pk, force=False, recheck=False)


def _attempt(db: str, name: Callable[[], str], run: Callable[[], T]) -> T | Failure:
    """Run `run` (one transaction, the receivers inside), again after a deadlock or a lost
    unique-key race, a few times. Its result; or, if it raised, the Failure to record.

    Inside a caller's transaction an error has broken that too: no retry then, and if the
    database rolled it back (InnoDB does to a deadlock victim), the error is raised, since
    nothing can be recorded in it and the caller's transaction must roll back too.
    """
    in_callers_transaction = not transaction.get_autocommit(using=db)
    attempts = 1 if in_callers_transaction else PROCESSING_ATTEMPTS
    for attempt in range(1, attempts + 1):
        try:
            return run()
        except AlreadyRecorded:
            raise
        except WaitForStudent as wait:
            return Failure(outcome(Status.WAITING, wait.reason), wait)
        except SkipEvent as skip:
            return Failure(outcome(Status.SKIPPED, skip.reason))
        except Exception as exc:
            if in_callers_transaction and transaction.get_rollback(using=db):
                raise
            if attempt < attempts and _is_retryable(exc):
                logger.warning(
                    "Retrying Jodo event %s after %s: %s",
                    log_safe(name()),
                    type(exc).__name__,
                    log_safe(exc),
                )
                time.sleep(random.uniform(0, 0.05 * attempt))  # noqa: S311 - jitter only
                continue
            logger.exception(
                "Processing of Jodo event %s failed: %s", log_safe(name()), log_safe(exc)
            )
            return Failure(outcome(Status.FAILED, error=exc))
    raise AssertionError("unreachable")


# What the receivers see of an event on its first attempt, whatever its row holds.
BEFORE_ANY_ATTEMPT: dict[str, Any] = {
    "status": Status.RECEIVED,
    "status_reason": "",
    "processed_at": None,
    "attempts": 0,
}


def process_new_event(db: str, event: InboundEvent) -> None:
    """Record a new event and process it in one transaction: one commit, and no claim, since no
    one else can see the row before that commit.

    The row is inserted with the outcome of a successful attempt, so that no UPDATE follows
    the receivers: the transaction commits that outcome only together with their work. The
    receivers still see the event as before any attempt (`received`, 0 attempts). If one
    raises (SkipEvent or an error), the transaction rolls back, the row with it, and the row
    is inserted again with why: the receivers' work is gone, the delivery is not. A deadlock
    or a lost unique-key race runs the whole transaction again, a few times.

    Raises AlreadyRecorded if another delivery recorded the event_id first, and a database
    error if the row could not be stored (the answer is then 503: nothing was kept). `event`
    is unsaved; on return it is the row as stored.
    """
    started = time.perf_counter()
    planned = planned_outcome(event)
    succeeded = outcome(*planned) | {"attempts": 1}

    committed: list[bool] = []

    def record_and_run() -> None:
        try:
            with transaction.atomic(using=db):
                _set(event, succeeded)
                insert_event(db, event)
                # The first hook: any hook after it failing (the ERP's e-mail, say) is not a
                # failed attempt, since the event is committed with its outcome by then.
                transaction.on_commit(partial(committed.append, True), using=db)
                _set(event, BEFORE_ANY_ATTEMPT)
                run_receivers(event, planned)
        except Exception as exc:
            if not committed:
                raise
            logger.exception(
                "An on_commit callback failed after Jodo event %s was committed: %s",
                log_safe(event.event_id),
                log_safe(exc),
            )
        _set(event, succeeded)

    failure = _attempt(db, lambda: event.event_id, record_and_run)
    if failure is not None:
        # A receiver raised: its work was rolled back with the row; store the row with why.
        _set(event, failure.fields | {"attempts": 1})
        insert_event(db, event)
        failure.recheck_on_commit(db, event.pk)
    observe_processing(event.event_type, event.status, time.perf_counter() - started)


def _set(event: InboundEvent, fields: dict[str, Any]) -> None:
    for name, value in fields.items():
        setattr(event, name, value)


def process_event(event_pk: int, *, force: bool = False) -> str | None:
    """Claim a recorded event, run the receivers and record the outcome, in one transaction.

    Returns the new status, or None when the event was not claimable: another worker holds it,
    or it already reached a final status (unless `force`). A crash or a dropped connection
    mid-way rolls back claim and work together, leaving the event as it was. A deadlock or a
    lost unique-key race is retried from the start (claim included) a few times before it
    counts as a failure; inside a caller's transaction it fails at once.
    """
    return _process(event_pk, force=force, recheck=True)


def _process(event_pk: int, *, force: bool, recheck: bool) -> str | None:
    claimable: list[str] = list(Status) if force else list(RETRYABLE_STATUSES)
    db = router.db_for_write(InboundEvent)
    claimed: list[InboundEvent] = []  # the event as the latest attempt claimed it
    started = time.perf_counter()

    def claim_and_run() -> str | None:
        claimed.clear()
        with transaction.atomic(using=db):
            event = _claim(db, event_pk, claimable)
            if event is None:
                return None
            claimed.append(event)
            planned = planned_outcome(event)
            run_receivers(event, planned)
            _events(db, event_pk).update(**outcome(*planned), attempts=F("attempts") + 1)
            return planned[0]

    def name() -> str:
        return claimed[0].event_id if claimed else f"pk={event_pk}"

    result = _attempt(db, name, claim_and_run)
    if isinstance(result, Failure):
        # The receivers' work is rolled back; the outcome is recorded in its own transaction.
        status = _record_outcome(db, event_pk, claimable, claimed[0] if claimed else None, result)
        if status is not None and recheck:
            result.recheck_on_commit(db, event_pk)
    else:
        status = result
    event_type = claimed[0].event_type if claimed else ""
    observe_processing(event_type, status, time.perf_counter() - started)
    return status


def _events(db: str, event_pk: int) -> QuerySet[InboundEvent]:
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
    failure: Failure,
) -> str | None:
    """Record a skip or a failure after the rollback, in its own transaction: unless another
    worker ran an attempt since this one's claim (its `attempts` moved on), whose outcome
    stands. With `force` every status is claimable, so the status alone cannot tell."""
    unchanged = _events(db, event_pk).filter(status__in=claimable)
    if claimed is not None:
        unchanged = unchanged.filter(attempts=claimed.attempts)
    with transaction.atomic(using=db):
        updated = unchanged.update(**failure.fields, attempts=F("attempts") + 1)
    return str(failure.fields["status"]) if updated else None
