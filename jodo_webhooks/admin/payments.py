"""For the ERP's own payment admin: what the payment sync writes is read-only, and nothing is
deleted (a ledger keeps every row)."""

from __future__ import annotations

from typing import Any

from django.db import models
from django.http import HttpRequest

from ..payment_sync import PaymentSync, configured_sync
from .common import ModelAdminMixinBase, save_all_but


def _sync_for(model: type[models.Model]) -> PaymentSync | None:
    sync = configured_sync()
    return sync if sync is not None and sync.model_class is model else None


class JodoPaymentAdminMixin(ModelAdminMixinBase):
    """For the ERP's ModelAdmin of the model its PaymentSync maps (`PAYMENT_SYNC`): the fields
    the mapping owns are read-only (the next event would overwrite an edit); payments are
    neither added nor deleted by hand."""

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        readonly = list(super().get_readonly_fields(request, obj))
        sync = _sync_for(self.model)
        if sync is None:
            return readonly
        owned = [name for name in sync.jodo_owned_fields if name != sync.jodo_versions]
        return readonly + [name for name in owned if name not in readonly]

    def get_exclude(self, request: HttpRequest, obj: Any = None) -> Any:
        """The sync's own bookkeeping (`jodo_versions`) is not for people."""
        exclude = list(super().get_exclude(request, obj) or [])
        sync = _sync_for(self.model)
        return exclude + ([sync.jodo_versions] if sync is not None else [])

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        """Save only the fields people may change. A whole-row save would write back the Jodo
        values read when the request began, undoing an event the sync applied meanwhile."""
        sync = _sync_for(self.model)
        if sync is None or not change:
            super().save_model(request, obj, form, change)
            return
        save_all_but(obj, sync.jodo_owned_fields)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
