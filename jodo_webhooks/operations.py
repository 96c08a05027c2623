"""What operators do: reprocess and prune events (the admin and the commands), and the audited
actions (dismiss, unlink), each recorded in the admin log with who did it and why.

The admin's actions and the management commands call these; they hold the rules, the callers
only ask and report.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import Any

from django.contrib.admin.models import CHANGE, LogEntry
from django.db import router, transaction
from django.db.models import QuerySet

from .metrics import observe_dismissals
from .models import InboundEvent
from .processing import process_event
from .student_sync import StudentSync

Status = InboundEvent.Status
NOT_CLAIMED = "not claimed"  # held by another worker, or already final (without force)

# Reprocessing and pruning.


def format_counts(counts: Mapping[str, int]) -> str:
    """Counts by status as operators read them: "2 failed, 8 processed"."""
    return ", ".join(f"{n} {status}" for status, n in sorted(counts.items()))


def reprocess_events(
    event_pks: Iterable[int],
    *,
    force: bool = False,
    progress: Callable[[int, str, Counter[str]], None] | None = None,
) -> Counter[str]:
    """Run `process_event` over events one by one; counts outcomes by status.

    `progress(event_pk, outcome, outcomes so far)` is called after each event.
    """
    outcomes: Counter[str] = Counter()
    for pk in event_pks:
        outcome = process_event(pk, force=force) or NOT_CLAIMED
        outcomes[outcome] += 1
        if progress is not None:
            progress(pk, outcome, outcomes)
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


# The audited actions.


def dismiss_events(event_pks: Iterable[int], *, user: Any, reason: str) -> list[InboundEvent]:
    """Mark failed events as dismissed: failures that can never succeed, acknowledged.

    Only events that are `failed` when the row is locked change, so one that a concurrent
    reprocess just fixed stays fixed. Returns the dismissed events.
    """
    reason = reason.strip()
    if not reason:
        raise ValueError("Dismissing an event needs a reason.")
    db = router.db_for_write(InboundEvent)
    with transaction.atomic(using=db):
        events = list(
            InboundEvent.objects.using(db)
            .filter(pk__in=list(event_pks), status=Status.FAILED)
            .select_for_update()
            .only("pk", "event_id", "event_type")
        )
        InboundEvent.objects.using(db).filter(pk__in=[event.pk for event in events]).update(
            status=Status.DISMISSED, status_reason=f"Dismissed by {user.get_username()}: {reason}"
        )
        LogEntry.objects.log_actions(user.pk, events, CHANGE, change_message=f"Dismissed: {reason}")
    observe_dismissals(event.event_type for event in events)
    return events


def unlink_students(
    sync: StudentSync, student_pks: Iterable[Any], *, user: Any, reason: str
) -> list[tuple[Any, str]]:
    """Detach students from their Jodo records, to resolve a conflict.

    Sets the Jodo student id to NULL and forgets the Jodo timestamp, so that the record is the
    ERP's again: its fields become editable, and reprocessing the conflicting event can link
    it (by identifier) to the Jodo student the event names, however old that event is.
    Returns (student, the Jodo id it had) for each student changed.
    """
    reason = reason.strip()
    if not reason:
        raise ValueError("Unlinking a student needs a reason.")
    model = sync.model_class
    cleared = {sync.jodo_student_id: None}
    if model._meta.get_field(sync.jodo_updated_at).null:
        cleared[sync.jodo_updated_at] = None
    db = router.db_for_write(model)
    with transaction.atomic(using=db):
        students = list(
            model._default_manager.using(db)
            .filter(pk__in=list(student_pks))
            .exclude(**{sync.jodo_student_id: None}, **{f"{sync.jodo_updated_at}__isnull": True})
            .select_for_update()
        )
        unlinked = [(student, getattr(student, sync.jodo_student_id) or "") for student in students]
        model._default_manager.using(db).filter(pk__in=[s.pk for s in students]).update(**cleared)
        for student, jodo_id in unlinked:
            LogEntry.objects.log_actions(
                user.pk,
                [student],
                CHANGE,
                change_message=f"Unlinked from Jodo student {jodo_id or '(none)'}: {reason}",
                single_object=True,
            )
    return unlinked
