from __future__ import annotations

from collections.abc import Callable
from difflib import get_close_matches
from typing import Any

from django.conf import settings
from django.core.checks import Error, Tags, Warning, register

from .conf import DEFAULTS, app_settings
from .event_types import DOCUMENTED_EVENT_TYPES
from .signals import registrations


@register(Tags.security)
def check_configuration(app_configs: Any = None, **kwargs: Any) -> list[Error | Warning]:
    messages: list[Error | Warning] = []
    configured = getattr(settings, "JODO_WEBHOOKS", {})
    unknown = sorted(set(configured) - set(DEFAULTS))
    if unknown:
        messages.append(
            Error(
                f"Unknown JODO_WEBHOOKS settings: {', '.join(unknown)}.",
                hint=f"Known settings: {', '.join(DEFAULTS)}.",
                id="jodo_webhooks.E001",
            )
        )
    if bool(app_settings.HEADER_NAME) != bool(app_settings.HEADER_VALUE):
        messages.append(
            Error(
                "JODO_WEBHOOKS HEADER_NAME and HEADER_VALUE must be set together.",
                id="jodo_webhooks.E002",
            )
        )
    try:
        app_settings.allowed_networks  # noqa: B018  (parsing is the check)
    except ValueError as exc:
        messages.append(Error(f"JODO_WEBHOOKS ALLOWED_IPS: {exc}.", id="jodo_webhooks.E003"))
        return messages + check_student_sync() + check_payment_sync()
    if app_settings.PROCESSING not in ("inline", "task"):
        messages.append(
            Error(
                f"JODO_WEBHOOKS PROCESSING must be 'inline' or 'task', not "
                f"{app_settings.PROCESSING!r}.",
                id="jodo_webhooks.E006",
            )
        )
    for name in (
        "TRUSTED_PROXIES",
        "MAX_BODY_BYTES",
        "MAX_EVENT_AGE_DAYS",
        "REJECTED_DELIVERY_LIMIT",
        "HEALTH_MAX_FAILED_EVENTS",
        "HEALTH_MAX_WAITING_MINUTES",
        "HEALTH_MAX_SILENCE_HOURS",
        "HEALTH_MAX_PAYMENT_WAITING_HOURS",
    ):
        value = getattr(app_settings, name)
        if value is None and name == "MAX_EVENT_AGE_DAYS":
            continue  # None turns the age check off, as 0 does
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            messages.append(
                Error(
                    f"JODO_WEBHOOKS {name} must be a non-negative integer.",
                    id="jodo_webhooks.E004",
                )
            )
    messages += check_student_sync() + check_payment_sync()
    if app_settings.any_authentication_configured:
        return messages
    if app_settings.ALLOW_UNAUTHENTICATED:
        messages.append(
            Warning(
                "JODO_WEBHOOKS ALLOW_UNAUTHENTICATED is on and no authentication is configured: "
                "anyone can post events.",
                hint="Set SECRETS (and ALLOWED_IPS) before exposing the endpoint.",
                id="jodo_webhooks.W002",
            )
        )
    else:
        messages.append(
            Warning(
                "No Jodo webhook authentication is configured: every delivery will be refused.",
                hint="Set JODO_WEBHOOKS SECRETS, HEADER_NAME/HEADER_VALUE or ALLOWED_IPS.",
                id="jodo_webhooks.W001",
            )
        )
    return messages


@register(Tags.security, deploy=True)
def check_deployment(app_configs: Any = None, **kwargs: Any) -> list[Error]:
    if app_settings.ALLOW_UNAUTHENTICATED and not settings.DEBUG:
        return [
            Error(
                "JODO_WEBHOOKS ALLOW_UNAUTHENTICATED must not be on in production (DEBUG is off).",
                hint="Turn it off and configure SECRETS, HEADER_NAME/HEADER_VALUE or ALLOWED_IPS.",
                id="jodo_webhooks.E005",
            )
        ]
    return []


def check_student_sync() -> list[Error | Warning]:
    """E007: the STUDENT_SYNC mapping must import and name fields its models have."""
    from .student_sync import configured_sync  # imports models: only once apps are ready

    return [
        Error(f"JODO_WEBHOOKS STUDENT_SYNC: {problem}", id="jodo_webhooks.E007")
        for problem in _mapping_problems(configured_sync)
    ]


def _mapping_problems(configured: Callable[[], Any]) -> list[str]:
    """What keeps the configured mapping (if any) from working, its import included."""
    try:
        sync = configured()
        return list(sync.problems()) if sync is not None else []
    except (ImportError, TypeError, ValueError, LookupError) as exc:
        return [str(exc)]


def check_payment_sync() -> list[Error | Warning]:
    """E008: the PAYMENT_SYNC mapping must import, name fields its models have, and hold money
    exactly."""
    from .payment_sync import configured_sync  # imports models: only once apps are ready
    from .student_sync import configured_sync as configured_student_sync

    if _mapping_problems(configured_student_sync):
        return []  # E007 says why; payments are matched through the student sync
    return [
        Error(f"JODO_WEBHOOKS PAYMENT_SYNC: {problem}", id="jodo_webhooks.E008")
        for problem in _mapping_problems(configured_sync)
    ]


@register()
def check_receiver_event_types(app_configs: Any = None, **kwargs: Any) -> list[Warning]:
    """W003: a receiver registered for a code Jodo does not document (a typo, most likely)."""
    messages: list[Warning] = []
    for registration in registrations():
        if registration.custom:
            continue
        for code in sorted(registration.event_types - DOCUMENTED_EVENT_TYPES):
            close = get_close_matches(code, DOCUMENTED_EVENT_TYPES, n=1)
            guess = f"Did you mean {close[0]!r}? " if close else ""
            messages.append(
                Warning(
                    f"Receiver {registration.name} is registered for {code!r}, which is not an "
                    "event code Jodo documents: if it is a typo, the events it meant are "
                    "recorded as `ignored`.",
                    hint=f"{guess}For a code of your own, register the receiver with "
                    "@jodo_webhooks.receiver(..., custom=True).",
                    id="jodo_webhooks.W003",
                )
            )
    return messages
