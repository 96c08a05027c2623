"""The app without the `metrics` extra: it imports, receives and processes, the health URL works,
and the metrics URL says what to install. Run in a fresh interpreter where prometheus_client
cannot be imported."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

SCRIPT = r"""
import json, os, sys
sys.modules["prometheus_client"] = None  # `import prometheus_client` now raises ImportError
os.environ["DJANGO_SETTINGS_MODULE"] = "tests.app_settings"
import django
django.setup()
from django.core.management import call_command
from django.test import Client, override_settings
from jodo_webhooks import metrics
from jodo_webhooks.models import InboundEvent
from jodo_webhooks.security import SIGNATURE_HEADER, sign

call_command("migrate", verbosity=0)
config = {"SECRETS": ["s3cret"], "MONITORING_TOKEN": "tok", "MAX_EVENT_AGE_DAYS": 0}
body = json.dumps({"event_id": "e-1", "event": "direct.payment.added", "timestamp": 1,
                   "version": "1.0", "payload": {}}).encode()
client = Client()
bearer = {"Authorization": "Bearer tok"}
with override_settings(JODO_WEBHOOKS=config):
    delivery = client.post("/webhooks/jodo/", body, content_type="application/json",
                           headers={SIGNATURE_HEADER: sign(body, "s3cret")})
    scrape = client.get("/webhooks/jodo/metrics", headers=bearer)
    health = client.get("/webhooks/jodo/health", headers=bearer)
print(json.dumps({
    "available": metrics.AVAILABLE,
    "delivery": [delivery.status_code, delivery.json()],
    "status": InboundEvent.objects.get(event_id="e-1").status,
    "scrape": [scrape.status_code, scrape.json()],
    "health": [health.status_code, health.json()],
}))
"""


def test_the_app_works_without_prometheus_client():
    env = {key: value for key, value in os.environ.items() if key != "DATABASE_URL"}
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    result = subprocess.run(  # noqa: S603 - this interpreter, a fixed script
        [sys.executable, "-c", SCRIPT],
        cwd=Path(__file__).resolve().parents[2],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    answers = json.loads(result.stdout.splitlines()[-1])

    assert answers["available"] is False
    assert answers["delivery"] == [200, {"status": "accepted", "event_id": "e-1"}]
    assert answers["status"] == "ignored"
    assert answers["scrape"][0] == 501
    assert "django-jodo-webhooks[metrics]" in answers["scrape"][1]["detail"]
    assert answers["health"] == [200, {"status": "ok", "failing": [], "problems": []}]
