"""Rejected deliveries for operators: never deleted in the admin, the body's event id shown
(marked unverified before authentication), and hints that find a wrong secret, revealing none."""

from __future__ import annotations

import json

import pytest
from django.urls import reverse

from jodo_webhooks.models import RejectedDelivery

from ..factories import EnvelopeFactory
from ..helpers import ROTATED_SECRET, TEST_SECRET, as_body

pytestmark = pytest.mark.django_db

Reason = RejectedDelivery.Reason
CHANGELIST = reverse("admin:jodo_webhooks_rejecteddelivery_changelist")


def change_url(rejected: RejectedDelivery) -> str:
    return reverse("admin:jodo_webhooks_rejecteddelivery_change", args=[rejected.pk])


def test_rejected_deliveries_cannot_be_deleted_even_by_a_superuser(admin_client, deliver):
    deliver(EnvelopeFactory(), signature="0" * 64)
    rejected = RejectedDelivery.objects.get()

    delete_url = reverse("admin:jodo_webhooks_rejecteddelivery_delete", args=[rejected.pk])
    assert admin_client.post(delete_url, {"post": "yes"}).status_code == 403
    response = admin_client.post(
        CHANGELIST,
        {
            "action": "delete_selected",
            "index": "0",
            "_selected_action": [rejected.pk],
            "post": "yes",
        },
    )
    assert response.status_code == 200  # the list again: there is no such action
    assert RejectedDelivery.objects.filter(pk=rejected.pk).exists()
    page = admin_client.get(CHANGELIST)
    assert page.context["action_form"] is None
    assert delete_url not in admin_client.get(change_url(rejected)).content.decode()


def test_a_refused_signature_shows_the_bodys_event_id_marked_unverified(admin_client, deliver):
    body = EnvelopeFactory()
    deliver(body, signature="0" * 64)
    rejected = RejectedDelivery.objects.get()
    assert rejected.event_id == body["event_id"]
    assert not rejected.event_id_verified

    row = admin_client.get(CHANGELIST).content.decode()
    assert f'title="{body["event_id"]}">{body["event_id"][:8]}…</span>' in row
    assert "(unverified)</span>" in row
    detail = admin_client.get(change_url(rejected)).content.decode()
    assert f'title="{body["event_id"]}">{body["event_id"]}</span>' in detail
    assert "(unverified)" in detail


def test_an_id_read_after_authentication_is_not_marked(admin_client, deliver):
    body = EnvelopeFactory()
    del body["timestamp"]
    deliver(body)
    rejected = RejectedDelivery.objects.get()
    assert (rejected.reason, rejected.event_id_verified) == (Reason.MALFORMED, True)
    assert "(unverified)" not in admin_client.get(change_url(rejected)).content.decode()


@pytest.mark.parametrize(
    "body",
    [b"not json", b'["a list"]', b'{"event_id": 42}', b'{"event_id": "x"' + b" " * 70_000 + b"}"],
    ids=["not-json", "not-an-object", "not-a-string", "too-large-to-parse"],
)
def test_no_event_id_when_the_body_has_none_to_read(deliver, body):
    deliver(body, signature="0" * 64)
    assert RejectedDelivery.objects.get().event_id == ""


def only_hint() -> str:
    rejected = RejectedDelivery.objects.get()
    assert rejected.reason == Reason.SIGNATURE
    return rejected.hint


def test_hint_for_a_signature_made_with_another_secret(deliver, jodo_settings):
    jodo_settings["SECRETS"] = [TEST_SECRET, ROTATED_SECRET]
    deliver(EnvelopeFactory(), secret="the-secret-jodo-really-uses")
    assert only_hint() == (
        "X-Jodo-Signature was 64 characters, lower-case hex, the form of a real signature, but "
        "none of the 2 configured secrets produced it: if every delivery fails like this, the "
        "secret Jodo signs with is not configured here."
    )


def test_hint_for_a_missing_signature(deliver):
    deliver(EnvelopeFactory(), secret=None)
    assert only_hint().startswith("No X-Jodo-Signature header: Jodo signs every delivery")
    assert "(1 configured secret)" in only_hint()


@pytest.mark.parametrize(
    ("signature", "shape"),
    [
        ("A" * 64, "64 characters, not lower-case hex"),
        ("sha256=" + "a" * 64, "71 characters, not lower-case hex"),
        ("abc", "3 characters, lower-case hex"),
    ],
)
def test_hint_for_a_signature_of_the_wrong_form(deliver, signature, shape):
    deliver(EnvelopeFactory(), signature=signature)
    assert only_hint() == (
        f"X-Jodo-Signature was {shape}; a signature is 64 lower-case hex characters "
        "(checked against 1 configured secret)."
    )


def test_hint_is_shown_and_holds_no_secret(admin_client, deliver):
    body = as_body(EnvelopeFactory())
    deliver(body, signature="0" * 64)
    rejected = RejectedDelivery.objects.get()
    content = admin_client.get(change_url(rejected)).content.decode()
    assert "Hint:" in content
    assert "the configured secret did not produce it" in content
    stored = json.dumps(
        [rejected.hint, rejected.headers, rejected.body_prefix, rejected.detail], default=str
    )
    assert TEST_SECRET not in stored
    assert TEST_SECRET not in content


def test_other_refusals_have_no_signature_hint(deliver, jodo_settings):
    jodo_settings["ALLOWED_IPS"] = ["3.6.234.242"]
    deliver(EnvelopeFactory(), REMOTE_ADDR="198.51.100.7")
    assert RejectedDelivery.objects.get().hint == ""
