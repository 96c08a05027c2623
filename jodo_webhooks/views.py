"""The webhook endpoint: one delivery read, checked, recorded and answered.

`JodoWebhookView.post` runs `receive`, a pipeline of small steps in the order Jodo's contract
needs: the declared length, the sender (address, custom header), the body, its signature, the
envelope, then the hand-over (`record_and_process`). Each step returns what the next one needs
or raises `NotAccepted`: a `Refused` delivery (recorded for operators, with its reason), the
database `Unavailable` (503), or a `ServerError` (500). `answer` is the one place that turns an
outcome into the status and JSON body Jodo gets.

A DRF view, so that the ERP's DRF settings cannot change how it answers: every class DRF would
take from them (authentication, permissions, throttles, parsers, renderers, content
negotiation, the exception handler) is set here.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import InterfaceError, OperationalError, transaction
from django.http import HttpRequest, HttpResponseBase, JsonResponse
from django.template.response import SimpleTemplateResponse
from rest_framework.exceptions import ValidationError
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.parsers import BaseParser
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView, exception_handler

from .conf import app_settings
from .envelope import InvalidBody, parse_body, validate_envelope
from .logs import log_safe
from .metrics import observe_delivery
from .models import RejectedDelivery
from .receiving import receive_envelope
from .recording import Delivery, RecordedDelivery
from .rejections import record_rejected_delivery, storable_headers
from .security import (
    Refusal,
    check_before_body,
    check_signature,
    client_address,
    redacted_headers,
)

logger = logging.getLogger("jodo_webhooks")
Reason = RejectedDelivery.Reason

READ_CHUNK_BYTES = 64 * 1024

# The answer to each kind of refused request: HTTP status and error code.
REFUSALS: dict[str, tuple[int, str]] = {
    Reason.SIGNATURE: (401, "unauthorized"),
    Reason.HEADER: (401, "unauthorized"),
    Reason.NOT_CONFIGURED: (401, "unauthorized"),
    Reason.ADDRESS: (403, "forbidden"),
    Reason.TOO_LARGE: (413, "body_too_large"),
    Reason.MALFORMED: (400, "invalid_envelope"),
    Reason.DIGEST_MISMATCH: (409, "event_id_conflict"),
}


# The outcomes other than "recorded".


class NotAccepted(Exception):
    """The delivery was not recorded; `answer` says so to Jodo."""

    status = 500
    code = "server_error"

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class Refused(NotAccepted):
    """A request that breaks the contract: answered with its reason's status, and recorded
    (bounded, redacted) as a RejectedDelivery for operators."""

    def __init__(
        self,
        reason: str,
        detail: str,
        *,
        body_bytes: bytes = b"",
        event_id: str = "",
        errors: Any = None,
    ) -> None:
        super().__init__(detail)
        self.reason = reason
        self.status, self.code = REFUSALS[reason]
        self.body_bytes = body_bytes  # what was read of the body: a bounded prefix is kept
        self.event_id = event_id
        self.errors = errors  # field errors, for a malformed envelope

    @classmethod
    def by(cls, refusal: Refusal, *, body_bytes: bytes = b"") -> Refused:
        """The security checks' refusal (their reason is the detail answered)."""
        return cls(refusal.reason_code, refusal.reason, body_bytes=body_bytes)


class Unavailable(NotAccepted):
    """The database could not record the delivery: Jodo retries later."""

    status = 503
    code = "unavailable"


class ServerError(NotAccepted):
    """Whatever else went wrong; `event_id` names the delivery in the log once it is known."""

    def __init__(self, event_id: str = "") -> None:
        super().__init__("The delivery could not be handled; please retry.")
        self.event_id = event_id


# The steps, in the order `receive` runs them.


def declared_length(request: HttpRequest) -> int:
    """The request's Content-Length; 0 when it is missing or not a number, as Django reads it."""
    try:
        return max(int(request.META.get("CONTENT_LENGTH") or 0), 0)
    except ValueError:
        return 0


def too_large(limit: int) -> Refused:
    return Refused(Reason.TOO_LARGE, f"Body over {limit} bytes.")


def check_declared_length(request: HttpRequest, limit: int) -> None:
    """A body declared too large is refused before anything else is looked at."""
    if declared_length(request) > limit:
        raise too_large(limit)


def check_sender(request: HttpRequest, address: str | None) -> None:
    """Address and custom header: refused before the body is read."""
    refusal = check_before_body(request, address)
    if refusal is not None:
        raise Refused.by(refusal)


def read_body(request: HttpRequest, limit: int) -> bytes:
    """The body's bytes as they came, never more than `limit` of them in memory: refused when
    more arrive, or fewer than its declared Content-Length (`check_declared_length` has
    refused a declared length over the limit already)."""
    declared = declared_length(request)
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
        raise malformed(f"The body could not be read ({received} bytes arrived).") from exc
    if received > limit:
        raise too_large(limit)
    if received < declared:
        raise malformed(
            f"Body shorter than its Content-Length: {received} of {declared} bytes arrived."
        )
    return b"".join(chunks)


def malformed(detail: str, *, body_bytes: bytes = b"") -> Refused:
    errors = {"non_field_errors": [detail]}
    return Refused(Reason.MALFORMED, detail, body_bytes=body_bytes, errors=errors)


def check_body_signature(request: HttpRequest, body_bytes: bytes) -> None:
    refusal = check_signature(request, body_bytes)
    if refusal is not None:
        raise Refused.by(refusal, body_bytes=body_bytes)


@dataclass(frozen=True, slots=True)
class Envelope:
    """A delivery's body: its JSON text, as parsed, and the event_id it claims (or "")."""

    text: str
    data: Any
    event_id: str = ""


def parse_envelope(body_bytes: bytes) -> Envelope:
    try:
        text, data = parse_body(body_bytes)
    except InvalidBody as exc:
        raise malformed(str(exc), body_bytes=body_bytes) from exc
    event_id = data.get("event_id") if isinstance(data, dict) else None
    return Envelope(text, data, event_id if isinstance(event_id, str) else "")


def check_envelope(envelope: Envelope, body_bytes: bytes) -> None:
    try:
        validate_envelope(envelope.data, envelope.text)
    except ValidationError as exc:
        raise Refused(
            Reason.MALFORMED,
            "Invalid envelope.",
            body_bytes=body_bytes,
            event_id=envelope.event_id,
            errors=exc.detail,
        ) from exc


def record_and_process(
    envelope: Envelope, headers: dict[str, str], address: str | None
) -> RecordedDelivery:
    """The hand-over: record the validated delivery once per event_id and process (or enqueue)
    its event. Returns once the event is durably recorded; a database error means it was not,
    and nothing of the delivery was kept (503)."""
    try:
        return receive_envelope(envelope.data, envelope.text, headers, address)
    except (OperationalError, InterfaceError) as exc:
        logger.exception("Could not record Jodo event %s", log_safe(envelope.event_id))
        raise Unavailable("Could not record the event; please retry.") from exc


def check_same_content(recorded: RecordedDelivery, body_bytes: bytes) -> None:
    """A known event_id with other content is refused (409): it was not applied."""
    if recorded.kind is Delivery.MISMATCH:
        event_id = recorded.event.event_id
        raise Refused(
            Reason.DIGEST_MISMATCH,
            f"Event {event_id} was already recorded with different content; "
            "this delivery was not applied.",
            body_bytes=body_bytes,
            event_id=event_id,
        )


@contextmanager
def naming_the_event(event_id: str) -> Iterator[None]:
    """An unexpected error past this point is answered 500 and logged with the event's id."""
    try:
        yield
    except NotAccepted:
        raise
    except Exception as exc:
        raise ServerError(event_id) from exc


def receive(request: HttpRequest, address: str | None) -> RecordedDelivery:
    """Every step of receiving one delivery; raises NotAccepted at the first that fails."""
    limit = app_settings.MAX_BODY_BYTES
    check_declared_length(request, limit)
    check_sender(request, address)
    body_bytes = read_body(request, limit)
    check_body_signature(request, body_bytes)
    envelope = parse_envelope(body_bytes)
    with naming_the_event(envelope.event_id):
        check_envelope(envelope, body_bytes)
        headers = storable_headers(redacted_headers(request))
        recorded = record_and_process(envelope, headers, address)
        check_same_content(recorded, body_bytes)
    return recorded


# The answer.


def answer(outcome: RecordedDelivery | NotAccepted) -> tuple[int, dict[str, Any]]:
    """The status and JSON body Jodo gets for every outcome: the one place they are decided
    (and counted for the metrics). 2xx means exactly: this event is durably recorded."""
    if isinstance(outcome, RecordedDelivery):
        observe_delivery(outcome.kind.value)
        return 200, {"status": outcome.kind.value, "event_id": outcome.event.event_id}
    observe_delivery(outcome.reason if isinstance(outcome, Refused) else outcome.code)
    body: dict[str, Any] = {"error": outcome.code, "detail": outcome.detail}
    if isinstance(outcome, Refused) and outcome.errors is not None:
        body["errors"] = outcome.errors
    return outcome.status, body


def report(request: HttpRequest, address: str | None, outcome: NotAccepted) -> None:
    """Log a delivery that was not accepted; keep a bounded record of a refused one."""
    if isinstance(outcome, ServerError):
        logger.error(
            "Unexpected error while receiving Jodo event %s; answered 500",
            log_safe(outcome.event_id) if outcome.event_id else "(event_id not read)",
            exc_info=outcome.__cause__ or outcome,
        )
    if not isinstance(outcome, Refused):
        return  # a 503 is logged where the database failed
    level = logging.ERROR if outcome.reason == Reason.DIGEST_MISMATCH else logging.WARNING
    logger.log(
        level,
        "Refused Jodo delivery from %s (%s): %s",
        log_safe(address or request.META.get("REMOTE_ADDR")),
        outcome.reason,
        log_safe(outcome.detail),
    )
    record_rejected_delivery(
        outcome.reason,
        outcome.detail,
        body=outcome.body_bytes,
        headers=redacted_headers(request),
        remote_addr=address,
        event_id=outcome.event_id,
    )


# The view.


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

    def select_parser(self, request: Request, parsers: Iterable[BaseParser]) -> None:
        return None  # the view reads the raw body itself

    def select_renderer(
        self,
        request: Request,
        renderers: Iterable[BaseRenderer],
        format_suffix: str | None = None,
    ) -> tuple[BaseRenderer, str]:
        renderer = next(iter(renderers))
        return renderer, renderer.media_type


class JodoWebhookView(APIView):
    """Receive one delivery (`receive`) and answer it (`answer`)."""

    # Every other method, OPTIONS and HEAD included, is answered 405 (in JSON).
    http_method_names = ["post"]
    authentication_classes = ()
    permission_classes = ()
    throttle_classes = ()
    parser_classes = ()  # the raw bytes are read (and signed) as they came
    renderer_classes = (JSONRenderer,)  # whatever the ERP's defaults are
    content_negotiation_class = AlwaysJSON

    @classmethod
    def as_view(cls, **initkwargs: Any) -> Any:
        # The event is committed by the app's own transactions (with its processing, inline),
        # before the answer, even under ATOMIC_REQUESTS, on whichever database the router
        # writes it to: a failed attempt must roll back without taking the delivery with it.
        view = super().as_view(**initkwargs)
        for alias in settings.DATABASES:
            view = transaction.non_atomic_requests(using=alias)(view)
        return view

    def perform_authentication(self, request: Request) -> None:
        pass  # the delivery is verified by its signature; `request.user` would need contrib.auth

    def get_exception_handler(self) -> Callable[..., Response | None]:
        return json_exception_handler  # not the ERP's: the error shape is Jodo's contract

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        """DRF's dispatch, and a JSON 500, logged once, for whatever else goes wrong: never
        Django's HTML error page. The answer is rendered here so that rendering is covered too."""
        try:
            response = super().dispatch(request, *args, **kwargs)
            if isinstance(response, SimpleTemplateResponse):
                response.render()
            return response
        except Exception as exc:
            outcome = ServerError()
            outcome.__cause__ = exc
            report(request, None, outcome)
            status, body = answer(outcome)
            return JsonResponse(body, status=status)

    def post(self, request: Request) -> Response:
        http_request = request._request
        address = client_address(http_request)
        outcome: RecordedDelivery | NotAccepted
        try:
            outcome = receive(http_request, address)
        except NotAccepted as not_accepted:
            report(http_request, address, not_accepted)
            outcome = not_accepted
        status, body = answer(outcome)
        return Response(body, status=status)
