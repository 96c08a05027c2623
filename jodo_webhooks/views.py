from __future__ import annotations

import logging
from typing import Any

from django.db import InterfaceError, OperationalError, transaction
from django.http import HttpRequest
from rest_framework.exceptions import ValidationError
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from .conf import app_settings
from .envelope import InvalidBody, parse_body, validate_envelope
from .models import RejectedDelivery
from .recording import Delivery, record_delivery
from .rejections import record_rejected_delivery
from .scheduling import process_after_delivery
from .security import check_request, client_address, redacted_headers

logger = logging.getLogger("jodo_webhooks")
Reason = RejectedDelivery.Reason


class BodyTooLarge(Exception):
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


def error(status: int, code: str, detail: str, **extra: Any) -> Response:
    return Response({"error": code, "detail": detail, **extra}, status=status)


class AlwaysJSON(BaseContentNegotiation):
    """JSON whatever the Accept header says: a 406 would make Jodo retry, then give up."""

    def select_parser(self, request: Request, parsers: Any) -> None:
        return None  # the view reads the raw body itself

    def select_renderer(
        self, request: Request, renderers: Any, format_suffix: str | None = None
    ) -> tuple[Any, str]:
        return renderers[0], renderers[0].media_type


class JodoWebhookView(APIView):
    """Verify, record, dispatch, answer. 2xx means exactly: this event is durably recorded."""

    authentication_classes = ()
    permission_classes = ()
    throttle_classes = ()
    parser_classes = ()  # the raw bytes are read (and signed) as they came
    renderer_classes = (JSONRenderer,)  # whatever the ERP's defaults are
    content_negotiation_class = AlwaysJSON

    @classmethod
    def as_view(cls, **initkwargs: Any) -> Any:
        # The event must be committed before processing starts, even under ATOMIC_REQUESTS.
        return transaction.non_atomic_requests(super().as_view(**initkwargs))

    def post(self, request: Request) -> Response:
        http_request: HttpRequest = request._request
        address = client_address(http_request)
        try:
            body = read_body(http_request, app_settings.MAX_BODY_BYTES)
        except BodyTooLarge:
            detail = f"Body over {app_settings.MAX_BODY_BYTES} bytes."
            return self.refuse(http_request, b"", address, Reason.TOO_LARGE, detail)

        refusal = check_request(http_request, body, address)
        if refusal is not None:
            return self.refuse(
                http_request,
                body,
                address,
                refusal.reason_code,
                refusal.reason,
            )

        try:
            raw_text, parsed = parse_body(body)
        except InvalidBody as exc:
            errors = {"non_field_errors": [str(exc)]}
            return self.refuse(
                http_request, body, address, Reason.MALFORMED, str(exc), errors=errors
            )
        try:
            validate_envelope(parsed)
        except ValidationError as exc:
            event_id = parsed.get("event_id") if isinstance(parsed, dict) else None
            return self.refuse(
                http_request,
                body,
                address,
                Reason.MALFORMED,
                "Invalid envelope.",
                event_id=event_id if isinstance(event_id, str) else "",
                errors=exc.detail,
            )

        try:
            recorded = record_delivery(parsed, raw_text, redacted_headers(http_request), address)
        except (OperationalError, InterfaceError):
            logger.exception("Could not record Jodo event %s", parsed["event_id"])
            return error(503, "unavailable", "Could not record the event; please retry.")

        event = recorded.event
        if recorded.kind is Delivery.MISMATCH:
            detail = (
                f"Event {event.event_id} was already recorded with different content; "
                "this delivery was not applied."
            )
            return self.refuse(
                http_request,
                body,
                address,
                Reason.DIGEST_MISMATCH,
                detail,
                event_id=event.event_id,
            )
        process_after_delivery(recorded)
        return Response({"status": recorded.kind.value, "event_id": event.event_id})

    def refuse(
        self,
        request: HttpRequest,
        body: bytes,
        address: str | None,
        reason: str,
        detail: str,
        *,
        event_id: str = "",
        **extra: Any,
    ) -> Response:
        """Log, keep a bounded record of the refused request, and answer with its reason."""
        level = logging.ERROR if reason == Reason.DIGEST_MISMATCH else logging.WARNING
        logger.log(
            level,
            "Refused Jodo delivery from %s (%s): %s",
            address or request.META.get("REMOTE_ADDR"),
            reason,
            detail,
        )
        record_rejected_delivery(
            reason,
            detail,
            body=body,
            headers=redacted_headers(request),
            remote_addr=address,
            event_id=event_id,
        )
        status_code, code = REFUSALS[reason]
        return error(status_code, code, detail, **extra)


# The answer to each kind of refused request: HTTP status and error code.
REFUSALS = {
    Reason.SIGNATURE: (401, "unauthorized"),
    Reason.HEADER: (401, "unauthorized"),
    Reason.NOT_CONFIGURED: (401, "unauthorized"),
    Reason.ADDRESS: (403, "forbidden"),
    Reason.TOO_LARGE: (413, "body_too_large"),
    Reason.MALFORMED: (400, "invalid_envelope"),
    Reason.DIGEST_MISMATCH: (409, "event_id_conflict"),
}
