"""Prometheus metrics through the real URL: off until configured, the bearer token, and the values
after real deliveries, processing and dismissals; the gauges read from the database."""

from __future__ import annotations

import shutil
import subprocess
from datetime import timedelta
from typing import Any

import pytest
from django.urls import reverse
from django.utils import timezone

from jodo_webhooks import SkipEvent
from jodo_webhooks.models import InboundEvent, RejectedDelivery
from jodo_webhooks.operations import dismiss_events

from ..factories import EnvelopeFactory, InboundEventFactory
from ..helpers import deliver_event
from ..scrape import MONITORING_TOKEN, Samples, scrape

pytestmark = pytest.mark.django_db

Status = InboundEvent.Status
URL = reverse("jodo_webhooks:metrics")


@pytest.fixture
def monitoring(jodo_settings: dict[str, Any]) -> dict[str, Any]:
    jodo_settings["MONITORING_TOKEN"] = MONITORING_TOKEN
    return jodo_settings


def increase(before: Samples, after: Samples, name: str, **labels: str) -> float:
    return after.get_value(name, **labels) - before.get_value(name, **labels)


def test_the_metrics_url_is_off_until_a_token_is_configured(client):
    response = client.get(URL, headers={"Authorization": "Bearer "})

    assert response.status_code == 404
    assert b"jodo_webhooks_" not in response.content


@pytest.mark.parametrize(
    "authorization",
    ["", "Bearer wrong-token", f"Basic {MONITORING_TOKEN}", MONITORING_TOKEN, "Bearer"],
)
def test_the_metrics_url_needs_the_bearer_token(client, monitoring, authorization):
    headers = {"Authorization": authorization} if authorization else {}

    response = client.get(URL, headers=headers)

    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert b"jodo_webhooks_" not in response.content
    assert MONITORING_TOKEN not in response.content.decode()


def test_the_metrics_url_answers_get_only(client, monitoring):
    response = client.post(URL, headers={"Authorization": f"Bearer {MONITORING_TOKEN}"})

    assert response.status_code == 405


def test_deliveries_are_counted_by_answer_and_refusal_reason(client, monitoring, deliver):
    before = scrape(client)
    body = EnvelopeFactory(event="flex.mandate.expired")

    assert deliver(body).json()["status"] == "accepted"
    assert deliver(body).json()["status"] == "duplicate"
    assert deliver(body | {"timestamp": body["timestamp"] - 1}).status_code == 409
    assert deliver(EnvelopeFactory(), secret="not-the-secret").status_code == 401
    assert deliver(b'{"event_id": "x"').status_code == 400
    monitoring["MAX_BODY_BYTES"] = 10
    assert deliver(EnvelopeFactory()).status_code == 413
    after = scrape(client)

    answers = {
        answer: increase(before, after, "jodo_webhooks_deliveries_total", answer=answer)
        for answer in ("accepted", "duplicate", "conflict", "refused", "server_error", "other")
    }
    assert answers == {
        "accepted": 1,
        "duplicate": 1,
        "conflict": 1,
        "refused": 3,
        "server_error": 0,
        "other": 0,
    }
    reasons = {
        reason: increase(before, after, "jodo_webhooks_refused_deliveries_total", reason=reason)
        for reason in RejectedDelivery.Reason.values
        if reason != RejectedDelivery.Reason.DIGEST_MISMATCH
    }
    assert reasons == {
        "signature": 1,
        "header": 0,
        "address": 0,
        "not_configured": 0,
        "too_large": 1,
        "malformed": 1,
    }
    # The refusals of the last hour, as kept in the database: the conflict is one of them.
    assert after.get_value("jodo_webhooks_rejected_deliveries_last_hour", reason="signature") == 1
    assert (
        after.get_value("jodo_webhooks_rejected_deliveries_last_hour", reason="digest_mismatch")
        == 1
    )


def test_a_server_error_is_counted(client, monitoring, deliver, monkeypatch):
    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("something nobody planned for")

    before = scrape(client)
    monkeypatch.setattr("jodo_webhooks.views.receive_envelope", broken)
    assert deliver(EnvelopeFactory()).status_code == 500
    monkeypatch.undo()
    after = scrape(client)

    assert increase(before, after, "jodo_webhooks_deliveries_total", answer="server_error") == 1
    assert increase(before, after, "jodo_webhooks_deliveries_total", answer="accepted") == 0


def test_events_are_counted_by_type_and_outcome_with_their_processing_time(
    client, monitoring, deliver, connect_receiver, admin_user, jodo_settings
):
    jodo_settings["PAYMENT_SYNC"] = None  # these receivers stand in for the ERP's own

    def fails(**kwargs: Any) -> None:
        raise ValueError("no such fee plan")

    def skips(**kwargs: Any) -> None:
        raise SkipEvent("already paid by hand")

    connect_receiver(lambda **kwargs: None, "direct.payment.added")
    connect_receiver(fails, "direct.payment.updated")
    connect_receiver(skips, "direct.payment.cancelled")
    before = scrape(client)

    deliveries = {
        "direct.payment.added": Status.PROCESSED,
        "direct.payment.updated": Status.FAILED,
        "direct.payment.cancelled": Status.SKIPPED,
        "flex.mandate.expired": Status.IGNORED,
        "made.up.event-type-4711": Status.IGNORED,
    }
    events = {}
    for event_type, status in deliveries.items():
        events[event_type] = deliver_event(deliver, EnvelopeFactory(event=event_type))
        assert events[event_type].status == status
    dismiss_events([events["direct.payment.updated"].pk], user=admin_user, reason="wrong plan")
    after = scrape(client)

    def outcomes(event_type: str) -> dict[str, float]:
        counted = {
            outcome: increase(
                before,
                after,
                "jodo_webhooks_event_outcomes_total",
                event_type=event_type,
                outcome=outcome,
            )
            for outcome in Status.values
        }
        return {outcome: n for outcome, n in counted.items() if n}

    assert outcomes("direct.payment.added") == {"processed": 1}
    assert outcomes("direct.payment.updated") == {"failed": 1, "dismissed": 1}
    assert outcomes("direct.payment.cancelled") == {"skipped": 1}
    assert outcomes("flex.mandate.expired") == {"ignored": 1}
    # An event type Jodo does not document is labelled "other": a sender cannot add labels.
    assert outcomes("other") == {"ignored": 1}
    assert not any("made.up" in str(labels) for _, labels in after)
    for event_type in ("direct.payment.added", "direct.payment.updated", "other"):
        name = "jodo_webhooks_processing_seconds"
        assert increase(before, after, f"{name}_count", event_type=event_type) == 1
        assert increase(before, after, f"{name}_bucket", event_type=event_type, le="+Inf") == 1
        assert increase(before, after, f"{name}_sum", event_type=event_type) > 0


def test_the_gauges_are_read_from_the_database_at_scrape_time(client, monitoring):
    now = timezone.now()
    InboundEventFactory(status=Status.RECEIVED, received_at=now - timedelta(minutes=40))
    InboundEventFactory(status=Status.RECEIVED, received_at=now - timedelta(minutes=1))
    InboundEventFactory.create_batch(3, status=Status.FAILED, received_at=now)
    InboundEventFactory(status=Status.DISMISSED, received_at=now - timedelta(days=3))
    InboundEventFactory(status="waiting", received_at=now - timedelta(hours=30))
    newest = InboundEventFactory(status=Status.PROCESSED, received_at=now + timedelta(seconds=1))
    RejectedDelivery.objects.create(reason="signature")
    RejectedDelivery.objects.create(reason="address", received_at=now - timedelta(hours=2))

    samples = scrape(client)

    assert samples.get_value("jodo_webhooks_events_waiting") == 2
    assert 40 * 60 <= samples.get_value("jodo_webhooks_oldest_waiting_event_age_seconds") < 3600
    assert samples.get_value("jodo_webhooks_events_failed") == 3  # the dismissed one is not
    assert samples.get_value("jodo_webhooks_payments_waiting_for_student") == 1
    assert samples.get_value("jodo_webhooks_oldest_payment_waiting_age_seconds") >= 30 * 3600
    assert samples.get_value(
        "jodo_webhooks_last_event_received_timestamp_seconds"
    ) == pytest.approx(newest.received_at.timestamp())
    assert samples.get_value("jodo_webhooks_rejected_deliveries_last_hour", reason="signature") == 1
    assert samples.get_value("jodo_webhooks_rejected_deliveries_last_hour", reason="address") == 0
    failing = {
        check: samples.get_value("jodo_webhooks_health_check_failing", check=check)
        for check in ("failed_events", "waiting_events", "no_events", "payments_waiting")
    }
    assert failing == {
        "failed_events": 1,
        "waiting_events": 1,
        "no_events": 0,
        "payments_waiting": 1,
    }


def test_an_empty_database_exports_zeros_and_no_last_event(client, monitoring):
    samples = scrape(client)

    assert samples.get_value("jodo_webhooks_events_waiting") == 0
    assert samples.get_value("jodo_webhooks_oldest_waiting_event_age_seconds") == 0
    assert ("jodo_webhooks_last_event_received_timestamp_seconds", frozenset()) not in samples


@pytest.mark.skipif(shutil.which("promtool") is None, reason="needs promtool (Debian: prometheus)")
def test_the_metrics_follow_prometheus_naming_conventions(client, monitoring, deliver):
    deliver_event(deliver, EnvelopeFactory())
    InboundEventFactory(status=Status.FAILED)
    response = client.get(URL, headers={"Authorization": f"Bearer {MONITORING_TOKEN}"})

    lint = subprocess.run(
        ["promtool", "check", "metrics"],  # noqa: S607 - Debian's promtool on PATH
        input=response.content,
        capture_output=True,
        check=False,
    )

    assert lint.returncode == 0, lint.stdout.decode() + lint.stderr.decode()


def test_the_monitoring_token_is_never_stored_with_a_delivery(client, monitoring, deliver):
    body = EnvelopeFactory()
    assert deliver(body, headers={"X-Leaked": MONITORING_TOKEN}).status_code == 200

    event = InboundEvent.objects.get(event_id=body["event_id"])
    assert MONITORING_TOKEN not in str(event.headers)
