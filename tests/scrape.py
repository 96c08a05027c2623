"""Reading the app's Prometheus metrics the way Prometheus does: through the real URL, parsed
with prometheus-client's own parser of the text format."""

from __future__ import annotations

from typing import Any

from django.urls import reverse
from prometheus_client.parser import text_string_to_metric_families

MONITORING_TOKEN = "monitoring-token-0123456789"


class Samples(dict[tuple[str, frozenset[tuple[str, str]]], float]):
    """Every sample of a scrape, by name and labels."""

    def get_value(self, name: str, **labels: str) -> float:
        """The sample's value; 0 for one not exported (a counter not incremented yet)."""
        return self.get((name, frozenset(labels.items())), 0.0)


def parse(text: str) -> Samples:
    samples = Samples()
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return samples


def scrape(client: Any, token: str = MONITORING_TOKEN) -> Samples:
    response = client.get(
        reverse("jodo_webhooks:metrics"), headers={"Authorization": f"Bearer {token}"}
    )
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/plain; version=0.0.4")
    return parse(response.content.decode())
