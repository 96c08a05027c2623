"""Refused requests are kept, redacted and bounded, for operators to read in a read-only admin."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from django.db.models import Model
from django.forms.models import model_to_dict
from django.urls import reverse
from django.utils import timezone

from jodo_webhooks.models import InboundEvent, RejectedDelivery
from jodo_webhooks.security import sign

from ..factories import EnvelopeFactory
from ..helpers import TEST_SECRET, admin_listed, as_body

pytestmark = pytest.mark.django_db

Reason = RejectedDelivery.Reason
CHANGELIST = reverse("admin:jodo_webhooks_rejecteddelivery_changelist")

HEADER_NAME = "X-Jodo-Token"
HEADER_VALUE = "custom-header-value-must-not-be-stored"
WRONG_HEADER_VALUE = "wrong-header-value-must-not-be-stored"
WRONG_SIGNATURE = "f" * 64
COOKIE = "sessionid=cookie-value-must-not-be-stored"
AUTHORIZATION = "Bearer authorization-value-must-not-be-stored"
SENSITIVE = [
    TEST_SECRET,
    HEADER_VALUE,
    WRONG_HEADER_VALUE,
    WRONG_SIGNATURE,
    "cookie-value-must-not-be-stored",
    "authorization-value-must-not-be-stored",
]
# Always sent, so every refusal shows they are dropped.
CREDENTIAL_HEADERS = {"Cookie": COOKIE, "Authorization": AUTHORIZATION, "X-Trace": "kept"}


def stored_text(model: type[Model]) -> str:
    """Every column of every row of `model`, as one string to search."""
    rows = [model_to_dict(row) | {"id": row.pk} for row in model._default_manager.all()]
    return json.dumps(rows, default=str, ensure_ascii=False)


def assert_redacted(rejected: RejectedDelivery) -> None:
    names = {name.lower() for name in rejected.headers}
    # The signature is kept as its shape only ("[redacted] 64 characters, lower-case hex").
    signatures = [v for k, v in rejected.headers.items() if k.lower() == "x-jodo-signature"]
    assert all(value.startswith("[redacted] ") for value in signatures)
    assert "cookie" not in names
    assert "authorization" not in names
    assert HEADER_NAME.lower() not in names
    assert rejected.headers.get("X-Trace") == "kept"
    text = stored_text(RejectedDelivery)
    for secret in SENSITIVE:
        assert secret not in text


def only_rejection(reason: str) -> RejectedDelivery:
    rejected = RejectedDelivery.objects.get()
    assert rejected.reason == reason
    assert_redacted(rejected)
    return rejected


def headers(**extra: str) -> dict[str, str]:
    return CREDENTIAL_HEADERS | extra


def test_missing_signature(deliver):
    body = EnvelopeFactory()
    response = deliver(body, secret=None, headers=headers(), REMOTE_ADDR="192.0.2.10")
    assert response.status_code == 401
    rejected = only_rejection(Reason.SIGNATURE)
    assert rejected.detail == "missing X-Jodo-Signature header"
    assert rejected.remote_addr == "192.0.2.10"
    assert rejected.body_prefix == as_body(body).decode()
    # Kept to help find the delivery, but only what an unauthenticated body claims.
    assert rejected.event_id == body["event_id"]
    assert not rejected.event_id_verified
    assert not InboundEvent.objects.exists()


def test_wrong_signature(deliver):
    body = EnvelopeFactory()
    response = deliver(body, signature=WRONG_SIGNATURE, headers=headers())
    assert response.status_code == 401
    rejected = only_rejection(Reason.SIGNATURE)
    assert rejected.detail == "signature mismatch"
    assert rejected.remote_addr == "127.0.0.1"
    assert not InboundEvent.objects.exists()


def test_signature_with_another_secret(deliver):
    deliver(EnvelopeFactory(), secret="some-other-secret", headers=headers())
    only_rejection(Reason.SIGNATURE)


@pytest.mark.parametrize("value", [None, WRONG_HEADER_VALUE], ids=["missing", "wrong"])
def test_custom_header(deliver, jodo_settings, value):
    jodo_settings.update(HEADER_NAME=HEADER_NAME, HEADER_VALUE=HEADER_VALUE)
    sent = headers() if value is None else headers(**{HEADER_NAME: value})
    response = deliver(EnvelopeFactory(), headers=sent)
    assert response.status_code == 401
    rejected = only_rejection(Reason.HEADER)
    assert rejected.detail == f"{'missing' if value is None else 'wrong'} {HEADER_NAME} header"
    assert not InboundEvent.objects.exists()


def test_custom_header_is_not_stored_on_accepted_events_either(deliver, jodo_settings):
    jodo_settings.update(HEADER_NAME=HEADER_NAME, HEADER_VALUE=HEADER_VALUE)
    response = deliver(EnvelopeFactory(), headers=headers(**{HEADER_NAME: HEADER_VALUE}))
    assert response.status_code == 200, response.content
    event = InboundEvent.objects.get()
    assert event.headers["X-Trace"] == "kept"
    text = stored_text(InboundEvent)
    for secret in SENSITIVE:
        assert secret not in text
    assert sign(event.raw_body.encode(), TEST_SECRET) not in text


def test_source_address(deliver, jodo_settings):
    jodo_settings["ALLOWED_IPS"] = ["3.6.234.242"]
    response = deliver(EnvelopeFactory(), headers=headers(), REMOTE_ADDR="198.51.100.7")
    assert response.status_code == 403
    rejected = only_rejection(Reason.ADDRESS)
    assert rejected.remote_addr == "198.51.100.7"


def test_not_configured(deliver, jodo_settings):
    jodo_settings["SECRETS"] = []
    response = deliver(EnvelopeFactory(), headers=headers())
    assert response.status_code == 401
    only_rejection(Reason.NOT_CONFIGURED)


def test_too_large(deliver, jodo_settings):
    jodo_settings["MAX_BODY_BYTES"] = 200
    body = EnvelopeFactory(payload={"filler": "x" * 500})
    response = deliver(body, headers=headers())
    assert response.status_code == 413
    rejected = only_rejection(Reason.TOO_LARGE)
    assert rejected.body_prefix == ""  # never read
    assert not InboundEvent.objects.exists()


def test_malformed_json(deliver):
    raw = b'{"event_id": "abc", "event": '
    response = deliver(raw, headers=headers())
    assert response.status_code == 400
    rejected = only_rejection(Reason.MALFORMED)
    assert rejected.body_prefix == raw.decode()
    assert rejected.detail.startswith("Body is not valid JSON")
    assert rejected.event_id == ""


def test_invalid_envelope_keeps_readable_event_id(deliver):
    body = EnvelopeFactory()
    del body["timestamp"]
    response = deliver(body, headers=headers())
    assert response.status_code == 400
    rejected = only_rejection(Reason.MALFORMED)
    assert rejected.event_id == body["event_id"]
    assert rejected.event_id_verified  # the request was signed
    assert rejected.detail == "Invalid envelope."
    assert not InboundEvent.objects.exists()


def test_invalid_envelope_with_non_string_event_id(deliver):
    body = EnvelopeFactory(event_id=12345)
    assert deliver(body, headers=headers()).status_code == 400
    assert only_rejection(Reason.MALFORMED).event_id == ""


def test_digest_mismatch(deliver):
    body = EnvelopeFactory(event="test.unhandled")
    assert deliver(body).status_code == 200
    changed = {**body, "payload": {"changed": True}}
    response = deliver(changed, headers=headers())
    assert response.status_code == 409
    rejected = only_rejection(Reason.DIGEST_MISMATCH)
    assert rejected.event_id == body["event_id"]
    assert rejected.body_prefix == as_body(changed).decode()
    assert InboundEvent.objects.get().digest_mismatches == 1


def test_body_prefix_is_at_most_4096_characters(deliver):
    raw = as_body(EnvelopeFactory(payload={"filler": "y" * 10_000}))
    deliver(raw, signature=WRONG_SIGNATURE, headers=headers())
    rejected = only_rejection(Reason.SIGNATURE)
    assert len(rejected.body_prefix) == 4096
    assert rejected.body_prefix == raw[:4096].decode()


def test_body_prefix_of_multibyte_text_is_at_most_4096_characters(deliver):
    raw = as_body(EnvelopeFactory(payload={"filler": "é" * 5000}))
    raw = raw.replace(b"\\u00e9", "é".encode())  # raw UTF-8, two bytes a character
    deliver(raw, signature=WRONG_SIGNATURE)
    assert len(RejectedDelivery.objects.get().body_prefix) <= 4096


@pytest.mark.django_db(transaction=True)
def test_body_with_nul_bytes_is_still_kept(deliver):
    """A refused body may hold anything; PostgreSQL text columns cannot store NUL."""
    raw = b'{"event_id": "a\x00b", "junk": "\x00\x00"}'
    response = deliver(raw, headers=headers())
    assert response.status_code == 400
    rejected = only_rejection(Reason.MALFORMED)
    assert rejected.body_prefix.startswith('{"event_id": "a')


def test_secret_and_signatures_never_stored(deliver, jodo_settings):
    """Across every kind of refusal, no stored column holds a secret or a signature."""
    good = EnvelopeFactory(event="test.unhandled")
    sent_signatures = [sign(as_body(good), TEST_SECRET)]
    deliver(good, headers=headers())
    deliver(EnvelopeFactory(), signature=WRONG_SIGNATURE, headers=headers())
    deliver(b"not json", headers=headers())
    deliver({**good, "payload": {"other": 1}}, headers=headers())
    sent_signatures.append(sign(as_body({**good, "payload": {"other": 1}}), TEST_SECRET))
    sent_signatures.append(sign(b"not json", TEST_SECRET))
    jodo_settings.update(HEADER_NAME=HEADER_NAME, HEADER_VALUE=HEADER_VALUE)
    deliver(EnvelopeFactory(), headers=headers(**{HEADER_NAME: WRONG_HEADER_VALUE}))
    assert RejectedDelivery.objects.count() == 4

    text = stored_text(RejectedDelivery) + stored_text(InboundEvent)
    for secret in [*SENSITIVE, *sent_signatures]:
        assert secret not in text


def test_table_is_bounded_by_the_limit(deliver, jodo_settings):
    jodo_settings["REJECTED_DELIVERY_LIMIT"] = 3
    bodies = [as_body({"n": n}) for n in range(10)]
    for body in bodies:
        assert deliver(body, signature=WRONG_SIGNATURE).status_code == 401
    assert RejectedDelivery.objects.count() == 3
    kept = list(RejectedDelivery.objects.order_by("pk").values_list("body_prefix", flat=True))
    assert kept == [body.decode() for body in bodies[-3:]]


def test_limit_applies_across_reasons(deliver, jodo_settings):
    jodo_settings["REJECTED_DELIVERY_LIMIT"] = 2
    deliver(b"{}", secret=None)
    deliver(b"{}", signature=WRONG_SIGNATURE)
    deliver(b"not json")
    assert sorted(RejectedDelivery.objects.values_list("reason", flat=True)) == [
        Reason.MALFORMED,
        Reason.SIGNATURE,
    ]


# The read-only admin.


def listed(client: Any, **query: str) -> list[RejectedDelivery]:
    return admin_listed(client, CHANGELIST, **query)


def test_admin_changelist_renders_and_filters_by_reason(admin_client, deliver):
    deliver(b"{}", signature=WRONG_SIGNATURE, REMOTE_ADDR="192.0.2.44")
    deliver(b"not json")
    response = admin_client.get(CHANGELIST)
    assert response.status_code == 200
    content = response.content.decode()
    assert "192.0.2.44" in content
    assert "signature mismatch" in content
    assert len(response.context["cl"].result_list) == 2

    assert [r.reason for r in listed(admin_client, reason="signature")] == [Reason.SIGNATURE]
    assert [r.reason for r in listed(admin_client, reason="malformed")] == [Reason.MALFORMED]


def test_admin_filters_by_date(admin_client, deliver):
    deliver(b"{}", signature=WRONG_SIGNATURE)
    old = RejectedDelivery.objects.create(
        reason=Reason.HEADER, received_at=timezone.now() - timedelta(days=10)
    )
    start = timezone.localtime().replace(hour=0, minute=0, second=0, microsecond=0)
    today = listed(
        admin_client, received_at__gte=str(start), received_at__lt=str(start + timedelta(days=1))
    )
    assert [r.reason for r in today] == [Reason.SIGNATURE]
    earlier = listed(admin_client, received_at__lt=str(start - timedelta(days=7)))
    assert [r.pk for r in earlier] == [old.pk]


def test_admin_detail_is_read_only_and_redacted(admin_client, deliver):
    deliver(b"{}", signature=WRONG_SIGNATURE, headers=headers())
    rejected = RejectedDelivery.objects.get()
    url = reverse("admin:jodo_webhooks_rejecteddelivery_change", args=[rejected.pk])
    response = admin_client.get(url)
    assert response.status_code == 200
    content = response.content.decode()
    assert "X-Trace" in content
    for secret in SENSITIVE:
        assert secret not in content
    assert response.context["has_change_permission"] is False

    before = model_to_dict(rejected)
    response = admin_client.post(url, {"reason": "header", "detail": "edited"})
    assert response.status_code == 403
    rejected.refresh_from_db()
    assert model_to_dict(rejected) == before


def test_admin_cannot_add(admin_client):
    add_url = reverse("admin:jodo_webhooks_rejecteddelivery_add")
    assert admin_client.get(add_url).status_code == 403
    assert admin_client.post(add_url, {"reason": "header"}).status_code == 403
    assert not RejectedDelivery.objects.exists()
    assert add_url not in admin_client.get(CHANGELIST).content.decode()
