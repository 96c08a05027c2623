from __future__ import annotations

import logging
from typing import Any

from django.conf import settings
from django.db import InterfaceError, OperationalError, transaction
from django.http import HttpRequest, HttpResponseBase, JsonResponse
from django.template.response import SimpleTemplateResponse
from rest_framework.exceptions import ValidationError
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView, exception_handler

from .conf import app_settings
from .envelope import InvalidBody, parse_body, validate_envelope
from .logs import log_safe
from .metrics import observe_delivery
from .models import RejectedDelivery
from .recording import Delivery, record_delivery
from .rejections import record_rejected_delivery, storable_headers
from .scheduling import process_after_delivery
from .security import check_before_body, check_signature, client_address, redacted_headers

logger = logging.getLogger("jodo_webhooks")
Reason = RejectedDelivery.Reason

READ_CHUNK_BYTES = 64 * 1024


class BodyTooLarge(Exception):
    pass


class IncompleteBody(Exception):
    """Fewer bytes arrived than the request's Content-Length declared; the message says so."""


def declared_length(request: HttpRequest) -> int:
    """The request's Content-Length; 0 when it is missing or not a number, as Django reads it."""
    try:
        return max(int(request.META.get("CONTENT_LENGTH") or 0), 0)
    except ValueError:
        return 0


def read_body(request: HttpRequest, limit: int) -> bytes:
    """The raw body, refusing anything over `limit` bytes without reading it into memory, and a
    body shorter than its declared Content-Length."""
    declared = declared_length(request)
    if declared > limit:
        raise BodyTooLarge
    chunks: list[bytes] = []
    received = 0
    try:
        while received <= limit:
            chunk = request.read(min(READ_CHUNK_BYTES, limit + 1 - received))
            if not chunk:
                break
            chunks.append(chunk)
            received += len(chunk)
    except OSError as exc:  # the client went away mid-body (Django's UnreadablePostError)
        raise IncompleteBody(f"The body could not be read ({received} bytes arrived).") from exc
    if received > limit:
        raise BodyTooLarge
    if received < declared:
        raise IncompleteBody(
            f"Body shorter than its Content-Length: {received} of {declared} bytes arrived."
        )
    return b"".join(chunks)


def error(status: int, code: str, detail: str, **extra: Any) -> Response:
    return Response({"error": code, "detail": detail, **extra}, status=status)


def json_exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """DRF's answer to its own exceptions (405 above all), in this endpoint's error shape;
    None for any other exception, which `JodoWebhookView.dispatch` answers with a JSON 500."""
    response = exception_handler(exc, context)
    if response is not None:
        detail = response.data.get("detail") if isinstance(response.data, dict) else None
        code = getattr(detail, "code", None) or "error"
        response.data = {"error": code, "detail": str(detail or response.status_text)}
    return response


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

    # Every other method, OPTIONS and HEAD included, is answered 405 (in JSON).
    http_method_names = ["post"]
    authentication_classes = ()
    permission_classes = ()
    throttle_classes = ()
    parser_classes = ()  # the raw bytes are read (and signed) as they came
    renderer_classes = (JSONRenderer,)  # whatever the ERP's defaults are
    content_negotiation_class = AlwaysJSON

    # The delivery's event_id once the body could be read, for the log of an unexpected error.
    event_id = ""

    @classmethod
    def as_view(cls, **initkwargs: Any) -> Any:
        # The event must be committed before processing starts, even under ATOMIC_REQUESTS, on
        # whichever database the router writes it to.
        view = super().as_view(**initkwargs)
        for alias in settings.DATABASES:
            view = transaction.non_atomic_requests(using=alias)(view)
        return view

    def perform_authentication(self, request: Request) -> None:
        pass  # the delivery is verified by its signature; `request.user` would need contrib.auth

    def get_exception_handler(self) -> Any:
        return json_exception_handler  # not the ERP's: the error shape is Jodo's contract

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        """DRF's dispatch, and a JSON 500, logged once, for whatever else goes wrong: never
        Django's HTML error page. The answer is rendered here so that rendering is covered too."""
        try:
            response = super().dispatch(request, *args, **kwargs)
            if isinstance(response, SimpleTemplateResponse):
                response.render()
            return response
        except Exception:
            observe_delivery("server_error")
            logger.exception(
                "Unexpected error while receiving Jodo event %s; answered 500",
                log_safe(self.event_id) if self.event_id else "(event_id not read)",
            )
            detail = "The delivery could not be handled; please retry."
            return JsonResponse({"error": "server_error", "detail": detail}, status=500)

    def post(self, request: Request) -> Response:
        http_request: HttpRequest = request._request
        address = client_address(http_request)
        limit = app_settings.MAX_BODY_BYTES
        if declared_length(http_request) > limit:
            detail = f"Body over {limit} bytes."
            return self.refuse(http_request, b"", address, Reason.TOO_LARGE, detail)

        # Address, custom header: refused before the body is read.
        refusal = check_before_body(http_request, address)
        if refusal is not None:
            return self.refuse(http_request, b"", address, refusal.reason_code, refusal.reason)

        try:
            body = read_body(http_request, limit)
        except BodyTooLarge:
            detail = f"Body over {limit} bytes."
            return self.refuse(http_request, b"", address, Reason.TOO_LARGE, detail)
        except IncompleteBody as exc:
            errors = {"non_field_errors": [str(exc)]}
            return self.refuse(
                http_request, b"", address, Reason.MALFORMED, str(exc), errors=errors
            )

        refusal = check_signature(http_request, body)
        if refusal is not None:
            return self.refuse(http_request, body, address, refusal.reason_code, refusal.reason)

        try:
            raw_text, parsed = parse_body(body)
        except InvalidBody as exc:
            errors = {"non_field_errors": [str(exc)]}
            return self.refuse(
                http_request, body, address, Reason.MALFORMED, str(exc), errors=errors
            )
        event_id = parsed.get("event_id") if isinstance(parsed, dict) else None
        self.event_id = event_id if isinstance(event_id, str) else ""
        try:
            validate_envelope(parsed, raw_text)
        except ValidationError as exc:
            return self.refuse(
                http_request,
                body,
                address,
                Reason.MALFORMED,
                "Invalid envelope.",
                event_id=self.event_id,
                errors=exc.detail,
            )

        headers = storable_headers(redacted_headers(http_request))
        try:
            recorded = record_delivery(parsed, raw_text, headers, address)
        except (OperationalError, InterfaceError):
            logger.exception("Could not record Jodo event %s", log_safe(self.event_id))
            observe_delivery("unavailable")
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
        observe_delivery(recorded.kind.value)
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
            log_safe(address or request.META.get("REMOTE_ADDR")),
            reason,
            log_safe(detail),
        )
        record_rejected_delivery(
            reason,
            detail,
            body=body,
            headers=redacted_headers(request),
            remote_addr=address,
            event_id=event_id,
        )
        observe_delivery(reason)
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
