"""Rejected deliveries: why a request was refused, read-only, never a secret."""

from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest
from django.utils.html import format_html

from ..models import RejectedDelivery
from ..security import redact_header_values, redact_secrets
from .common import (
    AdminCSS,
    AppliedFiltersMixin,
    compact_time,
    pre,
    pretty_json,
    short_id,
)


@admin.register(RejectedDelivery)
class RejectedDeliveryAdmin(AppliedFiltersMixin, admin.ModelAdmin):
    """Read-only and never deleted here: evidence of a misconfiguration or an attack, kept
    until `jodo_prune` (or the table's bound) removes it."""

    list_display = ["received", "reason", "remote_addr", "claimed_event_id", "detail"]
    list_filter = ["reason", "received_at"]
    search_fields = ["=event_id", "=remote_addr"]
    search_help_text = "Matches an event id or a source address, exactly."
    readonly_fields = [
        "received_at",
        "reason",
        "detail",
        "hint",
        "remote_addr",
        "full_event_id",
        "formatted_headers",
        "formatted_body_prefix",
    ]
    fields = tuple(readonly_fields)
    Media = AdminCSS

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    @admin.display(description="Received", ordering="received_at")
    def received(self, rejected: RejectedDelivery) -> str:
        return compact_time(rejected.received_at)

    @admin.display(description="Event id")
    def claimed_event_id(self, rejected: RejectedDelivery) -> str:
        return self._event_id(rejected, short_id(rejected.event_id))

    @admin.display(description="Event id")
    def full_event_id(self, rejected: RejectedDelivery) -> str:
        return self._event_id(rejected, rejected.event_id)

    def _event_id(self, rejected: RejectedDelivery, shown: str) -> str:
        if not rejected.event_id:
            return "-"
        if rejected.event_id_verified:
            return format_html(
                '<span class="jodo-id" title="{}">{}</span>', rejected.event_id, shown
            )
        return format_html(
            '<span class="jodo-id" title="{}">{}</span> <span class="jodo-unverified" '
            'title="The request failed authentication: this is only what its body claims.">'
            "(unverified)</span>",
            rejected.event_id,
            shown,
        )

    @admin.display(description="Headers")
    def formatted_headers(self, rejected: RejectedDelivery) -> str:
        return pretty_json(redact_header_values(rejected.headers))

    @admin.display(description="Body (first 4 KiB)")
    def formatted_body_prefix(self, rejected: RejectedDelivery) -> str:
        return pre(redact_secrets(rejected.body_prefix)) if rejected.body_prefix else "-"


# For the ERP's student admin.
