from __future__ import annotations

import json
import logging
from typing import Any

from django.db import InterfaceError, OperationalError
from django.http import HttpRequest
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from .conf import app_settings
from .processing import Delivery, process_after_delivery, record_delivery
from .security import check_request, client_address, redacted_headers
from .serializers import EnvelopeSerializer

logger = logging.getLogger("jodo_webhooks")


class BodyTooLarge(Exception):
    pass


class InvalidBody(ValueError):
    pass


def read_body(request: HttpRequest, limit: int) -> bytes:
    """The raw body, refusing anything over `limit` bytes without reading it into memory."""
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        declared = 0
    if declared > limit:
        raise BodyTooLarge
    body = request.read(limit + 1)
    if len(body) > limit:
        raise BodyTooLarge
    return body


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def parse_body(body: bytes) -> tuple[str, Any]:
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidBody(f"Body is not valid UTF-8 (byte {exc.start}).") from exc
    try:
        return text, json.loads(text, parse_constant=_reject_constant)
    except (ValueError, RecursionError) as exc:
        raise InvalidBody(f"Body is not valid JSON: {exc}") from exc


def error(status: int, code: str, detail: str, **extra: Any) -> Response:
    return Response({"error": code, "detail": detail, **extra}, status=status)


class JodoWebhookView(APIView):
    """Verify, record, dispatch, answer. 2xx means exactly: this event is durably recorded."""

    authentication_classes = ()
    permission_classes = ()
    throttle_classes = ()
    parser_classes = ()  # the raw bytes are read (and signed) as they came

    def post(self, request: Request) -> Response:
        http_request: HttpRequest = request._request
        try:
            body = read_body(http_request, app_settings.MAX_BODY_BYTES)
        except BodyTooLarge:
            return error(413, "body_too_large", f"Body over {app_settings.MAX_BODY_BYTES} bytes.")

        address = client_address(http_request)
        refusal = check_request(http_request, body, address)
        if refusal is not None:
            logger.warning(
                "Refused Jodo delivery from %s: %s",
                address or http_request.META.get("REMOTE_ADDR"),
                refusal.reason,
            )
            return error(refusal.status_code, "unauthorized", refusal.reason)

        try:
            raw_text, parsed = parse_body(body)
        except InvalidBody as exc:
            return error(400, "invalid_envelope", str(exc), errors={"non_field_errors": [str(exc)]})
        envelope = EnvelopeSerializer(data=parsed)
        if not envelope.is_valid():
            return error(400, "invalid_envelope", "Invalid envelope.", errors=envelope.errors)

        try:
            recorded = record_delivery(parsed, raw_text, redacted_headers(http_request), address)
        except (OperationalError, InterfaceError):
            logger.exception("Could not record Jodo event %s", envelope.validated_data["event_id"])
            return error(503, "unavailable", "Could not record the event; please retry.")

        event = recorded.event
        if recorded.kind is Delivery.MISMATCH:
            logger.error(
                "Jodo event %s delivered again with different content; not applied",
                event.event_id,
            )
            return error(
                409,
                "event_id_conflict",
                f"Event {event.event_id} was already recorded with different content; "
                "this delivery was not applied.",
            )
        process_after_delivery(recorded)
        return Response({"status": recorded.kind.value, "event_id": event.event_id})
