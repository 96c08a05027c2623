"""The health verdict as a check for django-health-check (4.x), for an ERP that already serves
its health page: list `"jodo_webhooks.health_check_plugin.JodoWebhooks"` in its
`HealthCheckView.as_view(checks=[...])` instead of using the app's own health URL.

Only imported by an ERP that has django-health-check; the app itself never imports it.
"""

from __future__ import annotations

import dataclasses

from django.db import DatabaseError, connections
from health_check.base import HealthCheck
from health_check.exceptions import ServiceUnavailable

from .health import problems
from .monitoring import take_snapshot


@dataclasses.dataclass
class JodoWebhooks(HealthCheck):  # type: ignore[misc]  # django-health-check is untyped
    """Unavailable when the app's health verdict needs attention. The message names the failing
    checks only, as the public health URL does: `manage.py jodo_status --check` says why."""

    def run(self) -> None:
        # django-health-check runs a synchronous check in a worker thread: that thread's
        # connection is closed afterwards, as its own database check does.
        try:
            found = problems(take_snapshot())
        except DatabaseError as exc:
            raise ServiceUnavailable("the database could not be read") from exc
        finally:
            connections.close_all()
        if found:
            failing = ", ".join(problem.check for problem in found)
            raise ServiceUnavailable(f"needs attention: {failing}")
