from __future__ import annotations

import json

from django.contrib import admin
from django.http import HttpRequest
from django.utils.html import format_html

from .models import InboundEvent


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
    date_hierarchy = "received_at"
    show_full_result_count = False
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

    def get_readonly_fields(self, request: HttpRequest, obj: InboundEvent | None = None):
        return [
            field
            for fieldset in self.get_fieldsets(request, obj)
            for field in fieldset[1]["fields"]
        ]

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


def _pre(value: object) -> str:
    return format_html(
        "<pre>{}</pre>", json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False)
    )
