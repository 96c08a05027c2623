"""The overview page: counts by status, events and rejected deliveries per hour, what waits and
why events fail; every number links to the list it counts.

A fixed number of queries whatever the tables hold: each aggregate is one grouped query over an
index (`received_at`, or `status, received_at`). Hours are cut in Python in the current time
zone and counted with one CASE per query, so no database needs its time zone tables.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.db import models
from django.db.models import Case, Count, IntegerField, Min, Q, QuerySet, Value, When
from django.db.models.functions import Left
from django.http import HttpRequest
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from django.utils.http import urlencode
from django.utils.text import Truncator

from ..models import InboundEvent, RejectedDelivery
from .charts import Cell, Series, stacked_hourly_chart
from .common import short_id

Status = InboundEvent.Status
HOURS = 48
TOP_REASONS = 10
REASON_PREFIX = 200  # failures are grouped by their reason's first characters
# Not processed yet: recorded and not run, or (payments) waiting for their student to exist.
WAITING_STATUSES = [Status.RECEIVED.value, Status.WAITING.value]
# What needs an operator first; statuses the app does not know follow.
STATUS_ORDER = [
    Status.FAILED.value,
    Status.WAITING.value,
    Status.RECEIVED.value,
    Status.SKIPPED.value,
    Status.IGNORED.value,
    Status.DISMISSED.value,
    Status.PROCESSED.value,
]


@dataclass(frozen=True)
class StatusRow:
    series: Series
    day: Cell
    week: Cell


@dataclass(frozen=True)
class Waiting:
    series: Series
    count: Cell


@dataclass(frozen=True)
class OldestEvent:
    event_id: str
    short_id: str
    event_type: str
    status: str
    received_at: datetime
    href: str


@dataclass(frozen=True)
class Reason:
    text: str
    shown: str
    count: Cell


class FailureReasonFilter(admin.SimpleListFilter):
    """Failed events whose reason is (or starts with) a text; shown only while applied (set by
    the overview's links)."""

    title = "failure reason"
    parameter_name = "failure_reason"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        value = self.value()
        return [(value, Truncator(value).chars(60))] if value else []

    def queryset(
        self, request: HttpRequest, queryset: QuerySet[InboundEvent]
    ) -> QuerySet[InboundEvent]:
        value = self.value()
        if not value:
            return queryset
        # The overview groups by the first REASON_PREFIX characters: a prefix that long
        # stands for every reason that starts with it.
        lookup = "status_reason__startswith" if len(value) >= REASON_PREFIX else "status_reason"
        return queryset.filter(status=Status.FAILED, **{lookup: value})


class EventOverviewMixin(admin.ModelAdmin):
    """For the events' ModelAdmin: the overview page at `overview/`, linked from the list."""

    def get_urls(self) -> list[URLPattern]:
        name = f"{self.opts.app_label}_{self.opts.model_name}_overview"
        view = self.admin_site.admin_view(self.overview_view)
        # Before the ModelAdmin's own: "<path:object_id>/" would take "overview/".
        return [path("overview/", view, name=name), *super().get_urls()]

    def changelist_view(self, request: HttpRequest, extra_context: Any = None) -> Any:
        extra_context = {**(extra_context or {}), "jodo_overview_url": self.overview_url()}
        return super().changelist_view(request, extra_context)

    def overview_url(self) -> str:
        name = f"{self.opts.app_label}_{self.opts.model_name}_overview"
        return reverse(f"{self.admin_site.name}:{name}")

    def overview_view(self, request: HttpRequest) -> TemplateResponse:
        if not self.has_view_permission(request):
            raise PermissionDenied
        now = timezone.now().replace(microsecond=0)
        context = {
            **self.admin_site.each_context(request),
            "title": "Jodo webhooks overview",
            "opts": self.opts,
            "now": now,
            "time_zone": timezone.get_current_timezone_name(),
            "changelist_url": changelist_url(self.admin_site, InboundEvent),
            **overview(self.admin_site, request, now),
        }
        return TemplateResponse(request, "admin/jodo_webhooks/overview.html", context)


def overview(site: admin.AdminSite, request: HttpRequest, now: datetime) -> dict[str, Any]:
    """The page's numbers, each with the link to the list it counts."""
    events = ListLinks(site, request, InboundEvent)
    rejected = ListLinks(site, request, RejectedDelivery)
    bounds = hour_bounds(now)
    day, week = now - timedelta(days=1), now - timedelta(days=7)

    by_status = status_counts(day, week)
    hourly = hourly_counts(InboundEvent.objects.all(), "status", bounds)
    attention = attention_counts()
    rejected_hourly = hourly_counts(RejectedDelivery.objects.all(), "reason", bounds)
    statuses = status_series({*by_status, *(key for _, key in hourly), *attention})

    rows = [
        StatusRow(
            s,
            Cell(by_status.get(s.key, (0, 0))[0], events.link(status__exact=s.key, since=day)),
            Cell(by_status.get(s.key, (0, 0))[1], events.link(status__exact=s.key, since=week)),
        )
        for s in statuses
    ]
    waiting = {key: attention[key] for key in WAITING_STATUSES if key in attention}
    failed = {key: attention[key] for key in [Status.FAILED.value] if key in attention}
    return {
        "status_rows": rows,
        "all_row": StatusRow(
            Series("", "All", ""),
            Cell(sum(row.day.count for row in rows), events.link(since=day)),
            Cell(sum(row.week.count for row in rows), events.link(since=week)),
        ),
        "waiting": [
            Waiting(s, Cell(waiting[s.key][0], events.link(status__exact=s.key)))
            for s in statuses
            if s.key in waiting
        ],
        "oldest_waiting": oldest_event(waiting, events),
        "failed": Cell(sum(n for n, _ in failed.values()), events.link(status__exact="failed")),
        "oldest_failed": oldest_event(failed, events),
        "reasons": [
            Reason(text, Truncator(text).chars(120), Cell(n, events.link(failure_reason=text)))
            for text, n in failure_reasons()
        ],
        "events_chart": stacked_hourly_chart(
            bounds,
            statuses,
            hourly,
            lambda key, start, end: events.link(status__exact=key, since=start, until=end),
        ),
        "rejected_chart": stacked_hourly_chart(
            bounds,
            reason_series({key for _, key in rejected_hourly}),
            rejected_hourly,
            lambda key, start, end: rejected.link(reason__exact=key, since=start, until=end),
        ),
    }


class ListLinks:
    """Links to a model's changelist with filters, or "" for a user who may not see it."""

    def __init__(
        self, site: admin.AdminSite, request: HttpRequest, model: type[models.Model]
    ) -> None:
        model_admin = site.get_model_admin(model) if site.is_registered(model) else None
        allowed = model_admin is not None and model_admin.has_view_permission(request)
        self.url = changelist_url(site, model) if allowed else ""
        self.site = site
        self.model = model

    def link(
        self, *, since: datetime | None = None, until: datetime | None = None, **filters: str
    ) -> str:
        if not self.url:
            return ""
        params = dict(filters)
        if since is not None:
            params["received_at__gte"] = timezone.localtime(since).isoformat()
        if until is not None:
            params["received_at__lt"] = timezone.localtime(until).isoformat()
        return f"{self.url}?{urlencode(params)}" if params else self.url

    def change_url(self, pk: int) -> str:
        if not self.url:
            return ""
        opts = self.model._meta
        return reverse(f"{self.site.name}:{opts.app_label}_{opts.model_name}_change", args=[pk])


def changelist_url(site: admin.AdminSite, model: type[models.Model]) -> str:
    opts = model._meta
    return reverse(f"{site.name}:{opts.app_label}_{opts.model_name}_changelist")


def hour_bounds(now: datetime) -> list[datetime]:
    """The starts of the last HOURS local hours (the current one last) and its end, in UTC.

    Stepped in UTC, so a daylight saving change neither drops nor doubles an hour.
    """
    local_hour = timezone.localtime(now).replace(minute=0, second=0, microsecond=0)
    end = local_hour.astimezone(UTC) + timedelta(hours=1)
    return [end - timedelta(hours=HOURS - n) for n in range(HOURS + 1)]


def status_counts(day: datetime, week: datetime) -> dict[str, tuple[int, int]]:
    """{status: (since `day`, since `week`)}, in one query over `received_at`'s index."""
    rows = (
        InboundEvent.objects.filter(received_at__gte=week)
        .values("status")
        .annotate(day=Count("pk", filter=Q(received_at__gte=day)), week=Count("pk"))
        .order_by()
    )
    return {row["status"]: (row["day"], row["week"]) for row in rows}


def hourly_counts(
    queryset: QuerySet[models.Model], key: str, bounds: Sequence[datetime]
) -> dict[tuple[int, str], int]:
    """{(hour index, key value): count} of the rows received within `bounds`, in one query."""
    hour = Case(
        *(When(received_at__lt=end, then=Value(n)) for n, end in enumerate(bounds[1:])),
        output_field=IntegerField(),
    )
    rows = (
        queryset.filter(received_at__gte=bounds[0], received_at__lt=bounds[-1])
        .annotate(hour=hour)
        .values("hour", key)
        .annotate(count=Count("pk"))
        .order_by()
    )
    return {(row["hour"], row[key]): row["count"] for row in rows}


def attention_counts() -> dict[str, tuple[int, datetime]]:
    """{status: (count, oldest received_at)} of the waiting and failed events, however old."""
    rows = (
        InboundEvent.objects.filter(status__in=[*WAITING_STATUSES, Status.FAILED])
        .values("status")
        .annotate(count=Count("pk"), oldest=Min("received_at"))
        .order_by()
    )
    return {row["status"]: (row["count"], row["oldest"]) for row in rows}


def oldest_event(counts: dict[str, tuple[int, datetime]], events: ListLinks) -> OldestEvent | None:
    """The oldest event of these statuses, found by the (status, received_at) index."""
    if not counts:
        return None
    status, (_, oldest) = min(counts.items(), key=lambda item: item[1][1])
    event = (
        InboundEvent.objects.filter(status=status, received_at=oldest)
        .only("pk", "event_id", "event_type", "status", "received_at")
        .order_by("pk")
        .first()
    )
    if event is None:  # processed since the count
        return None
    return OldestEvent(
        event_id=event.event_id,
        short_id=short_id(event.event_id),
        event_type=event.event_type,
        status=event.get_status_display(),
        received_at=event.received_at,
        href=events.change_url(event.pk),
    )


def failure_reasons() -> list[tuple[str, int]]:
    """The most frequent reasons of failed (not dismissed) events, most frequent first."""
    rows = (
        InboundEvent.objects.filter(status=Status.FAILED)
        .annotate(reason=Left("status_reason", REASON_PREFIX))
        .values("reason")
        .annotate(count=Count("pk"))
        .order_by("-count", "reason")[:TOP_REASONS]
    )
    return [(row["reason"], row["count"]) for row in rows]


def status_series(present: Iterable[str]) -> list[Series]:
    """Every status the app knows and any other found, in STATUS_ORDER."""
    labels = dict(Status.choices)
    keys = set(labels) | set(present)
    ordered = sorted(
        keys, key=lambda k: (STATUS_ORDER.index(k) if k in STATUS_ORDER else len(STATUS_ORDER), k)
    )
    return [Series(k, str(labels.get(k, k.capitalize())), f"jodo-fill-{k}") for k in ordered]


def reason_series(present: Iterable[str]) -> list[Series]:
    """The rejection reasons found, in the order Jodo's admin lists them, each its own colour."""
    labels = dict(RejectedDelivery.Reason.choices)
    found = set(present)
    keys = [k for k in labels if k in found] + sorted(found - set(labels))
    return [Series(k, str(labels.get(k, k)), f"jodo-fill-reason-{k}") for k in keys]
