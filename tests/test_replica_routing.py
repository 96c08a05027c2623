"""Behind a primary/replica router whose replica refuses writes, every write and every lock goes
to the database that `router.db_for_write` names: deliveries, processing, reprocessing, pruning
and the race to create a new student all work.

The `replica` alias (tests/settings.py) is the test database itself through a read-only session,
so anything routed there by mistake fails loudly instead of silently reading stale data.
"""

from __future__ import annotations

from functools import partial
from typing import Any

import pytest
from django.core.management import call_command
from django.db import DatabaseError
from django.test import Client

from jodo_webhooks.models import InboundEvent
from students.models import FeePayment, Student, StudentNote

from .factories import EnvelopeFactory
from .helpers import assert_accepted, requires_server_database, signed_post
from .payment_factories import payment_event
from .processes import run_concurrently

pytestmark = [
    requires_server_database,
    pytest.mark.django_db(transaction=True, databases=["default", "replica"]),
]


class PrimaryReplicaRouter:
    """Django's documented primary/replica router: reads from the replica, writes to the primary."""

    def db_for_read(self, model: Any, **hints: Any) -> str:
        return "replica"

    def db_for_write(self, model: Any, **hints: Any) -> str:
        return "default"

    def allow_relation(self, obj1: Any, obj2: Any, **hints: Any) -> bool:
        return True

    def allow_migrate(self, db: str, app_label: str, **hints: Any) -> bool:
        return db == "default"


@pytest.fixture(autouse=True)
def replica_router(settings: Any) -> None:
    settings.DATABASE_ROUTERS = [f"{__name__}.PrimaryReplicaRouter"]


def test_the_replica_refuses_writes_and_locks():
    # Without these, the tests below would prove nothing.
    assert Student.objects.all().db == "replica"
    with pytest.raises(DatabaseError):
        Student.objects.using("replica").create(identifier="WRITTEN-TO-THE-REPLICA")
    assert not Student.objects.filter(identifier="WRITTEN-TO-THE-REPLICA").exists()


def test_delivery_processing_and_redeliveries(client):
    body = EnvelopeFactory(payload__student__notes=[{"key": "house", "value": "Red"}])
    event = assert_accepted(signed_post(client, body), body)
    assert (event.status, event.attempts) == ("processed", 1), event.last_error
    student = Student.objects.get(identifier=body["payload"]["student"]["identifier"])
    assert list(student.notes.values_list("key", "value", "source")) == [("house", "Red", "jodo")]

    assert signed_post(client, body).json()["status"] == "duplicate"
    changed = {**body, "version": "1.1"}
    assert signed_post(client, changed).status_code == 409
    event.refresh_from_db()
    assert (event.delivery_count, event.digest_mismatches) == (2, 1)


def test_reprocessing_and_pruning():
    failed = EnvelopeFactory(version="2.0")  # a version the student sync refuses
    ok = EnvelopeFactory()
    for body in (failed, ok):
        assert signed_post(Client(), body).status_code == 200
    assert InboundEvent.objects.get(event_id=failed["event_id"]).status == "failed"

    with pytest.raises(Exception, match="1 event"):
        call_command("jodo_reprocess", "--failed")
    call_command("jodo_reprocess", "--force", "--event-id", ok["event_id"])
    assert InboundEvent.objects.get(event_id=ok["event_id"]).attempts == 2

    call_command("jodo_prune", "--older-than", "0", "--include-failed")
    assert not InboundEvent.objects.exists()
    assert Student.objects.count() == 1


def test_simultaneous_events_for_a_new_student_create_it_once():
    bodies = [
        EnvelopeFactory(
            timestamp=1_900_000_000 + i,
            payload__jodo_student_id="J-REPLICA",
            payload__student__identifier="ERP-REPLICA",
            payload__student__notes=[{"key": "n", "value": str(i)}],
        )
        for i in range(4)
    ]
    responses = run_concurrently([partial(signed_post, body=body) for body in bodies])
    assert [r.status_code for r in responses] == [200] * 4
    statuses = sorted(InboundEvent.objects.values_list("status", flat=True))
    assert set(statuses) <= {"processed", "skipped"}, statuses
    assert "processed" in statuses
    assert Student.objects.get().jodo_student_id == "J-REPLICA"
    assert list(StudentNote.objects.values_list("value", flat=True)) == ["3"]


def test_a_payment_waits_is_released_and_updated_on_the_primary():
    """The payment sync's reads that decide (the payment, its student, the waiting events) and
    its locks all go to the primary: a waiting payment is released by the registration, and a
    later event of it updates its one row and lines."""
    student = {"payload__jodo_student_id": "J-PAY", "payload__student__identifier": "ERP-PAY"}
    added = payment_event(student="ERP-PAY", jodo_student_id="J-PAY", amount=1000.0)
    settled = payment_event(
        "direct.payment.cancelled", student="ERP-PAY", jodo_student_id="J-PAY", amount=1000.0
    )

    assert signed_post(Client(), added).status_code == 200
    assert InboundEvent.objects.get(event_id=added["event_id"]).status == "waiting"
    assert signed_post(Client(), EnvelopeFactory(**student)).status_code == 200
    assert signed_post(Client(), settled).status_code == 200

    statuses = set(InboundEvent.objects.values_list("status", flat=True))
    assert statuses == {"processed"}, statuses
    payment = FeePayment.objects.get()
    assert (payment.student.identifier, payment.state) == ("ERP-PAY", "cancelled")
    assert list(payment.lines.values_list("component", "amount")) == [("TUITION_FEE", 1000)]
