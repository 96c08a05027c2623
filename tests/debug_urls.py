"""A URL whose view fails, for the DEBUG error page tests (tests/test_secrets.py)."""

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.urls import path


def failing_view(request: HttpRequest) -> HttpResponse:
    header_value = settings.JODO_WEBHOOKS["HEADER_VALUE"]  # a local the page would show
    received = dict(request.headers)  # every header as sent, under any name
    raise RuntimeError(f"failed with {len(header_value)} and {len(received)}")


urlpatterns = [path("fail/", failing_view)]
