"""A scrape and a health check take the same few statements with 20,000 events as with none,
and count them right."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from jodo_webhooks.models import InboundEvent, RejectedDelivery

from .helpers import stored_events
from .scrape import MONITORING_TOKEN, parse

pytestmark = pytest.mark.django_db

Status = InboundEvent.Status
EVENTS = 20_000
# Every 40th event waits for processing, every 50th failed, every 100th is a payment waiting.
SNAPSHOT_STATEMENTS = 3  # the backlogs, the last event received, the refusals of the last hour
BEARER = {"Authorization": f"Bearer {MONITORING_TOKEN}"}


def status(n: int) -> str:
    if n % 100 == 0:
        return "waiting"
    if n % 50 == 0:
        return Status.FAILED
    if n % 40 == 0:
        return Status.RECEIVED
    return Status.PROCESSED


def create_events() -> None:
    now = timezone.now()
    stored_events(EVENTS, now=now, event_type="direct.payment.added", status=status)
    RejectedDelivery.objects.bulk_create(
        RejectedDelivery(reason="signature", received_at=now - timedelta(minutes=n))
        for n in range(1000)
    )


def statements(client, url: str) -> tuple[list[str], bytes]:
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url, headers=BEARER)
    return [query["sql"] for query in captured.captured_queries], response.content


def test_a_scrape_and_a_health_check_take_a_few_statements_whatever_the_table_sizes(
    client, jodo_settings
):
    jodo_settings["MONITORING_TOKEN"] = MONITORING_TOKEN
    metrics, health = reverse("jodo_webhooks:metrics"), reverse("jodo_webhooks:health")
    empty = statements(client, metrics)[0], statements(client, health)[0]
    create_events()

    scraped, text = statements(client, metrics)
    checked, _ = statements(client, health)

    assert len(empty[0]) == len(scraped) == SNAPSHOT_STATEMENTS, "\n".join(scraped)
    assert len(empty[1]) == len(checked) == SNAPSHOT_STATEMENTS, "\n".join(checked)
    samples = parse(text.decode())
    expected = {"waiting": 0, Status.FAILED: 0, Status.RECEIVED: 0}
    for n in range(EVENTS):
        if status(n) in expected:
            expected[status(n)] += 1
    assert samples.get_value("jodo_webhooks_events_waiting") == expected[Status.RECEIVED]
    assert samples.get_value("jodo_webhooks_events_failed") == expected[Status.FAILED]
    assert samples.get_value("jodo_webhooks_payments_waiting_for_student") == expected["waiting"]
    assert (
        samples.get_value("jodo_webhooks_rejected_deliveries_last_hour", reason="signature") == 60
    )
