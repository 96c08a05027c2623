"""The database going away: the health URL and the metrics answer 503 in JSON, never Django's
error page, and recover with the database; the delivery answered 503 meanwhile is counted."""

from __future__ import annotations

import pytest
from django.db import close_old_connections
from django.urls import reverse

from .factories import EnvelopeFactory
from .helpers import requires_server_database
from .scrape import MONITORING_TOKEN, parse
from .test_database_outage import proxy  # noqa: F401 - the fixture

pytestmark = [requires_server_database, pytest.mark.django_db(transaction=True)]

BEARER = {"Authorization": f"Bearer {MONITORING_TOKEN}"}


def get(client, name: str):
    close_old_connections()  # each request connects anew, as a server's would
    try:
        return client.get(reverse(f"jodo_webhooks:{name}"), headers=BEARER)
    finally:
        close_old_connections()


def test_health_and_metrics_answer_503_while_the_database_is_unreachable(
    client,
    deliver,
    jodo_settings,
    proxy,  # noqa: F811
):
    jodo_settings["MONITORING_TOKEN"] = MONITORING_TOKEN
    assert get(client, "health").status_code == 200
    before = parse(get(client, "metrics").content.decode())

    proxy.cut()
    health, metrics = get(client, "health"), get(client, "metrics")
    assert deliver(EnvelopeFactory()).status_code == 503
    proxy.restore()
    after = parse(get(client, "metrics").content.decode())

    assert health.status_code == 503
    assert health.json() == {"status": "unavailable", "failing": ["database"]}
    assert metrics.status_code == 503
    assert metrics.json()["error"] == "unavailable"
    assert get(client, "health").json() == {"status": "ok", "failing": [], "problems": []}
    unavailable = {"name": "jodo_webhooks_deliveries_total", "answer": "unavailable"}
    assert after.get_value(**unavailable) - before.get_value(**unavailable) == 1
