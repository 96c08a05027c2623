from __future__ import annotations

import json
from collections import Counter

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.html import format_html

from .maintenance import NOT_CLAIMED, format_counts
from .models import InboundEvent, RejectedDelivery
from .processing import process_event


@admin.register(InboundEvent)
class InboundEventAdmin(admin.ModelAdmin):
    """Read-only: events are Jodo's record of what happened and are never edited here."""

    list_display = [
        "event_id",
        "event_type",
        "status",
        "occurred_at",
        "received_at",
        "attempts",
        "delivery_count",
        "digest_mismatches",
    ]
    list_filter = ["status", "event_type", "received_at", "occurred_at"]
    search_fields = ["=event_id", "=jodo_student_id"]
    show_full_result_count = False
    actions = ["reprocess"]
    fieldsets = [
        (None, {"fields": ["event_id", "event_type", "version", "occurred_at", "jodo_student_id"]}),
        (
            "Processing",
            {
                "fields": [
                    "status",
                    "status_reason",
                    "attempts",
                    "processed_at",
                    "last_error",
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
        ("Payload", {"fields": ["formatted_payload", "raw_body"]}),
    ]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: InboundEvent | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: InboundEvent | None = None) -> bool:
        return False  # retention is `manage.py jodo_prune`'s job

    def has_reprocess_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("jodo_webhooks.reprocess_inboundevent")

    def get_readonly_fields(self, request: HttpRequest, obj: InboundEvent | None = None):
        return [
            name for _, options in self.get_fieldsets(request, obj) for name in options["fields"]
        ]

    @admin.action(description="Reprocess selected events", permissions=["reprocess"])
    def reprocess(self, request: HttpRequest, queryset: QuerySet[InboundEvent]) -> None:
        outcomes: Counter[str] = Counter()
        for event in queryset.only("pk", "event_id", "event_type"):
            outcome = process_event(event.pk, force=True) or NOT_CLAIMED
            outcomes[outcome] += 1
            self.log_change(request, event, f"Reprocessed: {outcome}.")
        summary = format_counts(outcomes)
        level = messages.ERROR if outcomes[InboundEvent.Status.FAILED] else messages.SUCCESS
        total = outcomes.total()
        self.message_user(request, f"Reprocessed {total} event(s): {summary}.", level)

    @admin.display(description="Payload")
    def formatted_payload(self, event: InboundEvent) -> str:
        return _pre(event.payload)

    @admin.display(description="Headers")
    def formatted_headers(self, event: InboundEvent) -> str:
        return _pre(event.headers)

    @admin.display(description="Traceback")
    def formatted_traceback(self, event: InboundEvent) -> str:
        return (
            format_html("<pre>{}</pre>", event.last_error_traceback)
            if event.last_error_traceback
            else "-"
        )


@admin.register(RejectedDelivery)
class RejectedDeliveryAdmin(admin.ModelAdmin):
    list_display = ["received_at", "reason", "remote_addr", "event_id", "detail"]
    list_filter = ["reason", "received_at"]
    search_fields = ["=event_id", "=remote_addr"]
    fields = [
        "received_at",
        "reason",
        "detail",
        "remote_addr",
        "event_id",
        "formatted_headers",
        "body_prefix",
    ]
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    @admin.display(description="Headers")
    def formatted_headers(self, rejected: RejectedDelivery) -> str:
        return _pre(rejected.headers)


def _pre(value: object) -> str:
    return format_html(
        "<pre>{}</pre>", json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False)
    )
