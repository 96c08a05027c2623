"""Maintenance: reprocessing recorded events and pruning old ones."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import Any

from django.db import router
from django.db.models import QuerySet

from .models import InboundEvent
from .processing import process_event

Status = InboundEvent.Status
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


def prunable_events(cutoff: datetime, *, include_failed: bool = False) -> QuerySet[InboundEvent]:
    """Settled events received before `cutoff`; `received` ones are never pruned.

    Dismissed events are settled: an operator acknowledged them, and the admin log keeps who
    and why after the row is gone.
    """
    statuses = [Status.PROCESSED, Status.SKIPPED, Status.IGNORED, Status.DISMISSED]
    if include_failed:
        statuses.append(Status.FAILED)
    return InboundEvent.objects.filter(received_at__lt=cutoff, status__in=statuses)


def delete_in_batches(queryset: QuerySet[Any], batch_size: int = 1000) -> int:
    """Delete `queryset` a batch at a time, so no single statement holds locks for long."""
    # Read from the database written to: a lagging replica would list rows already deleted.
    queryset = queryset.using(router.db_for_write(queryset.model))
    deleted = 0
    while True:
        batch = list(queryset.order_by("pk").values_list("pk", flat=True)[:batch_size])
        if not batch:
            return deleted
        deleted += queryset.filter(pk__in=batch).delete()[0]
