"""After a delivery is recorded: process its event in the request, or enqueue a task for it."""

from __future__ import annotations

import logging

from django.db import router, transaction

from .conf import app_settings
from .logs import log_safe
from .models import InboundEvent
from .processing import RETRYABLE_STATUSES, process_event
from .recording import Delivery, RecordedDelivery

logger = logging.getLogger("jodo_webhooks")


def process_after_delivery(recorded: RecordedDelivery) -> None:
    """Process (or enqueue) a delivery's event unless an earlier attempt already settled it.

    Never raises: the event is durably recorded, and whatever goes wrong here is retried by
    the next delivery or `jodo_reprocess`, so the answer to Jodo stays 2xx.
    """
    event = recorded.event
    if recorded.kind is Delivery.MISMATCH or event.status not in RETRYABLE_STATUSES:
        return
    if app_settings.PROCESSING == "task":
        db = router.db_for_write(InboundEvent)
        transaction.on_commit(lambda: enqueue(event), using=db)
        return
    try:
        # A new event is complete in memory; a redelivered one was read only in part.
        process_event(event.pk, recorded=event if recorded.kind is Delivery.NEW else None)
    except Exception:
        logger.exception("Could not process Jodo event %s", log_safe(event.event_id))


def enqueue(event: InboundEvent) -> None:
    from .tasks import process_event_task  # the Tasks API is only needed in task mode

    try:
        process_event_task.enqueue(event.pk)
    except Exception:
        logger.exception(
            "Could not enqueue Jodo event %s; it stays received for `jodo_reprocess --pending`",
            log_safe(event.event_id),
        )
