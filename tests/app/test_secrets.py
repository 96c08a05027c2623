"""No secret anywhere: a header holding a configured secret or the custom header's value is
redacted whatever its name, in stored rows, the admin and the logs; and the DEBUG error page
shows none of JODO_WEBHOOKS' secret values."""

from __future__ import annotations

import json
import logging
import sys
from typing import Any

import pytest
from django.contrib.auth.models import Permission, User
from django.forms.models import model_to_dict
from django.test import Client
from django.urls import reverse
from django.views.debug import ExceptionReporter, SafeExceptionReporterFilter

from jodo_webhooks.debug import JodoExceptionReporterFilter
from jodo_webhooks.models import InboundEvent, RejectedDelivery
from jodo_webhooks.security import sign

from ..factories import EnvelopeFactory, InboundEventFactory
from ..helpers import ROTATED_SECRET, TEST_SECRET, as_body

pytestmark = pytest.mark.django_db

HEADER_NAME = "X-Jodo-Token"
HEADER_VALUE = "custom-header-value-0123456789"
SECRETS = [TEST_SECRET, ROTATED_SECRET, HEADER_VALUE]


@pytest.fixture
def header_configured(jodo_settings: dict[str, Any]) -> None:
    jodo_settings.update(
        SECRETS=[TEST_SECRET, ROTATED_SECRET], HEADER_NAME=HEADER_NAME, HEADER_VALUE=HEADER_VALUE
    )


def stored_text() -> str:
    rows = [
        model_to_dict(r) for r in [*InboundEvent.objects.all(), *RejectedDelivery.objects.all()]
    ]
    return json.dumps(rows, default=str, ensure_ascii=False)


def assert_no_secret(text: str) -> None:
    for secret in SECRETS:
        assert secret not in text


# Under any header name, the value is redacted.
MISPLACED = {
    "X-Jodo-Tokn": HEADER_VALUE,  # the custom value under a misspelt name
    "X-Api-Key": f"Bearer {ROTATED_SECRET}",  # a signing secret inside another header
    "X-Copy": TEST_SECRET,
    "X-Trace": "kept",
}


def test_secret_valued_headers_are_redacted_on_accepted_events(deliver, header_configured):
    headers = {HEADER_NAME: HEADER_VALUE, **MISPLACED}
    response = deliver(EnvelopeFactory(event="test.unhandled"), headers=headers)
    assert response.status_code == 200, response.content

    event = InboundEvent.objects.get()
    assert event.headers["X-Trace"] == "kept"
    for name in ("X-Jodo-Tokn", "X-Api-Key", "X-Copy"):
        assert event.headers[name] == "[redacted] holds a configured secret"
    assert HEADER_NAME not in event.headers
    assert event.headers["X-Jodo-Signature"] == "[redacted] 64 characters, lower-case hex"
    assert_no_secret(stored_text())


@pytest.mark.parametrize(
    "send",
    [
        {"signature": "f" * 64},  # signature refused
        {"signature": TEST_SECRET},  # the secret itself sent as the "signature"
        {"headers_extra": {HEADER_NAME: "wrong"}},  # custom header refused
        {"body": b"not json"},  # malformed, after authentication
    ],
    ids=["signature", "secret-as-signature", "header", "malformed"],
)
def test_secret_valued_headers_are_redacted_on_rejected_deliveries(
    deliver, header_configured, send
):
    headers = {HEADER_NAME: HEADER_VALUE, **MISPLACED, **send.get("headers_extra", {})}
    body = send.get("body", as_body(EnvelopeFactory()))
    kwargs = {"signature": send["signature"]} if "signature" in send else {}
    assert deliver(body, headers=headers, **kwargs).status_code in (400, 401)

    rejected = RejectedDelivery.objects.get()
    assert rejected.headers["X-Copy"] == "[redacted] holds a configured secret"
    assert_no_secret(stored_text())


def test_a_secret_sent_as_the_signature_is_named_so_and_not_stored(deliver):
    deliver(EnvelopeFactory(), signature=TEST_SECRET)
    rejected = RejectedDelivery.objects.get()
    shape = "a configured secret itself, not a signature made with it"
    assert rejected.headers["X-Jodo-Signature"] == f"[redacted] {shape}"
    assert shape in rejected.hint
    assert_no_secret(stored_text())


def test_a_secret_in_a_refused_body_is_not_stored(deliver, header_configured):
    body = json.dumps({"note": f"the secret is {TEST_SECRET}"}).encode()
    # With the right custom header, the body is read, and refused for its signature.
    deliver(body, signature="0" * 64, headers={HEADER_NAME: HEADER_VALUE})
    assert "the secret is [redacted]" in RejectedDelivery.objects.get().body_prefix
    assert_no_secret(stored_text())


def view_only_staff() -> User:
    user = User.objects.create_user("viewer", password="pw", is_staff=True)
    user.user_permissions.set(
        Permission.objects.filter(codename__in=["view_inboundevent", "view_rejecteddelivery"])
    )
    return user


def test_rows_stored_before_the_redaction_are_redacted_when_shown(client, header_configured):
    """Rows recorded by an older version (or before a secret was configured) kept values."""
    event = InboundEventFactory(headers={"X-Jodo-Tokn": HEADER_VALUE, "X-Trace": "kept"})
    rejected = RejectedDelivery.objects.create(
        reason="signature",
        headers={"X-Copy": TEST_SECRET},
        body_prefix=f'{{"leak": "{ROTATED_SECRET}"}}',
    )
    client.force_login(view_only_staff())

    pages = [
        reverse("admin:jodo_webhooks_inboundevent_change", args=[event.pk]),
        reverse("admin:jodo_webhooks_inboundevent_changelist"),
        reverse("admin:jodo_webhooks_rejecteddelivery_change", args=[rejected.pk]),
        reverse("admin:jodo_webhooks_rejecteddelivery_changelist"),
    ]
    for url in pages:
        response = client.get(url)
        assert response.status_code == 200, url
        assert_no_secret(response.content.decode())
    assert "kept" in client.get(pages[0]).content.decode()


def test_no_secret_in_the_logs(deliver, header_configured, caplog):
    caplog.set_level(logging.DEBUG)
    headers = {HEADER_NAME: HEADER_VALUE, **MISPLACED}
    good = EnvelopeFactory(event="test.unhandled")
    deliver(good, headers=headers)
    deliver({**good, "payload": {"changed": True}}, headers=headers)  # 409
    deliver(EnvelopeFactory(), signature=TEST_SECRET, headers=headers)
    deliver(EnvelopeFactory(), headers={**MISPLACED, HEADER_NAME: ROTATED_SECRET})
    deliver(b"not json", headers=headers)
    assert len(caplog.records) >= 4

    for record in caplog.records:
        assert_no_secret(record.getMessage())
        assert_no_secret(logging.Formatter().format(record))


# The DEBUG error page.


def debug_page(settings: Any, client_headers: dict[str, str]) -> str:
    settings.DEBUG = True
    client = Client(raise_request_exception=False)
    response = client.get("/fail/", headers=client_headers)
    assert response.status_code == 500
    content = response.content.decode()
    assert "RuntimeError" in content
    assert "JODO_WEBHOOKS" in content
    return content


@pytest.mark.urls("tests.debug_urls")
def test_debug_page_shows_no_jodo_secret(settings, header_configured):
    assert settings.DEFAULT_EXCEPTION_REPORTER_FILTER == (
        "jodo_webhooks.debug.JodoExceptionReporterFilter"
    )
    content = debug_page(settings, {HEADER_NAME: HEADER_VALUE, "X-Other": TEST_SECRET})

    assert_no_secret(content)
    assert "HEADER_VALUE" in content  # the key is listed, its value hidden
    assert "X-Jodo-Token" in content or "HTTP_X_JODO_TOKEN" in content


def test_djangos_default_filter_would_have_shown_the_header_value(rf, header_configured):
    """Why the project sets its own filter: the default hides SECRETS, not HEADER_VALUE."""

    def page_with(reporter_filter: SafeExceptionReporterFilter) -> str:
        request = rf.get("/fail/", headers={"X-Other": TEST_SECRET})
        request.exception_reporter_filter = reporter_filter
        try:
            raise RuntimeError("boom")
        except RuntimeError:
            return ExceptionReporter(request, *sys.exc_info()).get_traceback_html()

    default = page_with(SafeExceptionReporterFilter())
    assert HEADER_VALUE in default
    assert TEST_SECRET in default  # request.META under a name Django does not suspect
    assert_no_secret(page_with(JodoExceptionReporterFilter()))


def test_frame_variables_holding_a_secret_are_hidden(rf, header_configured):
    def fails(token: str) -> None:
        raise RuntimeError("boom")

    request = rf.get("/")
    request.exception_reporter_filter = JodoExceptionReporterFilter()
    try:
        fails(f"prefix-{HEADER_VALUE}")
    except RuntimeError:
        html = ExceptionReporter(request, *sys.exc_info()).get_traceback_html()
    assert_no_secret(html)
    assert "token" in html  # the variable is listed, its value hidden


def test_the_signature_header_is_hidden_on_the_error_page(rf, header_configured):
    # No local variable holds the signature: the page shows this frame's variables too.
    request = rf.post(
        "/",
        data=b"{}",
        content_type="application/json",
        HTTP_X_JODO_SIGNATURE=sign(b"{}", TEST_SECRET),
    )
    request.exception_reporter_filter = JodoExceptionReporterFilter()
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        html = ExceptionReporter(request, *sys.exc_info()).get_traceback_html()
    assert "HTTP_X_JODO_SIGNATURE" in html  # the header is listed, its value hidden
    assert sign(b"{}", TEST_SECRET) not in html
