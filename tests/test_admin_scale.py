"""With 20,000 events the changelist, its filters and its searches take a fixed number of queries
and find their rows. How fast they are is measured, not asserted: the README records the times
measured under gunicorn (no timed tests on shared machines)."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from jodo_webhooks.models import InboundEvent
from students.models import Student

pytestmark = pytest.mark.django_db

Status = InboundEvent.Status
CHANGELIST = reverse("admin:jodo_webhooks_inboundevent_changelist")
EVENTS = 20_000
TYPES = ["masterdata.student.registered", "masterdata.student.dropped", "direct.payment.added"]
# Every 20th event failed, the rest spread over the final statuses.
STATUSES = [Status.FAILED] + [Status.PROCESSED] * 16 + [Status.SKIPPED, Status.IGNORED] * 2


@pytest.fixture
def many_events() -> list[InboundEvent]:
    now = timezone.now()
    body = '{"event": "masterdata.student.registered", "payload": {}}' + " " * 500
    events = [
        InboundEvent(
            event_id=str(uuid.uuid4()),
            event_type=TYPES[n % len(TYPES)],
            version="1.0",
            occurred_at=now - timedelta(minutes=n),
            received_at=now - timedelta(minutes=n),
            last_delivered_at=now - timedelta(minutes=n),
            jodo_student_id=f"J-{n % 5000}",
            student_identifier=f"{100000 + n % 5000}",
            payload={"jodo_student_id": f"J-{n % 5000}", "student": {"identifier": str(n)}},
            raw_body=body,
            payload_digest="0" * 64,
            status=STATUSES[n % len(STATUSES)],
            last_error="RuntimeError: broken" if n % 20 == 0 else "",
            last_error_traceback="Traceback ...\n" * 40 if n % 20 == 0 else "",
        )
        for n in range(EVENTS)
    ]
    created = InboundEvent.objects.bulk_create(events, batch_size=1000)
    Student.objects.bulk_create(
        Student(identifier=f"{100000 + n}", jodo_student_id=f"J-{n}") for n in range(5000)
    )
    # Fresh statistics, as autovacuum would gather. Not on MySQL/MariaDB: there ANALYZE TABLE
    # commits the test's transaction, and InnoDB keeps its statistics up to date by itself.
    if connection.vendor != "mysql":
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
    return created


def queries_and_rows(client: Any, query: dict[str, str]) -> tuple[int, int]:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(CHANGELIST, query)
    assert response.status_code == 200
    assert "e" not in response.wsgi_request.GET, "the admin refused the query"
    return len(queries), len(response.context["cl"].result_list)


def test_changelist_filters_and_searches_with_20000_events(admin_client, many_events):
    sample = many_events[12345]
    midnight = timezone.localtime().replace(hour=0, minute=0, second=0, microsecond=0)
    cases = {
        "list": {},
        "failed": {"status__exact": "failed"},
        "type": {"event_type": "direct.payment.added"},
        "today": {"received_at__gte": str(midnight)},
        "event id prefix": {"q": sample.event_id[:8]},
        "jodo id": {"q": sample.jodo_student_id},
        "identifier": {"q": sample.student_identifier},
        "student filter": {"jodo_student_id": sample.jodo_student_id},
        "failed, page 5": {"status__exact": "failed", "p": "5"},
    }
    for name, query in cases.items():
        queries, rows = queries_and_rows(admin_client, query)
        assert queries <= 6, name
        assert rows > 0, name
