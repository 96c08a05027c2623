"""The operators' admin: what failed and why at a glance, never a secret, Jodo's data read-only.

Besides the two registered admins, an ERP uses `JodoStudentAdminMixin`, `JodoNotesInline` and
`ErpNotesInline` for its own student admin (see students/admin.py).
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterable
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.admin.options import IS_POPUP_VAR
from django.db import models
from django.db.models import OuterRef, QuerySet, Subquery
from django.db.models.functions import Coalesce
from django.forms.models import BaseInlineFormSet
from django.http import HttpRequest
from django.template.response import TemplateResponse
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from django.utils.dateformat import format as format_date
from django.utils.html import conditional_escape, format_html, format_html_join
from django.utils.http import urlencode
from django.utils.safestring import SafeString, mark_safe
from django.utils.text import Truncator

from .maintenance import NOT_CLAIMED, format_counts
from .models import InboundEvent, RejectedDelivery
from .operations import dismiss_events, unlink_students
from .processing import process_event
from .security import redact_header_values, redact_secrets
from .student_sync import StudentSync, configured_sync

Status = InboundEvent.Status
SHORT_ID_LENGTH = 8
LISTED_FAILURES = 10  # failures named one by one after a reprocess; the rest are counted
STATUS_SYMBOLS = {
    Status.FAILED: "\N{HEAVY MULTIPLICATION X}",
    Status.RECEIVED: "\N{HOURGLASS}",
}
# How StudentSync names a student in its errors: "student 2 (1002)", i.e. pk and identifier.
STUDENT_MENTION = re.compile(r"student (?P<pk>\S+) \((?P<identifier>[^)]*)\)")


class AdminCSS:
    css = {"all": ["jodo_webhooks/admin.css"]}


class ReasonForm(forms.Form):
    reason = forms.CharField(
        max_length=500,
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
        help_text="Kept in the admin log with your name.",
    )


def confirm_with_reason(
    model_admin: admin.ModelAdmin,
    request: HttpRequest,
    *,
    action: str,
    title: str,
    intro: str,
    objects: Iterable[Any],
    pks: Iterable[Any],
    submit: str,
) -> tuple[str | None, TemplateResponse | None]:
    """An action's intermediate page: (the reason, None) once confirmed, else (None, the page).

    The page posts the selection back to the changelist with the action, like Django's own
    delete confirmation.
    """
    form = ReasonForm(request.POST if "confirm" in request.POST else None)
    if form.is_bound and form.is_valid():
        return form.cleaned_data["reason"], None
    context = {
        **model_admin.admin_site.each_context(request),
        "title": title,
        "intro": intro,
        "objects": list(objects),
        "pks": [str(pk) for pk in pks],
        "action": action,
        "action_checkbox_name": ACTION_CHECKBOX_NAME,
        "form": form,
        "submit": submit,
        "opts": model_admin.opts,
        "media": model_admin.media,
    }
    return None, TemplateResponse(request, "admin/jodo_webhooks/confirm_action.html", context)


class AppliedFiltersMixin:
    """Names every applied filter above the list, so a filter set by a link is never hidden."""

    change_list_template = "admin/jodo_webhooks/change_list.html"

    def changelist_view(self, request: HttpRequest, extra_context: Any = None) -> Any:
        response = super().changelist_view(request, extra_context)
        context = getattr(response, "context_data", None)
        if context and "cl" in context:
            context["jodo_applied_filters"] = applied_filters(context["cl"], request)
        return response


def applied_filters(cl: Any, request: HttpRequest) -> list[dict[str, str]]:
    applied = []
    for spec in cl.filter_specs:
        params = [name for name in spec.expected_parameters() if name in request.GET]
        if not params:
            continue
        shown = [str(choice["display"]) for choice in spec.choices(cl) if choice["selected"]]
        # A range set by a link (e.g. received_at__gte=...) matches none of the choices.
        value = ", ".join(shown) or ", ".join(f"{p} = {request.GET[p]}" for p in params)
        applied.append(
            {
                "title": str(spec.title),
                "value": value,
                "remove": cl.get_query_string(remove=spec.expected_parameters()),
            }
        )
    return applied


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


def short_id(event_id: str) -> str:
    return event_id if len(event_id) <= SHORT_ID_LENGTH + 1 else f"{event_id[:SHORT_ID_LENGTH]}…"


def compact_time(moment: Any) -> str:
    return format_date(timezone.localtime(moment), "Y-m-d H:i") if moment else "-"


def pre(text: str) -> SafeString:
    """Text shown as it is: whitespace kept, long lines wrapped, never clipped."""
    return format_html('<pre class="jodo-pre">{}</pre>', text)


def pretty_json(value: object) -> SafeString:
    return pre(json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False))


def admin_change_url(model_admin: admin.ModelAdmin, model: type[models.Model], pk: Any) -> str:
    """The change page of `model`'s row `pk` in this admin site, or "" if it has none."""
    if not model_admin.admin_site.is_registered(model):
        return ""
    opts = model._meta
    try:
        return reverse(
            f"{model_admin.admin_site.name}:{opts.app_label}_{opts.model_name}_change",
            args=[pk],
        )
    except NoReverseMatch:
        return ""


@admin.register(InboundEvent)
class InboundEventAdmin(AppliedFiltersMixin, admin.ModelAdmin):
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
    list_filter = ["status", StudentFilter, "event_type", "received_at", "occurred_at"]
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
        return queryset.annotate(
            student_pk=Coalesce(
                Subquery(by_jodo_id.values("pk")[:1]), Subquery(by_identifier.values("pk")[:1])
            )
        )

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

    def get_readonly_fields(self, request: HttpRequest, obj: InboundEvent | None = None):
        return [
            name for _, options in super().get_fieldsets(request, obj) for name in options["fields"]
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
        return pre_with_student_links(self, event.last_error)

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
        outcomes: Counter[str] = Counter()
        failed_pks = []
        for event in queryset.only("pk", "event_id", "event_type"):
            outcome = process_event(event.pk, force=True) or NOT_CLAIMED
            outcomes[outcome] += 1
            if outcome == Status.FAILED:
                failed_pks.append(event.pk)
            self.log_change(request, event, f"Reprocessed: {outcome}.")
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
        reason, page = confirm_with_reason(
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
        if page is not None:
            return page
        dismissed = dismiss_events([event.pk for event in failed], user=request.user, reason=reason)
        self.message_user(request, f"Dismissed {len(dismissed)} failed event(s).", messages.SUCCESS)
        return None


def pre_with_student_links(model_admin: admin.ModelAdmin, text: str) -> SafeString:
    """`text` as `pre`, each student it names ("student 2 (1002)") linked to its ERP record."""
    sync = configured_sync()
    mentions = list(STUDENT_MENTION.finditer(text))
    if sync is None or not mentions:
        return pre(text)
    # The identifier is unique, so it finds the record; the pk must agree with the text.
    identifiers = {match["identifier"] for match in mentions}
    students = sync.model_class._default_manager.filter(**{f"{sync.identifier}__in": identifiers})
    pks = {str(getattr(s, sync.identifier)): s.pk for s in students.only("pk", sync.identifier)}
    parts, end = [], 0
    for match in mentions:
        pk = pks.get(match["identifier"])
        url = admin_change_url(model_admin, sync.model_class, pk) if str(pk) == match["pk"] else ""
        if not url:
            continue
        parts += [conditional_escape(text[end : match.start()])]
        parts += [format_html('<a href="{}">{}</a>', url, match[0])]
        end = match.end()
    parts.append(conditional_escape(text[end:]))
    return format_html('<pre class="jodo-pre">{}</pre>', mark_safe("".join(parts)))  # noqa: S308


@admin.register(RejectedDelivery)
class RejectedDeliveryAdmin(AppliedFiltersMixin, admin.ModelAdmin):
    """Read-only and never deleted here: evidence of a misconfiguration or an attack, kept
    until `jodo_prune` (or the table's bound) removes it."""

    list_display = ["received", "reason", "remote_addr", "claimed_event_id", "detail"]
    list_filter = ["reason", "received_at"]
    search_fields = ["=event_id", "=remote_addr"]
    search_help_text = "Matches an event id or a source address, exactly."
    fields = [
        "received_at",
        "reason",
        "detail",
        "hint",
        "remote_addr",
        "full_event_id",
        "formatted_headers",
        "formatted_body_prefix",
    ]
    readonly_fields = fields
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


def _sync_for(model: type[models.Model]) -> StudentSync | None:
    sync = configured_sync()
    return sync if sync is not None and sync.model_class is model else None


class JodoStudentAdminMixin:
    """For the ERP's ModelAdmin of the model its StudentSync maps (`STUDENT_SYNC`).

    Once Jodo has applied an event to a record, the fields the mapping owns (ids, profile,
    status, Jodo timestamp) are read-only: the next event would overwrite any edit. Before
    that, and when adding a record, only the Jodo id and timestamp are. Adds the audited
    "Unlink from Jodo" action, also offered on each linked record's page, which resolves
    conflicts (see the README).
    """

    change_form_template = "admin/jodo_webhooks/jodo_student_change_form.html"

    class Media:
        css = AdminCSS.css

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        readonly = list(super().get_readonly_fields(request, obj))
        sync = _sync_for(self.model)
        if sync is None:
            return readonly
        if obj is not None and is_linked(sync, obj):
            owned = sync.jodo_owned_fields
        else:
            owned = [sync.jodo_student_id, sync.jodo_updated_at]
        return readonly + [name for name in owned if name not in readonly]

    def get_actions(self, request: HttpRequest) -> dict[str, Any]:
        actions = super().get_actions(request)
        offered = self.actions is not None and IS_POPUP_VAR not in request.GET
        if offered and _sync_for(self.model) and self.has_change_permission(request):
            unlink = JodoStudentAdminMixin.unlink_from_jodo
            actions["unlink_from_jodo"] = (unlink, "unlink_from_jodo", unlink.short_description)
        return actions

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: Any = None
    ) -> Any:
        extra_context = {**(extra_context or {}), "jodo_unlink_pk": None}
        sync = _sync_for(self.model)
        obj = self.get_object(request, object_id)
        linked = sync is not None and obj is not None and is_linked(sync, obj)
        if linked and self.has_change_permission(request, obj):
            extra_context["jodo_unlink_pk"] = obj.pk
        return super().change_view(request, object_id, form_url, extra_context)

    @admin.display(description="Jodo events")
    def jodo_events(self, obj: Any) -> str:
        sync = _sync_for(self.model)
        if sync is None:
            return "-"
        jodo_id = getattr(obj, sync.jodo_student_id)
        url = reverse(f"{self.admin_site.name}:jodo_webhooks_inboundevent_changelist")
        if jodo_id:
            query = urlencode({"jodo_student_id": jodo_id})
            return format_html('<a href="{}?{}">Events for {}</a>', url, query, jodo_id)
        identifier = getattr(obj, sync.identifier)
        if not identifier:
            return "-"
        query = urlencode({"q": identifier})
        return format_html('<a href="{}?{}">Events for {}</a>', url, query, identifier)

    @admin.action(description="Unlink selected students from Jodo…")
    def unlink_from_jodo(self, request: HttpRequest, queryset: QuerySet) -> Any:
        sync = _sync_for(self.model)
        linked = [obj for obj in queryset if is_linked(sync, obj)]
        if not linked:
            self.message_user(
                request, "None of these students is linked to Jodo.", messages.WARNING
            )
            return None
        reason, page = confirm_with_reason(
            self,
            request,
            action="unlink_from_jodo",
            title="Unlink students from Jodo",
            intro=(
                "Unlinking clears the Jodo student id and the Jodo timestamp: the record becomes "
                "the ERP's own, editable again, and the next event that names its identifier "
                "links it to that event's Jodo student. Use it to resolve a conflict, then "
                "reprocess the failed event."
            ),
            objects=[
                f"{obj} (Jodo student {getattr(obj, sync.jodo_student_id) or 'none'})"
                for obj in linked
            ],
            pks=[obj.pk for obj in linked],
            submit="Unlink",
        )
        if page is not None:
            return page
        unlinked = unlink_students(
            sync, [obj.pk for obj in linked], user=request.user, reason=reason
        )
        events = reverse(f"{self.admin_site.name}:jodo_webhooks_inboundevent_changelist")
        for student, jodo_id in unlinked:
            identifier = getattr(student, sync.identifier)
            failed = f"{events}?{urlencode({'status__exact': 'failed', 'q': identifier})}"
            self.message_user(
                request,
                format_html(
                    'Unlinked {} from Jodo student {}. Now reprocess its <a href="{}">failed '
                    "events</a>.",
                    student,
                    jodo_id or "(none)",
                    failed,
                ),
                messages.SUCCESS,
            )
        return None


def is_linked(sync: StudentSync, obj: Any) -> bool:
    """Whether Jodo has linked or written this record: then Jodo owns its mapped fields."""
    return bool(getattr(obj, sync.jodo_student_id) or getattr(obj, sync.jodo_updated_at))


def _notes_spec() -> Any:
    sync = configured_sync()
    return sync.notes if sync is not None else None


class JodoNotesInline(admin.TabularInline):
    """Base for the inline of a student's Jodo-sourced notes: read-only, as each Jodo event
    replaces them. Set `model` to the notes model of the StudentSync."""

    extra = 0
    verbose_name_plural = "Notes from Jodo (read-only: each Jodo event replaces them)"

    class Media:
        css = AdminCSS.css

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        queryset = super().get_queryset(request)
        spec = _notes_spec()
        if spec is None or spec.source is None:
            return queryset  # without a source field every note is Jodo's
        return queryset.filter(**{spec.source: spec.jodo})

    def get_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        spec = _notes_spec()
        return [spec.key, spec.value] if spec else super().get_fields(request, obj)

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class ErpNotesFormSet(BaseInlineFormSet):
    """Refuses a key the student's other notes (Jodo's too) already use, with a form error.

    Django validates a UniqueConstraint that includes the inline's foreign key only in the
    database, which would answer with an IntegrityError.
    """

    def clean(self) -> None:
        super().clean()
        spec = _notes_spec()
        if spec is None or self.instance.pk is None:
            return
        taken = dict(
            self.model._default_manager.filter(**{spec.student: self.instance}).values_list(
                spec.key, "pk"
            )
        )
        for form in self.forms:
            if not form.has_changed() or form.cleaned_data.get("DELETE"):
                continue
            key = form.cleaned_data.get(spec.key)
            if key in taken and taken[key] != form.instance.pk:
                form.add_error(spec.key, f"This student already has a note {key!r}.")


class ErpNotesInline(admin.TabularInline):
    """Base for the inline of a student's ERP-owned notes: editable, compact. New notes take
    the source field's default, which must be the ERP's value. Set `model` as for
    JodoNotesInline."""

    extra = 0
    verbose_name_plural = "ERP notes"
    formset = ErpNotesFormSet
    formfield_overrides = {
        models.TextField: {"widget": forms.TextInput(attrs={"class": "vTextField"})}
    }

    class Media:
        css = AdminCSS.css

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        queryset = super().get_queryset(request)
        spec = _notes_spec()
        if spec is None:
            return queryset
        if spec.source is None:
            return queryset.none()  # every note is Jodo's
        return queryset.exclude(**{spec.source: spec.jodo})

    def get_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        spec = _notes_spec()
        return [spec.key, spec.value] if spec else super().get_fields(request, obj)

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        spec = _notes_spec()
        if spec is not None and spec.source is None:
            return False
        return super().has_add_permission(request, obj)
