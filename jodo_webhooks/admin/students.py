"""For the ERP's own student admin: Jodo's fields and notes read-only, unlinking from Jodo."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.options import IS_POPUP_VAR
from django.db import models
from django.db.models import QuerySet
from django.forms.models import BaseInlineFormSet
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html
from django.utils.http import urlencode

from ..operations import unlink_students
from ..student_sync import StudentSync, configured_sync
from .common import (
    AdminCSS,
    JodoReadOnlyInline,
    ModelAdminMixinBase,
    confirm_with_reason,
    save_all_but,
)

UNLINK_DESCRIPTION = "Unlink selected students from Jodo…"


def _sync_for(model: type[models.Model]) -> StudentSync | None:
    sync = configured_sync()
    return sync if sync is not None and sync.model_class is model else None


class JodoStudentAdminMixin(ModelAdminMixinBase):
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

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        readonly = list(super().get_readonly_fields(request, obj))
        sync = _sync_for(self.model)
        if sync is None:
            return readonly
        owned = jodo_owned(sync, obj)
        return readonly + [name for name in owned if name not in readonly]

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        """On change, save only the fields people may change (see `save_all_but`): an event
        applied while the page was being saved keeps its values. Adding is the ERP's own."""
        sync = _sync_for(self.model)
        if sync is None or not change:
            super().save_model(request, obj, form, change)
            return
        save_all_but(obj, jodo_owned(sync, obj))

    def get_actions(self, request: HttpRequest) -> dict[str, Any]:
        actions = super().get_actions(request)
        offered = self.actions is not None and IS_POPUP_VAR not in request.GET
        if offered and _sync_for(self.model) and self.has_change_permission(request):
            unlink = JodoStudentAdminMixin.unlink_from_jodo
            actions["unlink_from_jodo"] = (unlink, "unlink_from_jodo", UNLINK_DESCRIPTION)
        return actions

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: Any = None
    ) -> Any:
        extra_context = {**(extra_context or {}), "jodo_unlink_pk": None}
        sync = _sync_for(self.model)
        obj = self.get_object(request, object_id)
        linked = sync is not None and obj is not None and is_linked(sync, obj)
        if obj is not None and linked and self.has_change_permission(request, obj):
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

    @admin.action(description=UNLINK_DESCRIPTION)
    def unlink_from_jodo(self, request: HttpRequest, queryset: QuerySet) -> Any:
        sync = _sync_for(self.model)
        linked = [obj for obj in queryset if sync is not None and is_linked(sync, obj)]
        if sync is None or not linked:
            self.message_user(
                request, "None of these students is linked to Jodo.", messages.WARNING
            )
            return None
        reason = confirm_with_reason(
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
        if not isinstance(reason, str):
            return reason  # the page asking for it
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


def jodo_owned(sync: StudentSync, obj: Any) -> list[str]:
    """The fields of this record (None: a new one) that only Jodo writes: all that the mapping
    names once Jodo has written it, else its Jodo id and timestamp."""
    if obj is not None and is_linked(sync, obj):
        return sync.jodo_owned_fields
    return [sync.jodo_student_id, sync.jodo_updated_at]


def _notes_spec() -> Any:
    sync = configured_sync()
    return sync.notes if sync is not None else None


class JodoNotesInline(JodoReadOnlyInline):
    """Base for the inline of a student's Jodo-sourced notes: read-only, as each Jodo event
    replaces them. Set `model` to the notes model of the StudentSync."""

    verbose_name_plural = "Notes from Jodo (read-only: each Jodo event replaces them)"

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        queryset = super().get_queryset(request)
        spec = _notes_spec()
        if spec is None or spec.source is None:
            return queryset  # without a source field every note is Jodo's
        return queryset.filter(**{spec.source: spec.jodo})

    def get_fields(self, request: HttpRequest, obj: Any = None) -> list[Any] | tuple[Any, ...]:
        spec = _notes_spec()
        return [spec.key, spec.value] if spec else super().get_fields(request, obj)


class ErpNotesFormSet(BaseInlineFormSet):
    """Refuses a key the student's other notes (Jodo's too) already use, with a form error.

    Django validates a UniqueConstraint that includes the inline's foreign key only in the
    database, which would answer with an IntegrityError.
    """

    def clean(self) -> None:
        super().clean()
        spec = _notes_spec()
        if spec is None or self.model is None or self.instance.pk is None:
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

    def get_fields(self, request: HttpRequest, obj: Any = None) -> list[Any] | tuple[Any, ...]:
        spec = _notes_spec()
        return [spec.key, spec.value] if spec else super().get_fields(request, obj)

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        spec = _notes_spec()
        if spec is not None and spec.source is None:
            return False
        return super().has_add_permission(request, obj)
