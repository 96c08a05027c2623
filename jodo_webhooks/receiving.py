"""Receiving a verified delivery: record its event, then process it (inline) or enqueue it (task).

`receive_envelope` is what the view calls once the envelope is valid. It returns once the event
is durably recorded (the view answers 2xx), and raises a database error when it could not
be (the view answers 503, and nothing of the delivery is kept).
"""

from __future__ import annotations

import logging
from typing import Any

from django.db import router, transaction

from .conf import app_settings
from .logs import log_safe
from .models import InboundEvent
from .processing import RETRYABLE_STATUSES, process_event, process_new_event
from .recording import (
    AlreadyRecorded,
    Delivery,
    RecordedDelivery,
    counted_redelivery,
    insert_alone,
    insert_event,
    new_event,
)

logger = logging.getLogger("jodo_webhooks")


def receive_envelope(
    envelope: dict[str, Any], raw_text: str, headers: dict[str, str], remote_addr: str | None
) -> RecordedDelivery:
    """Record the delivery of a validated envelope and have its event processed.

    A new event: inline, recorded and processed in one transaction; in task mode, recorded and
    enqueued (in one transaction when the task queue is in the same database). A redelivery of
    a recorded event: counted, and processed (or enqueued) again if it is still unprocessed or
    failed. A known event_id with other content: counted as a mismatch, nothing else.
    """
    db = router.db_for_write(InboundEvent)
    event = new_event(envelope, raw_text, headers, remote_addr)
    task_mode = app_settings.PROCESSING == "task"
    # Inline, looking first spares a redelivery the transaction that would insert and process
    # it, only to fail on the unique event_id: 2 statements instead of 5. Task mode's ingest is
    # so light that the look would cost new events more than it saves redeliveries. Either
    # way the unique index, not the look, decides a race.
    recorded = None if task_mode else counted_redelivery(db, event)
    if recorded is None:
        try:
            if task_mode:
                _record_and_enqueue(db, event)
            else:
                process_new_event(db, event)
            return RecordedDelivery(Delivery.ACCEPTED, event)
        except AlreadyRecorded as taken:  # a delivery of the same event_id got in first
            recorded = counted_redelivery(db, event)
            if recorded is None:
                raise taken.error from None  # not the event_id: a real error, reported as such
    if recorded.kind is Delivery.DUPLICATE and recorded.event.status in RETRYABLE_STATUSES:
        _process_again(db, recorded.event)
    return recorded


def _process_again(db: str, event: InboundEvent) -> None:
    """Process (or enqueue) a redelivered event that an earlier attempt did not settle.

    Never raises: the event is durably recorded, and whatever goes wrong here is retried by
    the next delivery or `jodo_reprocess`, so the answer to Jodo stays 2xx.
    """
    if app_settings.PROCESSING == "task":
        enqueue(event)
        return
    try:
        process_event(event.pk)
    except Exception:
        logger.exception("Could not process Jodo event %s", log_safe(event.event_id))


def _record_and_enqueue(db: str, event: InboundEvent) -> None:
    """Task mode: the INSERT and the enqueue in one transaction when the queue's table is in the
    same database (one commit; a worker sees both or neither); otherwise the enqueue after the
    commit, so that no worker can look for the event before it is stored."""
    from .tasks import stores_tasks_in  # the Tasks API is only needed in task mode

    if stores_tasks_in(db):
        inserted = False
        try:
            with transaction.atomic(using=db):
                insert_event(db, event)
                inserted = True
                _enqueue_or_raise(event)
            return
        except Exception:
            if not inserted:
                raise
            # The enqueue failed and took the INSERT with it: the event is stored on its own.
            _log_enqueue_failure(event)
        insert_alone(db, event)
        return
    insert_alone(db, event)
    transaction.on_commit(lambda: enqueue(event), using=db)


def _enqueue_or_raise(event: InboundEvent) -> None:
    from .tasks import process_event_task

    process_event_task.enqueue(event.pk)


def enqueue(event: InboundEvent) -> None:
    """Enqueue the event's processing; a failure is logged, the event waits for a retry."""
    try:
        _enqueue_or_raise(event)
    except Exception:
        _log_enqueue_failure(event)


def _log_enqueue_failure(event: InboundEvent) -> None:
    logger.exception(
        "Could not enqueue Jodo event %s; it stays received for `jodo_reprocess --pending`",
        log_safe(event.event_id),
    )
