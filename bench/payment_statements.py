"""Payment events through the endpoint, in-process: SQL statements and time per event
(scenario "payments"). Registers --payments students, then sends each a new payment with 1 fee
line, one with 20, and a settlement of the first. Prints a JSON summary, last line.

Run by bench/run.py with the project's environment, or by hand against a migrated database:
    .venv/bin/python bench/payment_statements.py --payments 200
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import uuid
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
sys.path[:0] = [str(BENCH.parent), str(BENCH)]
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "erp_project.settings")

import django

django.setup()

from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from jodo_webhooks.models import InboundEvent
from students.models import FeePayment

from load import encode, envelope, sign

parser = argparse.ArgumentParser()
parser.add_argument("--payments", type=int, default=200)
parser.add_argument("--tag", default=f"pay{int(time.time())}")
args = parser.parse_args()
SECRET = os.environ["JODO_WEBHOOK_SECRETS"].split(",")[0]
client = Client(HTTP_HOST="127.0.0.1")


def post(body: dict[str, Any]) -> int:
    raw = encode(body)
    signature = sign(raw, SECRET)
    response = client.post(
        "/webhooks/jodo/", raw, content_type="application/json", HTTP_X_JODO_SIGNATURE=signature
    )
    return response.status_code


def payment(event: str, identifier: str, payment_id: str, lines: int, age: int) -> dict[str, Any]:
    details = [{"fee_component": f"C{n:02d}", "amount": "10.00"} for n in range(lines)]
    return {
        "event": event,
        "event_id": str(uuid.uuid4()),
        "version": "1.0",
        "timestamp": int(time.time()) - age,
        "payload": {
            "jodo_student_id": f"student_{identifier}",
            "student": {"identifier": identifier, "custom_identifier": f"cust_{identifier}"},
            "payment": {
                "id": payment_id,
                "amount": f"{10 * lines}.00",
                "mode": "upi",
                "paid_at": "2026-06-01T10:00:00Z",
                "details": details,
            },
        },
    }


students = [f"{args.tag}-{n:06d}" for n in range(args.payments)]
for identifier in students:
    assert post(envelope(identifier, 1)) == 200
kinds = [
    ("new payment, 1 line", "flex.instalment.debited", "a", 1, 20),
    ("new payment, 20 lines", "direct.payment.added", "b", 20, 20),
    ("settlement of a known payment", "flex.instalment.settled", "a", 1, 10),
]
rounds = []
for label, event, suffix, lines, age in kinds:
    counts: list[int] = []
    start = time.perf_counter()
    for identifier in students:
        with CaptureQueriesContext(connection) as captured:
            assert post(payment(event, identifier, f"{identifier}{suffix}", lines, age)) == 200
        counts.append(len(captured.captured_queries))
    seconds = time.perf_counter() - start
    rounds.append(
        {
            "event": label,
            "events": len(students),
            "statements_per_event": round(sum(counts) / len(counts), 2),
            "max_statements": max(counts),
            "ms_per_event": round(1000 * seconds / len(students), 2),
        }
    )
not_processed = InboundEvent.objects.exclude(status="processed").count()
payments = FeePayment.objects.filter(student__identifier__startswith=args.tag).count()
ok = not_processed == 0 and payments == 2 * len(students)
detail = f"{payments} payments for {len(students)} students; {not_processed} events not processed"
print(json.dumps({"rounds": rounds, "ok": ok, "detail": detail}))
