"""The health verdict: does anything need an operator before Jodo disables the subscription?

One rule set for `jodo_status --check`, the health URL and the django-health-check plugin; the
thresholds are settings (README, "Monitoring").
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from .conf import app_settings
from .monitoring import Backlog, Snapshot

# The checks, by the stable names the health URL and the metrics show.
FAILED_EVENTS = "failed_events"
WAITING_EVENTS = "waiting_events"
NO_EVENTS = "no_events"
PAYMENTS_WAITING = "payments_waiting"
CHECKS = (FAILED_EVENTS, WAITING_EVENTS, NO_EVENTS, PAYMENTS_WAITING)


@dataclass(frozen=True, slots=True)
class Problem:
    check: str  # a stable name, shown even to the public: never a number or a detail
    message: str  # what is wrong and what to do, for operators


def problems(snapshot: Snapshot) -> list[Problem]:
    """What needs attention in `snapshot`; empty when all is well."""
    found: list[Problem] = []
    now = snapshot.taken_at
    max_failed = app_settings.HEALTH_MAX_FAILED_EVENTS
    if snapshot.failed.count > max_failed:
        found.append(
            Problem(
                FAILED_EVENTS,
                f"{snapshot.failed.count} failed event(s) not dismissed (more than {max_failed}): "
                "see `manage.py jodo_reprocess --failed`, or dismiss in the admin those that can "
                "never succeed.",
            )
        )
    found += _waited_too_long(
        WAITING_EVENTS,
        snapshot.waiting,
        now,
        timedelta(minutes=app_settings.HEALTH_MAX_WAITING_MINUTES),
        "event(s) waiting for processing",
        "are the task workers running? `manage.py jodo_reprocess --pending` processes them.",
    )
    max_silence = timedelta(hours=app_settings.HEALTH_MAX_SILENCE_HOURS)
    if max_silence and snapshot.last_received_at is not None:
        silence = now - snapshot.last_received_at
        if silence > max_silence:
            found.append(
                Problem(
                    NO_EVENTS,
                    f"no event received for {_duration(silence)} (more than "
                    f"{_duration(max_silence)}): check the subscription at Jodo and the latest "
                    "rejected deliveries.",
                )
            )
    found += _waited_too_long(
        PAYMENTS_WAITING,
        snapshot.payments_waiting,
        now,
        timedelta(hours=app_settings.HEALTH_MAX_PAYMENT_WAITING_HOURS),
        "payment(s) waiting for their student",
        "the student's registration has not arrived.",
    )
    return found


def _waited_too_long(
    check: str, backlog: Backlog, now: datetime, limit: timedelta, what: str, advice: str
) -> list[Problem]:
    """A problem when the oldest of `backlog` has waited longer than `limit` (0: never)."""
    waited = backlog.oldest_age(now)
    if not limit or waited <= limit:
        return []
    message = (
        f"{backlog.count} {what}, the oldest for {_duration(waited)} "
        f"(more than {_duration(limit)}): {advice}"
    )
    return [Problem(check, message)]


def _duration(delta: timedelta) -> str:
    minutes = int(delta.total_seconds() // 60)
    if minutes < 120 and (minutes < 60 or minutes % 60):
        return f"{minutes} min"
    hours = minutes // 60
    return f"{hours} h" if hours < 48 else f"{hours // 24} days"
