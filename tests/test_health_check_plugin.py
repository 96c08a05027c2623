"""The app's verdict in django-health-check's own page, for an ERP that uses it."""

from __future__ import annotations

import pytest

from jodo_webhooks.models import InboundEvent

from .factories import InboundEventFactory

# django-health-check runs the check in a worker thread, on its own connection: the rows must
# be committed to be seen there.
pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.urls("tests.health_check_urls")]


def test_django_health_check_reports_the_verdict(client):
    healthy = client.get("/ht/", {"format": "json"})
    InboundEventFactory(status=InboundEvent.Status.FAILED, last_error="ValueError: detail")
    attention = client.get("/ht/", {"format": "json"})

    assert healthy.status_code == 200
    assert healthy.json() == {"JodoWebhooks()": "OK"}
    assert attention.status_code == 500
    assert attention.json() == {"JodoWebhooks()": "Unavailable: needs attention: failed_events"}
