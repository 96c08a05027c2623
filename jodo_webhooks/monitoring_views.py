"""The operators' URLs: Prometheus metrics and the health verdict (README, "Monitoring").

Both are off until configured. The metrics need the bearer token `MONITORING_TOKEN`; the health
URL needs it too, unless `HEALTH_PUBLIC` lets anyone see the verdict (no numbers, no details).
"""

from __future__ import annotations

import hmac
import logging

from django.db import DatabaseError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

from .conf import app_settings
from .health import problems
from .metrics import CONTENT_TYPE, exposition
from .monitoring import take_snapshot

logger = logging.getLogger("jodo_webhooks")


def presents_token(request: HttpRequest) -> bool:
    """Whether the request carries `Authorization: Bearer <MONITORING_TOKEN>` (constant time)."""
    token = app_settings.MONITORING_TOKEN
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    return (
        bool(token)
        and scheme.lower() == "bearer"
        and hmac.compare_digest(given.strip().encode(), str(token).encode())
    )


def refusal(request: HttpRequest) -> JsonResponse:
    """404 while no token is configured (the URL is off), else 401."""
    if not app_settings.MONITORING_TOKEN:
        return JsonResponse({"error": "not_found", "detail": "Not configured."}, status=404)
    response = JsonResponse(
        {"error": "unauthorized", "detail": "A bearer token is required."}, status=401
    )
    response["WWW-Authenticate"] = 'Bearer realm="jodo_webhooks"'
    return response


@never_cache
@require_safe
def metrics_view(request: HttpRequest) -> HttpResponse:
    if not presents_token(request):
        return refusal(request)
    try:
        body = exposition()
    except DatabaseError:
        logger.exception("Jodo webhook metrics: the database could not be read")
        return JsonResponse({"error": "unavailable", "detail": "Database unavailable."}, status=503)
    if body is None:
        detail = "prometheus-client is not installed: install django-jodo-webhooks[metrics]."
        return JsonResponse({"error": "metrics_unavailable", "detail": detail}, status=501)
    return HttpResponse(body, content_type=CONTENT_TYPE)


@never_cache
@require_safe
def health_view(request: HttpRequest) -> HttpResponse:
    """200 `{"status": "ok"}`, or 503 `{"status": "attention", "failing": [check, ...]}`; with
    the token, `problems` says what is wrong in words."""
    authorized = presents_token(request)
    if not authorized and not app_settings.HEALTH_PUBLIC:
        return refusal(request)
    try:
        found = problems(take_snapshot())
    except DatabaseError:
        logger.exception("Jodo webhook health: the database could not be read")
        return JsonResponse({"status": "unavailable", "failing": ["database"]}, status=503)
    answer: dict[str, object] = {
        "status": "attention" if found else "ok",
        "failing": [problem.check for problem in found],
    }
    if authorized:
        answer["problems"] = [problem.message for problem in found]
    return JsonResponse(answer, status=503 if found else 200)
