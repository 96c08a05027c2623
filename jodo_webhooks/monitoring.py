"""What the database says about the receiver right now, for the metrics, the health verdict and
`jodo_status --check`.

A snapshot takes three statements whatever the table sizes, each served by an index: the
events waiting, failed or waiting for their student (the status/received_at index), the last
event received (the received_at index) and the refusals of the last hour (the rejected
deliveries' received_at index; that table is bounded anyway).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db.models import Count, Max, Min
from django.utils import timezone

from .models import InboundEvent, RejectedDelivery

Status = InboundEvent.Status

# A payment event whose student the ERP does not know yet (the payment sync's status).
PAYMENT_WAITING = Status.WAITING.value

REJECTED_WINDOW = timedelta(hours=1)


@dataclass(frozen=True, slots=True)
class Backlog:
    """Events of one status: how many, and when the oldest of them was received."""

    count: int = 0
    oldest_received_at: datetime | None = None

    def oldest_age(self, now: datetime) -> timedelta:
        """How long the oldest has been there; zero when there is none."""
        if self.oldest_received_at is None:
            return timedelta(0)
        return max(now - self.oldest_received_at, timedelta(0))


@dataclass(frozen=True, slots=True)
class Snapshot:
    taken_at: datetime
    waiting: Backlog  # recorded, not processed yet (`received`)
    failed: Backlog  # failed and not dismissed
    payments_waiting: Backlog  # payments waiting for their student
    last_received_at: datetime | None
    # Refused deliveries of the last hour by reason (every reason, zero included).
    rejected_last_hour: dict[str, int] = field(default_factory=dict)


def take_snapshot() -> Snapshot:
    now = timezone.now()
    backlogs = {
        row["status"]: Backlog(row["n"], row["oldest"])
        for row in InboundEvent.objects.filter(
            status__in=[Status.RECEIVED, Status.FAILED, PAYMENT_WAITING]
        )
        .order_by()
        .values("status")
        .annotate(n=Count("pk"), oldest=Min("received_at"))
    }
    last_received_at = InboundEvent.objects.aggregate(last=Max("received_at"))["last"]
    rejected = dict.fromkeys(RejectedDelivery.Reason.values, 0)
    for row in (
        RejectedDelivery.objects.filter(received_at__gte=now - REJECTED_WINDOW)
        .order_by()
        .values("reason")
        .annotate(n=Count("pk"))
    ):
        rejected[row["reason"]] = row["n"]
    return Snapshot(
        taken_at=now,
        waiting=backlogs.get(Status.RECEIVED, Backlog()),
        failed=backlogs.get(Status.FAILED, Backlog()),
        payments_waiting=backlogs.get(PAYMENT_WAITING, Backlog()),
        last_received_at=last_received_at,
        rejected_last_hour=rejected,
    )
