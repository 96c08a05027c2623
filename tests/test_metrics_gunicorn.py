"""Metrics under gunicorn with several worker processes: prometheus-client's multiprocess mode
sums what every worker counted, those that have exited included, whichever worker answers the
scrape. The reference ERP runs as deployed, on a SQLite file of its own."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from jodo_webhooks.security import SIGNATURE_HEADER, sign

from .browser.test_production_server import GUNICORN, ROOT, wait_until_listening
from .factories import EnvelopeFactory
from .helpers import TEST_SECRET
from .scrape import MONITORING_TOKEN, parse

DELIVERIES = 12
MAX_REQUESTS = 4  # each worker exits after 4 requests: the deliveries span at least 3 processes


@pytest.fixture
def gunicorn(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    multiproc_dir = tmp_path / "prometheus"
    multiproc_dir.mkdir()
    env = {
        **{name: os.environ[name] for name in ("PATH", "HOME", "LANG") if name in os.environ},
        "ALLOWED_HOSTS": "127.0.0.1",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        "JODO_WEBHOOK_SECRETS": TEST_SECRET,
        "JODO_WEBHOOK_MONITORING_TOKEN": MONITORING_TOKEN,
        "PROMETHEUS_MULTIPROC_DIR": str(multiproc_dir),
    }
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--no-input", "--verbosity", "0"],
        cwd=ROOT,
        env=env,
        check=True,
        timeout=120,
    )
    command = [str(GUNICORN), "erp_project.wsgi", "--bind", "127.0.0.1:0", "--workers", "2"]
    server = subprocess.Popen(  # noqa: S603 - the project's own gunicorn
        [*command, "--max-requests", str(MAX_REQUESTS)],
        cwd=ROOT,
        env=env,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        yield wait_until_listening(server), multiproc_dir
    finally:
        server.terminate()
        server.wait(timeout=10)


def post(url: str, body: dict) -> dict:
    raw = json.dumps(body).encode()
    request = urllib.request.Request(  # noqa: S310 - a local server
        url,
        raw,
        headers={"Content-Type": "application/json", SIGNATURE_HEADER: sign(raw, TEST_SECRET)},
    )
    with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
        return json.load(response)


def test_the_counts_of_every_worker_process_are_summed(gunicorn):
    url, multiproc_dir = gunicorn
    bodies = [EnvelopeFactory(event="flex.mandate.expired") for _ in range(DELIVERIES)]

    answers = [post(f"{url}/webhooks/jodo/", body)["status"] for body in bodies]
    answers.append(post(f"{url}/webhooks/jodo/", bodies[0])["status"])
    request = urllib.request.Request(  # noqa: S310 - a local server
        f"{url}/webhooks/jodo/metrics", headers={"Authorization": f"Bearer {MONITORING_TOKEN}"}
    )
    with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
        samples = parse(response.read().decode())

    assert answers == ["accepted"] * DELIVERIES + ["duplicate"]
    counting_processes = {path.name for path in multiproc_dir.glob("counter_*.db")}
    assert len(counting_processes) >= 3, counting_processes
    assert samples.get_value("jodo_webhooks_deliveries_total", answer="accepted") == DELIVERIES
    assert samples.get_value("jodo_webhooks_deliveries_total", answer="duplicate") == 1
    assert (
        samples.get_value(
            "jodo_webhooks_event_outcomes_total",
            event_type="flex.mandate.expired",
            outcome="ignored",
        )
        == DELIVERIES
    )
    assert (
        samples.get_value(
            "jodo_webhooks_processing_seconds_count", event_type="flex.mandate.expired"
        )
        == DELIVERIES
    )
    assert samples.get_value("jodo_webhooks_last_event_received_timestamp_seconds") > 0
