"""The rejected-delivery log: refused requests kept, bounded, for operators to see why."""

from __future__ import annotations

import json
import logging

from .conf import app_settings
from .envelope import UNSTORABLE_CHARACTER
from .models import RejectedDelivery
from .security import SIGNATURE_HEADER, redact_secrets, stored_signature_shape

logger = logging.getLogger("jodo_webhooks")

BODY_PREFIX_BYTES = 4096
# Jodo's bodies are a few KiB; parsing a larger refused body only to show an unverified id
# would let anyone make the server parse megabytes per request.
CLAIMED_ID_MAX_BODY_BYTES = 64 * 1024


def _storable(text: str) -> str:
    """`text` with every character that a supported database cannot store replaced by U+FFFD."""
    return UNSTORABLE_CHARACTER.sub("\N{REPLACEMENT CHARACTER}", text)


def storable_headers(headers: dict[str, str]) -> dict[str, str]:
    """Request headers that every supported database can store (in a JSON column)."""
    return {_storable(name): _storable(value) for name, value in headers.items()}


def record_rejected_delivery(
    reason: str,
    detail: str,
    *,
    body: bytes,
    headers: dict[str, str],
    remote_addr: str | None,
    event_id: str = "",
) -> None:
    """Keep a refused request for operators, then trim the table to its bound. Never raises.

    `headers` come redacted (`security.redacted_headers`). Without an `event_id` from the
    caller, the one the body claims is kept: `RejectedDelivery.event_id_verified` tells
    whether the request had passed authentication.
    """
    try:
        prefix = body[:BODY_PREFIX_BYTES].decode("utf-8", errors="replace")
        rejected = RejectedDelivery.objects.create(
            reason=reason,
            detail=_storable(detail),
            remote_addr=remote_addr,
            event_id=_storable(event_id or claimed_event_id(body))[:255],
            headers=storable_headers(headers),
            body_prefix=_storable(redact_secrets(prefix)),
            hint=signature_hint(headers) if reason == RejectedDelivery.Reason.SIGNATURE else "",
        )
        limit = app_settings.REJECTED_DELIVERY_LIMIT
        # Ids only grow, so everything `limit` ids behind the newest row is older than it.
        RejectedDelivery.objects.filter(pk__lte=rejected.pk - limit).delete()
    except Exception:
        logger.exception("Could not record a rejected Jodo delivery (%s)", reason)


def claimed_event_id(body: bytes) -> str:
    """The `event_id` a body claims, if it is a JSON object with a string one; else ""."""
    if len(body) > CLAIMED_ID_MAX_BODY_BYTES:
        return ""
    try:
        parsed = json.loads(body)
    except (ValueError, RecursionError):
        return ""
    event_id = parsed.get("event_id") if isinstance(parsed, dict) else None
    return event_id if isinstance(event_id, str) else ""


def signature_hint(headers: dict[str, str]) -> str:
    """What helps tell a wrong secret from a request that is not Jodo's, revealing none."""
    shape = stored_signature_shape(headers)
    tried = len(app_settings.secrets)
    secrets = f"{tried} configured secret{'s' if tried != 1 else ''}"
    if shape is None:
        return (
            f"No {SIGNATURE_HEADER} header: Jodo signs every delivery, so this request is not "
            f"Jodo's or a proxy dropped the header ({secrets})."
        )
    if shape.startswith("64 characters, lower-case hex"):
        checked = "the configured secret" if tried == 1 else f"none of the {secrets}"
        return (
            f"{SIGNATURE_HEADER} was {shape}, the form of a real signature, but {checked} "
            f"{'did not produce' if tried == 1 else 'produced'} it: if every delivery fails "
            "like this, the secret Jodo signs with is not configured here."
        )
    return (
        f"{SIGNATURE_HEADER} was {shape}; a signature is 64 lower-case hex characters "
        f"(checked against {secrets})."
    )
