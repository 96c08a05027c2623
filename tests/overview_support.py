"""Events and rejected deliveries at known statuses and ages, for the overview page's tests,
and what the database says the page should show."""

from __future__ import annotations

from datetime import datetime, timedelta
from urllib.parse import parse_qs, urlsplit

from django.utils import timezone

from jodo_webhooks.models import InboundEvent, RejectedDelivery

from .factories import InboundEventFactory

GRADE = "ValueError: grade 'XX' is not a class this school has"
MISSING = "KeyError: 'student'"
# (status, hours ago, reason): none near the 24 hour, 48 hour or 7 day edges.
EVENTS = [
    ("failed", 1.2, GRADE),
    ("failed", 5.5, GRADE),
    ("failed", 30.1, MISSING),
    ("failed", 100, GRADE),
    ("processed", 0.2, ""),
    ("processed", 2.1, ""),
    ("processed", 2.6, ""),
    ("processed", 20.3, ""),
    ("processed", 46.5, ""),
    ("processed", 60, ""),
    ("processed", 200, ""),
    ("received", 3.4, ""),
    ("received", 26.2, ""),
    ("waiting", 50.5, "student J-9 is not known yet"),  # the payments' status, by value
    ("skipped", 10.7, "stale"),
    ("dismissed", 12.2, "Dismissed by root: wrong data"),
    ("ignored", 40.4, "no receiver handles test.other"),
]
REJECTED = [
    ("signature", 1.1),
    ("signature", 1.3),
    ("signature", 1.5),
    ("malformed", 7.2),
    ("too_large", 30.6),
    ("signature", 60),
]


def record_known_events(now: datetime) -> None:
    for status, hours, reason in EVENTS:
        InboundEventFactory(
            status=status,
            received_at=now - timedelta(hours=hours),
            status_reason=reason,
            last_error=reason if status == "failed" else "",
        )
    RejectedDelivery.objects.bulk_create(
        RejectedDelivery(reason=reason, received_at=now - timedelta(hours=hours))
        for reason, hours in REJECTED
    )


def counted_by(href: str) -> int:
    """How many rows the database has for a link's filters (the numbers the page must show)."""
    parts = urlsplit(href)
    filters = {name: value for name, (value,) in parse_qs(parts.query).items()}
    if "/rejecteddelivery/" in parts.path:
        return RejectedDelivery.objects.filter(**filters).count()
    if "failure_reason" in filters:
        filters.update(status="failed", status_reason=filters.pop("failure_reason"))
    return InboundEvent.objects.filter(**filters).count()


def local_hour_start(moment: str) -> bool:
    local = timezone.localtime(datetime.fromisoformat(moment))
    return local.minute == local.second == 0
