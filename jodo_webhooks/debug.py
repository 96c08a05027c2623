"""An exception reporter filter that keeps the app's secrets off Django's error pages and mails.

Django's default filter hides settings whose *name* looks sensitive. `JODO_WEBHOOKS["SECRETS"]`
matches; `HEADER_VALUE` does not, and a secret can also sit in a local variable of a frame or in
a request header of any name. Use this filter in a project with the app:

    DEFAULT_EXCEPTION_REPORTER_FILTER = "jodo_webhooks.debug.JodoExceptionReporterFilter"
"""

from __future__ import annotations

import re
from typing import Any

from django.views.debug import SafeExceptionReporterFilter

from .security import secret_values


class JodoExceptionReporterFilter(SafeExceptionReporterFilter):
    # Django's list plus the custom header's value (by name, in JODO_WEBHOOKS).
    hidden_settings = re.compile(
        "API|AUTH|TOKEN|KEY|SECRET|PASS|SIGNATURE|HTTP_COOKIE|HEADER_VALUE", flags=re.I
    )

    def cleanse_setting(self, key: Any, value: Any) -> Any:
        # Every setting, request.META entry and cookie goes through here: hide any whose value
        # holds a configured secret, whatever its name.
        cleansed = super().cleanse_setting(key, value)
        if isinstance(cleansed, str) and _holds_secret(cleansed):
            return self.cleansed_substitute
        return cleansed

    def get_traceback_frame_variables(self, request: Any, tb_frame: Any) -> Any:
        # Local variables are shown even with DEBUG on, where Django cleanses none.
        variables = super().get_traceback_frame_variables(request, tb_frame)
        return [
            (name, self.cleansed_substitute if _holds_secret(_safe_repr(value)) else value)
            for name, value in variables
        ]


def _holds_secret(text: str) -> bool:
    return any(secret in text for secret in secret_values())


def _safe_repr(value: Any) -> str:
    try:
        return repr(value)
    except Exception:  # a broken __repr__ must not break the error page
        return ""
