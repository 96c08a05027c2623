"""The app's settings: one `JODO_WEBHOOKS` dict, read on every access so tests can override it."""

from __future__ import annotations

import ipaddress
from functools import lru_cache
from typing import Any

from django.conf import settings

DEFAULTS: dict[str, Any] = {
    # Shared secrets for X-Jodo-Signature; any one of them may match (rotation without downtime).
    "SECRETS": [],
    # Optional custom header agreed with Jodo; both must be set to turn the check on.
    "HEADER_NAME": "",
    "HEADER_VALUE": "",
    # Optional source allowlist: IP addresses and CIDR networks.
    "ALLOWED_IPS": [],
    # Reverse proxies in front of Django that append to X-Forwarded-For; 0 ignores the header.
    "TRUSTED_PROXIES": 0,
    "MAX_BODY_BYTES": 1024 * 1024,
    # Development only: accept deliveries when no mechanism above is configured.
    "ALLOW_UNAUTHENTICATED": False,
    # Events that originated longer ago than this are recorded as skipped, never applied: a body
    # replayed after its row was pruned cannot rewind anything. 0 or None turns the check off.
    "MAX_EVENT_AGE_DAYS": 7,
    # "inline": process in the request once the event is recorded; "task": enqueue the
    # processing with Django's Tasks API and answer as soon as the event is recorded.
    "PROCESSING": "inline",
    # Newest refused requests kept for operators; older ones are deleted as new ones arrive.
    "REJECTED_DELIVERY_LIMIT": 1000,
    # The ERP's student sync: a dotted path to a `jodo_webhooks.StudentSync` (or the object).
    # Set, the app applies the student master-data events to the ERP's models itself.
    "STUDENT_SYNC": None,
    # Monitoring (README "Monitoring"). The bearer token the metrics URL requires, and the
    # health URL unless HEALTH_PUBLIC; empty, both answer 404.
    "MONITORING_TOKEN": "",
    # The health URL answers anyone, with the verdict and the names of failing checks only.
    "HEALTH_PUBLIC": False,
    # The health verdict (`jodo_status --check`, the health URL): attention when more failed
    # events than this are not dismissed,
    "HEALTH_MAX_FAILED_EVENTS": 0,
    # when an event has waited for processing longer than this (0: never),
    "HEALTH_MAX_WAITING_MINUTES": 15,
    # when no event has been received for this long (0: never; set it where silence is unusual),
    "HEALTH_MAX_SILENCE_HOURS": 0,
    # when a payment has waited longer than this for its student (0: never).
    "HEALTH_MAX_PAYMENT_WAITING_HOURS": 24,
}


class AppSettings:
    """Attribute access to `settings.JODO_WEBHOOKS`, falling back to `DEFAULTS`."""

    def __getattr__(self, name: str) -> Any:
        if name not in DEFAULTS:
            raise AttributeError(f"Unknown JODO_WEBHOOKS setting: {name}")
        return getattr(settings, "JODO_WEBHOOKS", {}).get(name, DEFAULTS[name])

    @property
    def secrets(self) -> list[str]:
        return _as_list(self.SECRETS)

    @property
    def header_check_enabled(self) -> bool:
        return bool(self.HEADER_NAME and self.HEADER_VALUE)

    @property
    def allowed_networks(self) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
        return parse_networks(tuple(_as_list(self.ALLOWED_IPS)))

    @property
    def any_authentication_configured(self) -> bool:
        return bool(self.secrets or self.header_check_enabled or self.allowed_networks)


def _as_list(value: str | list[str] | tuple[str, ...]) -> list[str]:
    items = value.split(",") if isinstance(value, str) else value
    return [item.strip() for item in items if item and item.strip()]


@lru_cache(maxsize=8)
def parse_networks(
    entries: tuple[str, ...],
) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    """Parse allowlist entries; raises ValueError naming a bad entry (checks.py reports it)."""
    networks = []
    for entry in entries:
        try:
            networks.append(ipaddress.ip_network(entry, strict=False))
        except ValueError as exc:
            raise ValueError(f"{entry!r} is not an IP address or network") from exc
    return tuple(networks)


app_settings = AppSettings()
