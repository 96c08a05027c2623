"""Who may deliver: HTTP method and size limits, then signature, custom header and source address.

Every test goes through the real URL and view and looks at the real database afterwards.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest
from django.urls import reverse

from jodo_webhooks.models import InboundEvent
from jodo_webhooks.security import SIGNATURE_HEADER, sign

from ..factories import EnvelopeFactory
from ..helpers import ROTATED_SECRET, TEST_SECRET, as_body, assert_accepted

pytestmark = pytest.mark.django_db

URL_NAME = "jodo_webhooks:receive"
HEADER_NAME = "X-Jodo-Token"
HEADER_VALUE = "agreed-header-value-4f1c9a"
JODO_IP = "3.6.234.242"  # a published production address
OTHER_IP = "198.51.100.7"


def refusal_warnings(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [
        record
        for record in caplog.records
        if record.name == "jodo_webhooks" and record.levelno == logging.WARNING
    ]


def assert_refused(response: Any, status_code: int) -> None:
    assert response.status_code == status_code, response.content
    assert InboundEvent.objects.count() == 0


# --- HTTP method and body size -----------------------------------------------------------------


@pytest.mark.parametrize("method", ["get", "put", "patch", "delete"])
def test_methods_other_than_post_are_not_allowed(client, method):
    body = as_body(EnvelopeFactory())
    signature = {SIGNATURE_HEADER: sign(body, TEST_SECRET)}
    if method == "get":
        response = client.get(reverse(URL_NAME), headers=signature)
    else:
        response = getattr(client, method)(
            reverse(URL_NAME), data=body, content_type="application/json", headers=signature
        )
    assert response.status_code == 405
    assert "POST" in response["Allow"]
    assert InboundEvent.objects.count() == 0


def test_body_over_the_limit_is_refused_with_413(deliver, jodo_settings):
    jodo_settings["MAX_BODY_BYTES"] = 100
    body = as_body(EnvelopeFactory())
    assert len(body) > 100
    response = deliver(body)
    assert_refused(response, 413)


def test_body_at_the_limit_is_accepted(deliver, jodo_settings):
    body = EnvelopeFactory(event="test.unhandled", payload={})
    raw = as_body(body)
    jodo_settings["MAX_BODY_BYTES"] = len(raw)
    assert_accepted(deliver(raw), body)


# --- Fail closed -------------------------------------------------------------------------------


def test_no_mechanism_configured_refuses_every_delivery(deliver, jodo_settings):
    jodo_settings["SECRETS"] = []
    response = deliver(EnvelopeFactory())  # still signed with TEST_SECRET: not enough
    assert_refused(response, 401)


def test_allow_unauthenticated_accepts_when_nothing_is_configured(deliver, jodo_settings):
    jodo_settings["SECRETS"] = []
    jodo_settings["ALLOW_UNAUTHENTICATED"] = True
    body = EnvelopeFactory()
    assert_accepted(deliver(body, secret=None), body)


def test_allow_unauthenticated_does_not_bypass_configured_mechanisms(deliver, jodo_settings):
    jodo_settings["ALLOW_UNAUTHENTICATED"] = True  # SECRETS stays configured
    response = deliver(EnvelopeFactory(), secret=None)
    assert_refused(response, 401)


# --- Signature ---------------------------------------------------------------------------------


def test_missing_signature_is_refused(deliver):
    assert_refused(deliver(EnvelopeFactory(), secret=None), 401)


def test_empty_signature_is_refused(deliver):
    assert_refused(deliver(EnvelopeFactory(), signature=""), 401)


def test_signature_with_another_secret_is_refused(deliver):
    assert_refused(deliver(EnvelopeFactory(), secret="not-the-secret"), 401)


def test_garbage_signature_is_refused(deliver):
    assert_refused(deliver(EnvelopeFactory(), signature="0" * 64), 401)


def test_signature_over_a_reserialised_body_is_refused(deliver):
    """Same JSON content, different bytes: the signature covers the raw body only."""
    body = EnvelopeFactory()
    compact = json.dumps(body, separators=(",", ":")).encode()
    indented = json.dumps(body, indent=2).encode()
    response = deliver(indented, signature=sign(compact, TEST_SECRET))
    assert_refused(response, 401)


def test_valid_signature_is_accepted(deliver):
    body = EnvelopeFactory()
    assert_accepted(deliver(body), body)


def test_valid_signature_over_indented_body_is_accepted(deliver):
    body = EnvelopeFactory()
    assert_accepted(deliver(json.dumps(body, indent=2).encode()), body)


def test_both_secrets_are_accepted_during_rotation(deliver, jodo_settings):
    jodo_settings["SECRETS"] = [TEST_SECRET, ROTATED_SECRET]
    old, new = EnvelopeFactory(), EnvelopeFactory()
    assert_accepted(deliver(old, secret=TEST_SECRET), old)
    assert_accepted(deliver(new, secret=ROTATED_SECRET), new)
    refused = deliver(EnvelopeFactory(), secret="retired-secret")
    assert refused.status_code == 401
    assert InboundEvent.objects.count() == 2


def test_secrets_given_as_a_comma_separated_string(deliver, jodo_settings):
    jodo_settings["SECRETS"] = f"{TEST_SECRET}, {ROTATED_SECRET}"
    body = EnvelopeFactory()
    assert_accepted(deliver(body, secret=ROTATED_SECRET), body)


# --- Custom header -----------------------------------------------------------------------------


@pytest.fixture
def header_only(jodo_settings):
    jodo_settings["SECRETS"] = []
    jodo_settings["HEADER_NAME"] = HEADER_NAME
    jodo_settings["HEADER_VALUE"] = HEADER_VALUE


@pytest.mark.usefixtures("header_only")
def test_missing_custom_header_is_refused(deliver):
    assert_refused(deliver(EnvelopeFactory(), secret=None), 401)


@pytest.mark.usefixtures("header_only")
@pytest.mark.parametrize("value", ["wrong", HEADER_VALUE + "x", HEADER_VALUE[:-1], ""])
def test_wrong_custom_header_is_refused(deliver, value):
    response = deliver(EnvelopeFactory(), secret=None, headers={HEADER_NAME: value})
    assert_refused(response, 401)


@pytest.mark.usefixtures("header_only")
def test_correct_custom_header_is_accepted(deliver):
    body = EnvelopeFactory()
    response = deliver(body, secret=None, headers={HEADER_NAME: HEADER_VALUE})
    assert_accepted(response, body)


@pytest.mark.usefixtures("header_only")
def test_custom_header_name_is_case_insensitive(deliver):
    body = EnvelopeFactory()
    response = deliver(body, secret=None, headers={HEADER_NAME.lower(): HEADER_VALUE})
    assert_accepted(response, body)


def test_credentials_are_not_stored_with_the_event(deliver, jodo_settings):
    jodo_settings["HEADER_NAME"] = HEADER_NAME
    jodo_settings["HEADER_VALUE"] = HEADER_VALUE
    body = EnvelopeFactory()
    raw = as_body(body)
    signature = sign(raw, TEST_SECRET)
    response = deliver(
        raw,
        signature=signature,
        headers={
            HEADER_NAME: HEADER_VALUE,
            "Cookie": "sessionid=very-secret-session",
            "Authorization": "Bearer very-secret-token",
            "Proxy-Authorization": "Basic cHJveHk6c2VjcmV0",
            "X-Request-Id": "req-42",
        },
    )
    event = assert_accepted(response, body)
    names = {name.lower() for name in event.headers}
    assert "x-request-id" in names  # ordinary headers are kept
    assert event.headers.get("X-Request-Id") == "req-42"
    # The signature is kept as its shape only (it helps spot a wrong secret on refusals).
    assert event.headers[SIGNATURE_HEADER] == "[redacted] 64 characters, lower-case hex"
    for dropped in (
        HEADER_NAME,
        "Cookie",
        "Authorization",
        "Proxy-Authorization",
    ):
        assert dropped.lower() not in names
    stored = json.dumps(event.headers)
    for secret_value in (HEADER_VALUE, signature, "very-secret-session", "very-secret-token"):
        assert secret_value not in stored


# --- Source address allowlist ------------------------------------------------------------------


@pytest.fixture
def jodo_ip_only(jodo_settings):
    jodo_settings["SECRETS"] = []
    jodo_settings["ALLOWED_IPS"] = [JODO_IP]


@pytest.mark.usefixtures("jodo_ip_only")
def test_address_outside_the_allowlist_is_forbidden(deliver):
    response = deliver(EnvelopeFactory(), secret=None, REMOTE_ADDR=OTHER_IP)
    assert_refused(response, 403)


@pytest.mark.usefixtures("jodo_ip_only")
def test_single_allowed_address_is_accepted(deliver):
    body = EnvelopeFactory()
    event = assert_accepted(deliver(body, secret=None, REMOTE_ADDR=JODO_IP), body)
    assert event.remote_addr == JODO_IP


@pytest.mark.usefixtures("jodo_ip_only")
def test_ipv4_mapped_ipv6_address_is_matched(deliver):
    body = EnvelopeFactory()
    assert_accepted(deliver(body, secret=None, REMOTE_ADDR=f"::ffff:{JODO_IP}"), body)


@pytest.mark.parametrize(("remote_addr", "status_code"), [("10.20.30.40", 200), ("11.0.0.1", 403)])
def test_cidr_allowlist(deliver, jodo_settings, remote_addr, status_code):
    jodo_settings["SECRETS"] = []
    jodo_settings["ALLOWED_IPS"] = ["192.0.2.1", "10.0.0.0/8"]
    response = deliver(EnvelopeFactory(), secret=None, REMOTE_ADDR=remote_addr)
    assert response.status_code == status_code, response.content
    assert InboundEvent.objects.count() == (1 if status_code == 200 else 0)


@pytest.mark.usefixtures("jodo_ip_only")
def test_forwarded_for_is_ignored_without_trusted_proxies(deliver):
    response = deliver(
        EnvelopeFactory(), secret=None, REMOTE_ADDR=OTHER_IP, HTTP_X_FORWARDED_FOR=JODO_IP
    )
    assert_refused(response, 403)


@pytest.mark.usefixtures("jodo_ip_only")
def test_one_trusted_proxy_uses_the_rightmost_forwarded_address(deliver, jodo_settings):
    jodo_settings["TRUSTED_PROXIES"] = 1
    body = EnvelopeFactory()
    response = deliver(
        body,
        secret=None,
        REMOTE_ADDR="10.0.0.2",  # the proxy itself
        HTTP_X_FORWARDED_FOR=f"{OTHER_IP}, {JODO_IP}",  # a client-supplied entry, then the proxy's
    )
    event = assert_accepted(response, body)
    assert event.remote_addr == JODO_IP


@pytest.mark.usefixtures("jodo_ip_only")
def test_one_trusted_proxy_ignores_spoofed_leftmost_entries(deliver, jodo_settings):
    jodo_settings["TRUSTED_PROXIES"] = 1
    response = deliver(
        EnvelopeFactory(),
        secret=None,
        REMOTE_ADDR=JODO_IP,  # not what counts behind a proxy
        HTTP_X_FORWARDED_FOR=f"{JODO_IP}, {OTHER_IP}",
    )
    assert_refused(response, 403)


@pytest.mark.usefixtures("jodo_ip_only")
def test_trusted_proxy_without_forwarded_header_is_forbidden(deliver, jodo_settings):
    jodo_settings["TRUSTED_PROXIES"] = 1
    response = deliver(EnvelopeFactory(), secret=None, REMOTE_ADDR=JODO_IP)
    assert_refused(response, 403)


# --- All mechanisms together -------------------------------------------------------------------


@pytest.fixture
def all_mechanisms(jodo_settings):
    jodo_settings["SECRETS"] = [TEST_SECRET]
    jodo_settings["HEADER_NAME"] = HEADER_NAME
    jodo_settings["HEADER_VALUE"] = HEADER_VALUE
    jodo_settings["ALLOWED_IPS"] = [JODO_IP]


GOOD = {"secret": TEST_SECRET, "header": HEADER_VALUE, "addr": JODO_IP}


@pytest.mark.usefixtures("all_mechanisms")
@pytest.mark.parametrize(
    ("failing", "status_code"),
    [
        ({"addr": OTHER_IP}, 403),
        ({"header": "wrong"}, 401),
        ({"header": None}, 401),
        ({"secret": "wrong"}, 401),
        ({"secret": None}, 401),
    ],
    ids=["address", "wrong-header", "no-header", "wrong-signature", "no-signature"],
)
def test_every_configured_mechanism_must_pass(deliver, failing, status_code):
    creds = GOOD | failing
    headers = {HEADER_NAME: creds["header"]} if creds["header"] is not None else {}
    response = deliver(
        EnvelopeFactory(), secret=creds["secret"], headers=headers, REMOTE_ADDR=creds["addr"]
    )
    assert_refused(response, status_code)


@pytest.mark.usefixtures("all_mechanisms")
def test_all_mechanisms_passing_is_accepted(deliver):
    body = EnvelopeFactory()
    response = deliver(
        body, secret=TEST_SECRET, headers={HEADER_NAME: HEADER_VALUE}, REMOTE_ADDR=JODO_IP
    )
    assert_accepted(response, body)


# --- Logging of refusals -----------------------------------------------------------------------


REFUSALS: dict[str, tuple[dict[str, Any], dict[str, Any], int]] = {
    "not-configured": ({"SECRETS": []}, {}, 401),
    "missing-signature": ({}, {"secret": None}, 401),
    "wrong-signature": ({}, {"secret": "attacker-guess"}, 401),
    "missing-header": (
        {"HEADER_NAME": HEADER_NAME, "HEADER_VALUE": HEADER_VALUE},
        {},
        401,
    ),
    "wrong-header": (
        {"HEADER_NAME": HEADER_NAME, "HEADER_VALUE": HEADER_VALUE},
        {"headers": {HEADER_NAME: "attacker-guess"}},
        401,
    ),
    "address": ({"ALLOWED_IPS": [JODO_IP]}, {}, 403),
}


@pytest.mark.parametrize("case", list(REFUSALS))
def test_each_refusal_logs_one_warning_without_secrets(deliver, jodo_settings, caplog, case):
    overrides, kwargs, status_code = REFUSALS[case]
    jodo_settings.update(overrides)
    raw = as_body(EnvelopeFactory())
    caplog.set_level(logging.DEBUG)

    response = deliver(raw, REMOTE_ADDR=OTHER_IP, **kwargs)

    assert_refused(response, status_code)
    reason = response.json()["detail"]
    assert reason
    warnings = refusal_warnings(caplog)
    assert len(warnings) == 1, [r.getMessage() for r in warnings]
    message = warnings[0].getMessage()
    assert OTHER_IP in message
    assert reason in message
    # Nothing that would help forge a delivery reaches the logs (or the answer).
    expected_signature = sign(raw, TEST_SECRET)
    for leaked in (TEST_SECRET, expected_signature, HEADER_VALUE):
        assert leaked not in caplog.text
        assert leaked not in response.content.decode()
