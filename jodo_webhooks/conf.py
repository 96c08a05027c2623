"""The app's settings: one `JODO_WEBHOOKS` dict, read on every access so tests can override it.

Each key is one typed attribute of `AppSettings`, declared with its default in one line:

    MAX_BODY_BYTES: Setting[int] = Setting(1024 * 1024)

The declared keys are the known ones: any other key in `JODO_WEBHOOKS` is an error (E001).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from functools import lru_cache
from typing import TYPE_CHECKING, Any, Generic, TypeVar, overload

from django.conf import settings
from django.utils.module_loading import import_string

if TYPE_CHECKING:
    from .payment_sync import PaymentSync
    from .student_sync import StudentSync

T = TypeVar("T")
S = TypeVar("S")

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class Setting(Generic[T]):
    """One key of `JODO_WEBHOOKS`: its value there, else `default`, read at each access."""

    def __init__(self, default: T) -> None:
        self.default = default
        self.name = ""

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    @overload
    def __get__(self, instance: None, owner: type) -> Setting[T]: ...
    @overload
    def __get__(self, instance: object, owner: type) -> T: ...
    def __get__(self, instance: object | None, owner: type) -> Setting[T] | T:
        if instance is None:
            return self
        configured: dict[str, T] = getattr(settings, "JODO_WEBHOOKS", {})
        return configured.get(self.name, self.default)


class AppSettings:
    """Typed access to `settings.JODO_WEBHOOKS`; a key left out has its default."""

    # Shared secrets for X-Jodo-Signature; any one of them may match (rotation without downtime).
    # A list, or one string of comma-separated secrets (as an environment variable holds them).
    SECRETS: Setting[str | Sequence[str]] = Setting([])
    # Optional custom header agreed with Jodo; both must be set to turn the check on.
    HEADER_NAME: Setting[str] = Setting("")
    HEADER_VALUE: Setting[str] = Setting("")
    # Optional source allowlist: IP addresses and CIDR networks (a list, or comma-separated).
    ALLOWED_IPS: Setting[str | Sequence[str]] = Setting([])
    # Reverse proxies in front of Django that append to X-Forwarded-For; 0 ignores the header.
    TRUSTED_PROXIES: Setting[int] = Setting(0)
    MAX_BODY_BYTES: Setting[int] = Setting(1024 * 1024)
    # Development only: accept deliveries when no mechanism above is configured.
    ALLOW_UNAUTHENTICATED: Setting[bool] = Setting(False)
    # Events that originated longer ago than this are recorded as skipped, never applied: a body
    # replayed after its row was pruned cannot rewind anything. 0 or None turns the check off.
    MAX_EVENT_AGE_DAYS: Setting[int | None] = Setting(7)
    # "inline": process in the request once the event is recorded; "task": enqueue the
    # processing with Django's Tasks API and answer as soon as the event is recorded.
    PROCESSING: Setting[str] = Setting("inline")
    # Newest refused requests kept for operators; older ones are deleted as new ones arrive.
    REJECTED_DELIVERY_LIMIT: Setting[int] = Setting(1000)
    # The ERP's student sync: a dotted path to a `jodo_webhooks.StudentSync` (or the object).
    # Set, the app applies the student master-data events to the ERP's models itself.
    STUDENT_SYNC: Setting[str | StudentSync | None] = Setting(None)
    # The ERP's payment sync: a dotted path to a `jodo_webhooks.PaymentSync` (or the object).
    # Set (with STUDENT_SYNC), the app applies the student-linked payment events itself.
    PAYMENT_SYNC: Setting[str | PaymentSync | None] = Setting(None)
    # Monitoring (README, "Monitoring"). The bearer token the metrics URL requires, and the
    # health URL unless HEALTH_PUBLIC; empty, both answer 404.
    MONITORING_TOKEN: Setting[str] = Setting("")
    # The health URL answers anyone, with the verdict and the names of failing checks only.
    HEALTH_PUBLIC: Setting[bool] = Setting(False)
    # The health verdict (`jodo_status --check`, the health URL) needs attention when more
    # failed events than this are not dismissed,
    HEALTH_MAX_FAILED_EVENTS: Setting[int] = Setting(0)
    # when an event has waited for processing longer than this (0: never),
    HEALTH_MAX_WAITING_MINUTES: Setting[int] = Setting(15)
    # when no event has been received for this long (0: never; set it where silence is unusual),
    HEALTH_MAX_SILENCE_HOURS: Setting[int] = Setting(0)
    # when a payment has waited longer than this for its student (0: never).
    HEALTH_MAX_PAYMENT_WAITING_HOURS: Setting[int] = Setting(24)

    # Derived values.

    @property
    def secrets(self) -> list[str]:
        return _as_list(self.SECRETS)

    @property
    def header_check_enabled(self) -> bool:
        return bool(self.HEADER_NAME and self.HEADER_VALUE)

    @property
    def allowed_networks(self) -> tuple[Network, ...]:
        return parse_networks(tuple(_as_list(self.ALLOWED_IPS)))

    @property
    def any_authentication_configured(self) -> bool:
        return bool(self.secrets or self.header_check_enabled or self.allowed_networks)


# Every known key and its default (the E001 check compares `JODO_WEBHOOKS` with these keys).
DEFAULTS: dict[str, Any] = {
    name: value.default for name, value in vars(AppSettings).items() if isinstance(value, Setting)
}


def _as_list(value: str | Sequence[str]) -> list[str]:
    items = value.split(",") if isinstance(value, str) else value
    return [item.strip() for item in items if item and item.strip()]


@lru_cache(maxsize=8)
def parse_networks(entries: tuple[str, ...]) -> tuple[Network, ...]:
    """Parse allowlist entries; raises ValueError naming a bad entry (checks.py reports it)."""
    networks = []
    for entry in entries:
        try:
            networks.append(ipaddress.ip_network(entry, strict=False))
        except ValueError as exc:
            raise ValueError(f"{entry!r} is not an IP address or network") from exc
    return tuple(networks)


app_settings = AppSettings()


def configured_object(configured: str | S | None, kind: type[S], setting: str) -> S | None:
    """The `kind` object a setting names: the object itself, or a dotted path to it (imported
    once); None when the setting is not set. A path to anything else is a TypeError."""
    if not configured:
        return None
    if isinstance(configured, kind):
        return configured
    found = _import(configured) if isinstance(configured, str) else configured
    if not isinstance(found, kind):
        raise TypeError(f"JODO_WEBHOOKS {setting} {configured!r} is not a {kind.__name__}.")
    return found


@lru_cache(maxsize=8)
def _import(path: str) -> object:
    return import_string(path)
