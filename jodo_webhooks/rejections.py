"""The rejected-delivery log: refused requests kept, bounded, for operators to see why."""

from __future__ import annotations

import logging
import re

from .conf import app_settings
from .models import RejectedDelivery

logger = logging.getLogger("jodo_webhooks")

BODY_PREFIX_BYTES = 4096


# NUL, which PostgreSQL text and jsonb columns cannot hold, and lone surrogates, which are not
# Unicode and so cannot be encoded for any database.
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def _storable(text: str) -> str:
    """`text` with every character that a supported database cannot store replaced by U+FFFD."""
    return _UNSTORABLE.sub("\N{REPLACEMENT CHARACTER}", text)


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
    """Keep a refused request for operators, then trim the table to its bound. Never raises."""
    try:
        rejected = RejectedDelivery.objects.create(
            reason=reason,
            detail=_storable(detail),
            remote_addr=remote_addr,
            event_id=_storable(event_id)[:255],
            headers=storable_headers(headers),
            body_prefix=_storable(body[:BODY_PREFIX_BYTES].decode("utf-8", errors="replace")),
        )
        limit = app_settings.REJECTED_DELIVERY_LIMIT
        # Ids only grow, so everything `limit` ids behind the newest row is older than it.
        RejectedDelivery.objects.filter(pk__lte=rejected.pk - limit).delete()
    except Exception:
        logger.exception("Could not record a rejected Jodo delivery (%s)", reason)
