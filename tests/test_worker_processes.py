"""Processing in other processes: a real `db_worker`, and a worker killed mid-processing."""

from __future__ import annotations

import signal
import subprocess
import threading
from io import StringIO
from typing import Any

import pytest
from django.core.management import call_command
from django.db import transaction
from django_tasks_db.models import DBTaskResult

from jodo_webhooks.models import InboundEvent
from students.models import Student

from .factories import EnvelopeFactory, InboundEventFactory
from .helpers import requires_server_database
from .processes import start_manage_py, start_python_module, wait_until
from .slow_worker import EVENT_TYPE, KILLED_STUDENT
from .students_support import deliver_event

pytestmark = [requires_server_database, pytest.mark.django_db(transaction=True)]

WORKER_TIMEOUT = 30  # seconds for the worker to process everything


def test_a_db_worker_process_applies_events_recorded_in_task_mode(deliver, jodo_settings):
    jodo_settings["PROCESSING"] = "task"
    bodies = [EnvelopeFactory(payload__student__identifier=f"WORKER-{i}") for i in range(5)]
    events = [deliver_event(deliver, body) for body in bodies]

    assert {event.status for event in events} == {"received"}
    assert not Student.objects.exists()
    assert DBTaskResult.objects.count() == len(bodies)

    with start_manage_py(
        "db_worker", "--no-startup-delay", "--interval", "0.1", "--no-reload"
    ) as worker:
        wait_until(
            lambda: not InboundEvent.objects.exclude(status="processed").exists(),
            timeout=WORKER_TIMEOUT,
            message=f"events processed by the worker: {worker.describe()}",
        )
        worker.signal(signal.SIGTERM)
        try:
            exit_code = worker.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pytest.fail(f"the worker ignored SIGTERM: {worker.describe()}")
    assert exit_code == 0, worker.describe()

    for event in InboundEvent.objects.all():
        assert (event.status, event.attempts) == ("processed", 1), event.last_error
    assert sorted(Student.objects.values_list("identifier", flat=True)) == [
        f"WORKER-{i}" for i in range(5)
    ]
    assert set(DBTaskResult.objects.values_list("status", flat=True)) == {"SUCCESSFUL"}


def claimable(event: InboundEvent) -> bool:
    """True when no other transaction holds the event's row lock (a live worker's claim)."""
    with transaction.atomic():
        return InboundEvent.objects.select_for_update(skip_locked=True).filter(pk=event.pk).exists()


def test_a_worker_killed_mid_processing_leaves_the_event_for_reprocessing(connect_receiver):
    event = InboundEventFactory(event_type=EVENT_TYPE, payload={"note": "slow"})

    with start_python_module("tests.slow_worker", str(event.pk)) as worker:
        assert worker.wait_for_line("READY", timeout=30), worker.describe()
        # The worker holds the claim and has created a Student, uncommitted.
        assert not claimable(event)
        worker.signal(signal.SIGKILL)
        assert worker.wait(timeout=10) == -signal.SIGKILL, worker.describe()

    # The server rolls the dead client's transaction back once it notices the closed socket.
    wait_until(lambda: claimable(event), timeout=30, message="the killed worker's lock released")
    event.refresh_from_db()
    assert (event.status, event.attempts, event.processed_at) == ("received", 0, None)
    assert not Student.objects.filter(identifier=KILLED_STUDENT).exists()
    assert not Student.objects.exists()

    calls: list[str] = []
    lock = threading.Lock()

    def apply_again(sender: type, event: InboundEvent, event_type: str, **kwargs: Any) -> Any:
        if event_type != EVENT_TYPE:
            return None
        with lock:
            calls.append(event.event_id)
        Student.objects.create(identifier="REPROCESSED")
        return True

    connect_receiver(apply_again, EVENT_TYPE)
    out = StringIO()
    call_command("jodo_reprocess", "--pending", stdout=out, stderr=StringIO())
    assert "1 processed" in out.getvalue()
    call_command("jodo_reprocess", "--pending", stdout=StringIO(), stderr=StringIO())

    assert calls == [event.event_id]
    event.refresh_from_db()
    assert (event.status, event.attempts) == ("processed", 1), event.last_error
    assert list(Student.objects.values_list("identifier", flat=True)) == ["REPROCESSED"]
