"""The health verdict: does anything need an operator before Jodo disables the subscription?

One rule set for `jodo_status --check`, the health URL and the django-health-check plugin; the
thresholds are settings (README, "Monitoring").
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from .conf import app_settings
from .monitoring import Snapshot

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
    max_waiting = timedelta(minutes=app_settings.HEALTH_MAX_WAITING_MINUTES)
    waited = snapshot.waiting.oldest_age(now)
    if max_waiting and waited > max_waiting:
        found.append(
            Problem(
                WAITING_EVENTS,
                f"{snapshot.waiting.count} event(s) waiting for processing, the oldest for "
                f"{_duration(waited)} (more than {_duration(max_waiting)}): are the task workers "
                "running? `manage.py jodo_reprocess --pending` processes them.",
            )
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
    max_payment_wait = timedelta(hours=app_settings.HEALTH_MAX_PAYMENT_WAITING_HOURS)
    payment_waited = snapshot.payments_waiting.oldest_age(now)
    if max_payment_wait and payment_waited > max_payment_wait:
        found.append(
            Problem(
                PAYMENTS_WAITING,
                f"{snapshot.payments_waiting.count} payment(s) waiting for their student, the "
                f"oldest for {_duration(payment_waited)} (more than "
                f"{_duration(max_payment_wait)}): the student's registration has not arrived.",
            )
        )
    return found


def _duration(delta: timedelta) -> str:
    minutes = int(delta.total_seconds() // 60)
    if minutes < 120 and (minutes < 60 or minutes % 60):
        return f"{minutes} min"
    hours = minutes // 60
    return f"{hours} h" if hours < 48 else f"{hours // 24} days"
