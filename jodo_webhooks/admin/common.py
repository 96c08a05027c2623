"""What the app's admin pages share: styles, the reason form, applied filters, formatting."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from django import forms
from django.apps import apps
from django.contrib import admin
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.core.exceptions import ValidationError
from django.db import models
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from django.utils.dateformat import format as format_date
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

SHORT_ID_LENGTH = 8

if TYPE_CHECKING:
    # The mixins below go in front of a ModelAdmin: they are type-checked as one.
    ModelAdminMixinBase = admin.ModelAdmin[Any]
else:
    ModelAdminMixinBase = object


class AdminCSS:
    css = {"all": ["jodo_webhooks/admin.css"]}


class JodoReadOnlyInline(admin.TabularInline):
    """Base for an inline of Jodo's rows (a student's Jodo notes, a payment's lines): shown,
    never added, changed or deleted by hand, as the next event rewrites them. Set `model`."""

    extra = 0
    can_delete = False

    class Media:
        css = AdminCSS.css

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


def save_all_but(obj: models.Model, jodo_owned: Iterable[str]) -> None:
    """Save the record's fields except the primary key and the ones Jodo owns. A whole-row save
    from an admin page would write back the Jodo values read when the request began, undoing
    an event the sync applied meanwhile (while that event stays processed)."""
    skip = set(jodo_owned)
    fields = [f.name for f in obj._meta.concrete_fields if not f.primary_key and f.name not in skip]
    obj.save(update_fields=fields)


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
) -> str | TemplateResponse:
    """An action's intermediate page: the reason once confirmed, else the page asking for it.

    The page posts the selection back to the changelist with the action, like Django's own
    delete confirmation.
    """
    form = ReasonForm(request.POST if "confirm" in request.POST else None)
    if form.is_bound and form.is_valid():
        reason: str = form.cleaned_data["reason"]
        return reason
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
    return TemplateResponse(request, "admin/jodo_webhooks/confirm_action.html", context)


class AppliedFiltersMixin(ModelAdminMixinBase):
    """Names every applied filter above the list, so a filter set by a link is never hidden."""

    change_list_template = "admin/jodo_webhooks/change_list.html"

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
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


def linked_records(model_admin: admin.ModelAdmin, records: Iterable[Any]) -> SafeString:
    """Records named as [model label, pk] pairs (an error's `records`): "student 2 (1002)",
    linked to the record's change page in this admin site. As text when the model is unknown
    or not registered here, or the record no longer exists."""
    shown: list[SafeString] = []
    for record in records:
        if not isinstance(record, list | tuple) or len(record) != 2:
            continue
        label, pk = record
        try:
            model = apps.get_model(label)
        except (LookupError, ValueError, TypeError):
            shown.append(format_html("{} {}", label, pk))
            continue
        text = f"{model._meta.verbose_name} {pk}"
        found = _existing(model, pk)
        url = admin_change_url(model_admin, model, pk) if found is not None else ""
        if not url:
            shown.append(format_html("{}", text))
            continue
        shown.append(format_html('<a href="{}">{} ({})</a>', url, text, found))
    return format_html_join(", ", "{}", ((item,) for item in shown))


def _existing(model: type[models.Model], pk: object) -> models.Model | None:
    # The base manager: a default manager that filters rows must not hide a record.
    try:
        return model._base_manager.filter(pk=pk).first()
    except (ValueError, TypeError, ValidationError):  # not a pk of this model
        return None
