"""Who may deliver: signature, custom header and source address checks, all constant time."""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import re
from dataclasses import dataclass

from django.http import HttpRequest

from .conf import app_settings
from .models import RejectedDelivery

Reason = RejectedDelivery.Reason

SIGNATURE_HEADER = "X-Jodo-Signature"


@dataclass(frozen=True, slots=True)
class Refusal:
    reason_code: str  # a RejectedDelivery.Reason; the view answers with its status
    reason: str  # short and safe to log and answer: never a secret or an expected value


def sign(body: bytes, secret: str) -> str:
    """The X-Jodo-Signature value for `body`: lower-case hex HMAC-SHA256."""
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def _as_bytes(value: str) -> bytes:
    # Header values arrive latin-1 decoded (PEP 3333); compare_digest needs bytes for non-ASCII.
    return value.encode("latin-1", errors="replace")


def signature_matches(body: bytes, provided: str, secrets: list[str]) -> bool:
    given = _as_bytes(provided.strip())
    return any(hmac.compare_digest(sign(body, secret).encode(), given) for secret in secrets)


def client_address(request: HttpRequest) -> str | None:
    """The delivering client's address, trusting only the configured number of proxies."""
    trusted = app_settings.TRUSTED_PROXIES
    if trusted > 0:
        forwarded = [
            part.strip() for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")
        ]
        forwarded = [part for part in forwarded if part]
        # Each trusted proxy appends the address it saw, so the client is `trusted` from the right.
        candidate = forwarded[-trusted] if len(forwarded) >= trusted else None
    else:
        candidate = request.META.get("REMOTE_ADDR")
    try:
        # Without an IPv6 zone ("%eth0"), which no database's address type stores.
        return str(ipaddress.ip_address(candidate.split("%", 1)[0])) if candidate else None
    except ValueError:
        return None


def check_before_body(request: HttpRequest, address: str | None) -> Refusal | None:
    """The checks that need no body, so a refused request is answered before it is read:
    with no mechanism configured, fail closed; then the source address and the custom header.
    Every configured mechanism must pass; `check_signature` follows once the body is read."""
    if not app_settings.any_authentication_configured:
        if app_settings.ALLOW_UNAUTHENTICATED:
            return None
        return Refusal(Reason.NOT_CONFIGURED, "no authentication mechanism is configured")

    networks = app_settings.allowed_networks
    if networks:
        ip = ipaddress.ip_address(address) if address else None
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
            ip = ip.ipv4_mapped
        if ip is None or not any(ip in network for network in networks):
            return Refusal(Reason.ADDRESS, "source address not allowed")

    if app_settings.header_check_enabled:
        provided = request.headers.get(app_settings.HEADER_NAME)
        if provided is None:
            return Refusal(Reason.HEADER, f"missing {app_settings.HEADER_NAME} header")
        if not hmac.compare_digest(_as_bytes(provided), _as_bytes(app_settings.HEADER_VALUE)):
            return Refusal(Reason.HEADER, f"wrong {app_settings.HEADER_NAME} header")
    return None


def check_signature(request: HttpRequest, body: bytes) -> Refusal | None:
    """The X-Jodo-Signature check, when secrets are configured: it needs the whole body."""
    secrets = app_settings.secrets
    if secrets:
        provided = request.headers.get(SIGNATURE_HEADER)
        if not provided:
            return Refusal(Reason.SIGNATURE, f"missing {SIGNATURE_HEADER} header")
        if not signature_matches(body, provided, secrets):
            return Refusal(Reason.SIGNATURE, "signature mismatch")
    return None


def secret_values() -> list[str]:
    """Every configured value that must never be stored or shown: the signing secrets, the
    custom header's value and the monitoring token."""
    values = [
        *app_settings.secrets,
        app_settings.HEADER_VALUE or "",
        app_settings.MONITORING_TOKEN or "",
    ]
    return [value for value in values if value]


def redact_secrets(text: str) -> str:
    """`text` with every configured secret value in it replaced."""
    for value in secret_values():
        text = text.replace(value, REDACTED)
    return text


REDACTED = "[redacted]"
# Credentials that are never Jodo's to send and never worth keeping.
DROPPED_HEADERS = frozenset({"cookie", "authorization", "proxy-authorization"})
LOWER_HEX = re.compile(r"[0-9a-f]+")


def signature_shape(provided: str, secrets: list[str]) -> str:
    """What an operator may know of a signature without seeing it: length and alphabet."""
    value = provided.strip()
    if value in secrets:
        return "a configured secret itself, not a signature made with it"
    alphabet = "lower-case hex" if LOWER_HEX.fullmatch(value) else "not lower-case hex"
    return f"{len(value)} characters, {alphabet}"


def stored_signature_shape(headers: dict[str, str]) -> str | None:
    """The signature's shape as `redacted_headers` kept it; None when none was sent."""
    for name, value in headers.items():
        if name.lower() == SIGNATURE_HEADER.lower():
            return value.removeprefix(REDACTED).strip()
    return None


def redacted_headers(request: HttpRequest) -> dict[str, str]:
    """Request headers worth keeping, without credentials.

    The signature is kept as its shape only (it helps spot a wrong secret). A header whose
    value holds a configured secret or the custom header's value is redacted whatever its
    name: a sender that puts the custom value under another name must not have it stored.
    """
    dropped = set(DROPPED_HEADERS)
    if app_settings.HEADER_NAME:
        dropped.add(app_settings.HEADER_NAME.lower())
    secrets = secret_values()
    kept = {}
    for name, value in request.headers.items():
        if name.lower() in dropped:
            continue
        if name.lower() == SIGNATURE_HEADER.lower():
            kept[name] = f"{REDACTED} {signature_shape(value, secrets)}"
        elif any(secret in value for secret in secrets):
            kept[name] = f"{REDACTED} holds a configured secret"
        else:
            kept[name] = value
    return kept


def redact_header_values(headers: dict[str, str]) -> dict[str, str]:
    """Stored headers as they may be shown, in case a secret slipped in before it was
    configured as one (rows recorded before an upgrade or a rotation)."""
    secrets = secret_values()
    return {
        name: f"{REDACTED} holds a configured secret"
        if isinstance(value, str) and any(secret in value for secret in secrets)
        else value
        for name, value in headers.items()
    }
