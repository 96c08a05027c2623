"""Prometheus metrics, with the official `prometheus-client` (the `metrics` extra).

Two kinds, chosen by where the truth is:

- What happens in a request or a worker (deliveries by answer, event outcomes, processing
  time) is counted in the process, by `observe_*`. Under gunicorn with several workers the
  library's multiprocess mode (PROMETHEUS_MULTIPROC_DIR) sums every process's counts at scrape
  time, those of exited workers included; without it, each process counts on its own.
- What the database knows (events waiting, failures, refusals of the last hour, the last event
  received) is read at scrape time by `take_snapshot()`: the same for every process and every
  machine, and correct without any cross-process bookkeeping.

Without prometheus-client installed every `observe_*` is a no-op and `exposition()` is None.
Label values are bounded: event types outside Jodo's documented codes are "other".
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from functools import cache
from typing import TYPE_CHECKING

from .event_types import DOCUMENTED_EVENT_TYPES
from .health import CHECKS, problems
from .models import InboundEvent, RejectedDelivery
from .monitoring import PAYMENT_WAITING, take_snapshot

if TYPE_CHECKING:
    from prometheus_client.registry import Collector

try:
    from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
    from prometheus_client.core import GaugeMetricFamily, Metric
    from prometheus_client.multiprocess import MultiProcessCollector
except ImportError:  # the `metrics` extra is not installed: nothing is recorded
    AVAILABLE = False
else:
    AVAILABLE = True

PREFIX = "jodo_webhooks_"
# The text format 0.0.4, which every Prometheus release reads; the metrics need nothing newer.
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

Reason = RejectedDelivery.Reason
OTHER = "other"
# The answers a delivery can get (the `answer` label); refusals are detailed by reason.
ANSWERS = ("accepted", "duplicate", "refused", "conflict", "unavailable", "server_error", OTHER)
REFUSAL_REASONS = tuple(reason for reason in Reason.values if reason != Reason.DIGEST_MISMATCH)
OUTCOMES = frozenset({*InboundEvent.Status.values, PAYMENT_WAITING})

if AVAILABLE:
    # In-process metrics live in the app's own registry, not the library's global one, so that
    # the ERP's own metrics and ours never collide.
    REGISTRY = CollectorRegistry()
    _deliveries = Counter(
        "jodo_webhooks_deliveries",
        "Deliveries to the webhook endpoint, by the answer they got.",
        ["answer"],
        registry=REGISTRY,
    )
    _refused = Counter(
        "jodo_webhooks_refused_deliveries",
        "Deliveries refused before their event was recorded, by reason.",
        ["reason"],
        registry=REGISTRY,
    )
    _outcomes = Counter(
        "jodo_webhooks_event_outcomes",
        "Events processed (or dismissed by an operator), by event type and outcome.",
        ["event_type", "outcome"],
        registry=REGISTRY,
    )
    _processing = Histogram(
        "jodo_webhooks_processing_seconds",
        "Time to process an event (inserted or claimed, receivers, outcome recorded), "
        "by event type.",
        ["event_type"],
        registry=REGISTRY,
    )
    # Bound once: every answer and reason is exported from the start (at 0), and counting a
    # delivery is one dictionary look-up and one increment.
    _by_answer = {answer: _deliveries.labels(answer=answer) for answer in ANSWERS}
    _by_reason = {reason: _refused.labels(reason=reason) for reason in REFUSAL_REASONS}


def event_type_label(event_type: str) -> str:
    return event_type if event_type in DOCUMENTED_EVENT_TYPES else OTHER


def observe_delivery(answer: str) -> None:
    """Count one delivery: `answer` is "accepted", "duplicate", "unavailable", "server_error",
    or the refusal's reason (a `RejectedDelivery.Reason`; a digest mismatch is a "conflict")."""
    if not AVAILABLE:
        return
    if answer == Reason.DIGEST_MISMATCH:
        answer = "conflict"
    elif answer in _by_reason:
        _by_reason[answer].inc()
        answer = "refused"
    _by_answer.get(answer, _by_answer[OTHER]).inc()


def observe_processing(event_type: str, outcome: str | None, seconds: float) -> None:
    """Count one processing of an event and its time; `outcome` None (the event was not
    claimed: another worker has it, or it was already settled) counts nothing."""
    if not AVAILABLE or outcome is None:
        return
    label = event_type_label(event_type)
    _outcome_counter(label, outcome if outcome in OUTCOMES else OTHER).inc()
    _processing_histogram(label).observe(seconds)


def observe_dismissals(event_types: Iterable[str]) -> None:
    """Count failed events an operator dismissed."""
    if not AVAILABLE:
        return
    for event_type in event_types:
        _outcome_counter(event_type_label(event_type), "dismissed").inc()


# The labelled children, looked up once per label set (bounded: the documented event types,
# "other" and the outcomes); prometheus-client's own look-up costs several times more.
@cache
def _outcome_counter(event_type: str, outcome: str) -> Counter:
    return _outcomes.labels(event_type=event_type, outcome=outcome)


@cache
def _processing_histogram(event_type: str) -> Histogram:
    return _processing.labels(event_type=event_type)


def exposition() -> bytes | None:
    """The metrics in Prometheus' text format; None without prometheus-client."""
    if not AVAILABLE:
        return None
    registry = CollectorRegistry()
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        # The library leaves this constructor unannotated.
        collector = MultiProcessCollector(None)  # type: ignore[no-untyped-call]
        registry.register(_OwnMetrics(collector))
    else:
        registry.register(REGISTRY)
    registry.register(_DatabaseMetrics())
    return generate_latest(registry)


class _OwnMetrics:
    """The app's metrics among all those of the multiprocess directory, which the ERP may use
    for its own metrics too."""

    def __init__(self, collector: Collector) -> None:
        self.collector = collector

    def collect(self) -> Iterator[Metric]:
        return (metric for metric in self.collector.collect() if metric.name.startswith(PREFIX))

    def describe(self) -> list[Metric]:
        return []


class _DatabaseMetrics:
    """Gauges read from the database at scrape time: three indexed statements (see
    monitoring.py), whatever the table sizes."""

    def collect(self) -> Iterator[Metric]:
        snapshot = take_snapshot()
        now = snapshot.taken_at
        backlogs = (
            ("events_waiting", "oldest_waiting_event", "Events recorded, not processed yet",
             snapshot.waiting),
            ("events_failed", "oldest_failed_event", "Failed events not dismissed",
             snapshot.failed),
            ("payments_waiting_for_student", "oldest_payment_waiting",
             "Payment events waiting for their student", snapshot.payments_waiting),
        )  # fmt: skip
        for count_name, age_name, description, backlog in backlogs:
            yield GaugeMetricFamily(PREFIX + count_name, f"{description}.", backlog.count)
            yield GaugeMetricFamily(
                f"{PREFIX}{age_name}_age_seconds",
                f"{description}: the oldest one's age (0 when there is none).",
                backlog.oldest_age(now).total_seconds(),
            )
        rejected = GaugeMetricFamily(
            PREFIX + "rejected_deliveries_last_hour",
            "Deliveries refused in the last hour, by reason (from the kept rejected deliveries).",
            labels=["reason"],
        )
        for reason, count in snapshot.rejected_last_hour.items():
            rejected.add_metric([reason], count)
        yield rejected
        if snapshot.last_received_at is not None:
            yield GaugeMetricFamily(
                PREFIX + "last_event_received_timestamp_seconds",
                "When the newest event was received (Unix time); absent before the first.",
                snapshot.last_received_at.timestamp(),
            )
        failing = {problem.check for problem in problems(snapshot)}
        health = GaugeMetricFamily(
            PREFIX + "health_check_failing",
            "1 when this check of the health verdict needs attention, else 0.",
            labels=["check"],
        )
        for check in CHECKS:
            health.add_metric([check], 1 if check in failing else 0)
        yield health

    def describe(self) -> list[Metric]:
        return []  # registering must not run the queries
