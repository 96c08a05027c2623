"""The inbound events: what failed and why at a glance, reprocess and dismiss."""

from __future__ import annotations

from collections import Counter
from typing import Any

from django.contrib import admin, messages
from django.db import models
from django.db.models import OuterRef, QuerySet, Subquery
from django.db.models.functions import Coalesce
from django.http import HttpRequest
from django.urls import reverse
from django.utils import timezone
from django.utils.dateformat import format as format_date
from django.utils.html import conditional_escape, format_html, format_html_join
from django.utils.safestring import mark_safe
from django.utils.text import Truncator

from ..models import InboundEvent
from ..operations import dismiss_events, format_counts, reprocess_events
from ..security import redact_header_values
from ..student_sync import configured_sync
from .common import (
    AdminCSS,
    AppliedFiltersMixin,
    admin_change_url,
    confirm_with_reason,
    linked_records,
    pre,
    pretty_json,
    short_id,
)
from .overview import EventOverviewMixin, FailureReasonFilter

Status = InboundEvent.Status
LISTED_FAILURES = 10  # failures named one by one after a reprocess; the rest are counted
STATUS_SYMBOLS: dict[str, str] = {
    Status.FAILED: "\N{HEAVY MULTIPLICATION X}",
    Status.RECEIVED: "\N{HOURGLASS}",
}


class StudentFilter(admin.SimpleListFilter):
    """The events of one Jodo student; shown only while applied (e.g. from the student's page)."""

    title = "Jodo student"
    parameter_name = "jodo_student_id"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        value = self.value()
        return [(value, value)] if value else []

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        value = self.value()
        return queryset.filter(jodo_student_id=value) if value else queryset


@admin.register(InboundEvent)
class InboundEventAdmin(EventOverviewMixin, AppliedFiltersMixin, admin.ModelAdmin):
    """Read-only: events are Jodo's record of what happened and are never edited here."""

    list_display = [
        "short_event_id",
        "type_display",
        "status_badge",
        "why",
        "student",
        "when",
        "tries",
    ]
    list_display_links = ["short_event_id"]
    list_filter = [
        "status",
        StudentFilter,
        FailureReasonFilter,
        "event_type",
        "received_at",
        "occurred_at",
    ]
    # Shows the search box; get_search_results says how each field matches.
    search_fields = ["event_id", "jodo_student_id", "student_identifier"]
    search_help_text = (
        "Matches an event id or its first characters (as in the logs), a Jodo student id, "
        "or the school's own student identifier, exactly."
    )
    show_full_result_count = False
    list_per_page = 50
    actions = ["reprocess", "dismiss"]
    fieldsets = [
        (
            None,
            {
                "fields": [
                    "event_id",
                    "event_type",
                    "version",
                    "occurred_at",
                    "student",
                ]
            },
        ),
        (
            "Processing",
            {
                "fields": [
                    "status_badge",
                    "status_reason",
                    "attempts",
                    "processed_at",
                    "error",
                    "formatted_traceback",
                ]
            },
        ),
        (
            "Delivery",
            {
                "fields": [
                    "received_at",
                    "delivery_count",
                    "last_delivered_at",
                    "digest_mismatches",
                    "remote_addr",
                    "payload_digest",
                    "formatted_headers",
                ]
            },
        ),
        ("Payload", {"fields": ["formatted_payload", "formatted_raw_body"]}),
    ]
    Media = AdminCSS

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: InboundEvent | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: InboundEvent | None = None) -> bool:
        return False  # retention is `manage.py jodo_prune`'s job

    def has_reprocess_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("jodo_webhooks.reprocess_inboundevent")

    def has_dismiss_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("jodo_webhooks.dismiss_inboundevent")

    def get_queryset(self, request: HttpRequest) -> QuerySet[InboundEvent]:
        queryset = super().get_queryset(request)
        match = request.resolver_match
        if match and match.url_name == "jodo_webhooks_inboundevent_changelist":
            # The list shows none of the bulky columns: a page reads no bodies or tracebacks.
            queryset = queryset.defer("payload", "raw_body", "headers", "last_error_traceback")
        sync = configured_sync()
        if sync is None:
            return queryset
        # The ERP record each event is about, found in the same query as the page (a subquery
        # per row, on the ERP's unique ids): by Jodo id, else by the school's identifier.
        students = sync.model_class._default_manager
        by_jodo_id = students.filter(**{sync.jodo_student_id: OuterRef("jodo_student_id")})
        by_identifier = students.filter(**{sync.identifier: OuterRef("student_identifier")})
        annotated: QuerySet[InboundEvent] = queryset.annotate(
            student_pk=Coalesce(
                Subquery(by_jodo_id.values("pk")[:1]), Subquery(by_identifier.values("pk")[:1])
            )
        )
        return annotated

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet, search_term: str
    ) -> tuple[QuerySet, bool]:
        # Each term is an id: prefix for event ids (an index serves it), exact for the rest.
        term = search_term.strip()
        if not term:
            return queryset, False
        matches = (
            models.Q(event_id__startswith=term)
            | models.Q(jodo_student_id=term)
            | models.Q(student_identifier=term)
        )
        return queryset.filter(matches), False

    def get_fieldsets(self, request: HttpRequest, obj: InboundEvent | None = None) -> Any:
        fieldsets = super().get_fieldsets(request, obj)
        hidden = set()
        if obj is None or not obj.status_reason or obj.status_reason == obj.last_error:
            hidden.add("status_reason")  # a failure's reason is its error: shown once
        if obj is None or not obj.last_error:
            hidden |= {"error", "formatted_traceback"}
        return [
            (name, {**options, "fields": [f for f in options["fields"] if f not in hidden]})
            for name, options in fieldsets
        ]

    def get_readonly_fields(
        self, request: HttpRequest, obj: InboundEvent | None = None
    ) -> list[str]:
        fieldsets = super().get_fieldsets(request, obj)
        return [
            name for _, options in fieldsets for name in options["fields"] if isinstance(name, str)
        ]

    # The list's columns.

    @admin.display(description="Event", ordering="event_id")
    def short_event_id(self, event: InboundEvent) -> str:
        return format_html(
            '<span class="jodo-id" title="{}">{}</span>', event.event_id, short_id(event.event_id)
        )

    @admin.display(description="Type", ordering="event_type")
    def type_display(self, event: InboundEvent) -> str:
        # Break only after the dots: "masterdata.student.registered" takes two short lines.
        parts = [conditional_escape(part) for part in event.event_type.split(".")]
        return mark_safe(".<wbr>".join(parts))  # noqa: S308 - every part is escaped

    @admin.display(description="Status", ordering="status")
    def status_badge(self, event: InboundEvent) -> str:
        symbol = STATUS_SYMBOLS.get(event.status, "")
        return format_html(
            '<span class="jodo-status jodo-status-{}">{}{}</span>',
            event.status,
            f"{symbol} " if symbol else "",
            event.get_status_display(),
        )

    @admin.display(description="Why")
    def why(self, event: InboundEvent) -> str:
        text = event.last_error if event.status == Status.FAILED else event.status_reason
        if not text:
            return ""
        first_line = text.splitlines()[0]
        return format_html(
            '<span class="jodo-why" title="{}">{}</span>',
            text,
            Truncator(first_line).chars(90),
        )

    @admin.display(description="Student")
    def student(self, event: InboundEvent) -> str:
        """Jodo's id over the school's identifier, linked to the ERP's record if it has one."""
        names = [name for name in (event.jodo_student_id, event.student_identifier) if name]
        if not names:
            return "-"
        label = format_html_join(mark_safe("<br>"), "{}", ((name,) for name in names))
        sync = configured_sync()
        pk = getattr(event, "student_pk", None)
        url = admin_change_url(self, sync.model_class, pk) if sync and pk is not None else ""
        if not url:
            return label
        return format_html('<a href="{}">{}</a>', url, label)

    @admin.display(description="Tries", ordering="attempts")
    def tries(self, event: InboundEvent) -> int:
        return event.attempts

    @admin.display(description="Received", ordering="received_at")
    def when(self, event: InboundEvent) -> str:
        """When it was received, and (smaller) when it originated at Jodo."""
        received = timezone.localtime(event.received_at)
        occurred = timezone.localtime(event.occurred_at)
        origin = "H:i" if occurred.date() == received.date() else "Y-m-d H:i"
        return format_html(
            '{}<br><span class="jodo-quiet">occurred {}</span>',
            format_date(received, "Y-m-d H:i"),
            format_date(occurred, origin),
        )

    # The detail page's fields.

    @admin.display(description="Last error")
    def error(self, event: InboundEvent) -> str:
        if not event.last_error:
            return "-"
        text = pre(event.last_error)
        records = linked_records(self, event.error_records)
        if not records:
            return text
        return format_html('{}<p class="jodo-records">Records: {}</p>', text, records)

    @admin.display(description="Traceback")
    def formatted_traceback(self, event: InboundEvent) -> str:
        return pre(event.last_error_traceback) if event.last_error_traceback else "-"

    @admin.display(description="Payload")
    def formatted_payload(self, event: InboundEvent) -> str:
        return pretty_json(event.payload)

    @admin.display(description="Raw body (as received)")
    def formatted_raw_body(self, event: InboundEvent) -> str:
        return pre(event.raw_body)

    @admin.display(description="Headers")
    def formatted_headers(self, event: InboundEvent) -> str:
        return pretty_json(redact_header_values(event.headers))

    # Actions.

    @admin.action(description="Reprocess selected events", permissions=["reprocess"])
    def reprocess(self, request: HttpRequest, queryset: QuerySet[InboundEvent]) -> None:
        events = {event.pk: event for event in queryset.only("pk", "event_id", "event_type")}
        failed_pks: list[int] = []

        def log_each(event_pk: int, outcome: str, outcomes: Counter[str]) -> None:
            if outcome == Status.FAILED:
                failed_pks.append(event_pk)
            self.log_change(request, events[event_pk], f"Reprocessed: {outcome}.")

        outcomes = reprocess_events(list(events), force=True, progress=log_each)
        summary = format_counts(outcomes)
        level = messages.ERROR if failed_pks else messages.SUCCESS
        self.message_user(request, f"Reprocessed {outcomes.total()} event(s): {summary}.", level)
        self.report_failures(request, failed_pks)

    def report_failures(self, request: HttpRequest, failed_pks: list[int]) -> None:
        """One message per failure: which event, why, and a link to its page."""
        failures = (
            InboundEvent.objects.filter(pk__in=failed_pks)
            .only("pk", "event_id", "event_type", "last_error")
            .order_by("received_at", "pk")
        )
        for event in failures[:LISTED_FAILURES]:
            url = reverse(
                f"{self.admin_site.name}:jodo_webhooks_inboundevent_change", args=[event.pk]
            )
            self.message_user(
                request,
                format_html(
                    '<a href="{}" title="{}">{}</a> ({}) failed: {}',
                    url,
                    event.event_id,
                    short_id(event.event_id),
                    event.event_type,
                    Truncator(event.last_error).chars(300),
                ),
                messages.ERROR,
            )
        if len(failed_pks) > LISTED_FAILURES:
            self.message_user(
                request,
                f"… and {len(failed_pks) - LISTED_FAILURES} more failed: filter by status Failed.",
                messages.ERROR,
            )

    @admin.action(description="Dismiss selected failed events…", permissions=["dismiss"])
    def dismiss(self, request: HttpRequest, queryset: QuerySet[InboundEvent]) -> Any:
        failed = list(queryset.filter(status=Status.FAILED).only("pk", "event_id", "event_type"))
        if not failed:
            self.message_user(
                request, "Only failed events can be dismissed; none was selected.", messages.WARNING
            )
            return None
        reason = confirm_with_reason(
            self,
            request,
            action="dismiss",
            title="Dismiss failed events",
            intro=(
                "Dismiss these failed events if they can never succeed (e.g. Jodo sent data "
                "that is wrong). They stay visible as dismissed, no longer count as failures "
                "in jodo_status, and can still be reprocessed."
            ),
            objects=[f"{event.event_id} ({event.event_type})" for event in failed],
            pks=[event.pk for event in failed],
            submit="Dismiss",
        )
        if not isinstance(reason, str):
            return reason  # the page asking for it
        dismissed = dismiss_events([event.pk for event in failed], user=request.user, reason=reason)
        self.message_user(request, f"Dismissed {len(dismissed)} failed event(s).", messages.SUCCESS)
        return None
