"""SQL queries per delivery, counted in-process through the real URL, middleware and view.

Run by bench/run.py (scenario "queries") with the project's environment:
    .venv/bin/python bench/count_queries.py            # the project
    .venv/bin/python bench/count_queries.py --reference  # the reference receiver
Prints one JSON object: {case: {"status": ..., "queries": n, "sql": [...]}}. Django's test client
drives the request, so the numbers include everything a real request runs except the
connection health check (CONN_HEALTH_CHECKS), which bypasses Django's cursor: one `SELECT 1`
per request, in both receivers alike.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path[:0] = [str(BENCH.parent), str(BENCH)]

parser = argparse.ArgumentParser()
parser.add_argument("--reference", action="store_true")
parser.add_argument("--tag", default=f"q{int(time.time())}")
args = parser.parse_args()
if args.reference:
    os.environ["DJANGO_SETTINGS_MODULE"] = "reference.settings"
else:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "erp_project.settings")
os.environ["ALLOWED_HOSTS"] = "testserver"

import django

django.setup()

from django.conf import settings
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from bodies import encode, envelope, sign

CONTROL = re.compile(r"\s*(BEGIN|COMMIT|ROLLBACK|SAVEPOINT|RELEASE SAVEPOINT|ROLLBACK TO)\b", re.I)
SECRET = os.environ["JODO_WEBHOOK_SECRETS"].split(",")[0]
client = Client()
results: dict[str, dict] = {}


def summary(status: object, queries: list[dict]) -> dict:
    """Django 5.2 logs BEGIN/COMMIT/SAVEPOINT too: count every statement (each is a round
    trip) and, apart, those that are not transaction control."""
    sql = [query["sql"] for query in queries]
    control = [s for s in sql if CONTROL.match(s)]
    return {
        "status": status,
        "queries": len(sql),
        "queries_excluding_transaction_control": len(sql) - len(control),
        "sql": sql,
    }


def deliver(case: str | None, body: dict) -> None:
    raw = encode(body)
    with CaptureQueriesContext(connection) as captured:
        response = client.post(
            "/webhooks/jodo/",
            data=raw,
            content_type="application/json",
            headers={"X-Jodo-Signature": sign(raw, SECRET)},
        )
    if case is not None:
        results[case] = summary(response.status_code, captured.captured_queries)


def process(case: str, event_id: str) -> None:
    from jodo_webhooks.models import InboundEvent
    from jodo_webhooks.processing import process_event

    pk = InboundEvent.objects.get(event_id=event_id).pk
    with CaptureQueriesContext(connection) as captured:
        outcome = process_event(pk)
    results[case] = summary(outcome, captured.captured_queries)


tag = args.tag
deliver(None, envelope(f"{tag}-warm", 3))  # connection set-up and first-request caches
for notes in (0, 1, 3, 50):
    deliver(f"new student, {notes} notes", envelope(f"{tag}-n{notes}", notes))
if not args.reference:
    again = envelope(f"{tag}-dup", 3)
    deliver(None, again)
    deliver("duplicate delivery", again)
    deliver(
        "existing student, 3 notes",
        envelope(f"{tag}-n3", 3, timestamp=int(time.time()) + 1),
    )
    if "PROCESSING" in getattr(settings, "JODO_WEBHOOKS", {}):
        settings.JODO_WEBHOOKS["PROCESSING"] = "task"
        for notes in (1, 50):
            body = envelope(f"{tag}-t{notes}", notes)
            deliver(f"task mode ingest, {notes} notes", body)
            process(f"task mode processing (worker), {notes} notes", body["event_id"])

print(json.dumps(results))
