"""Task mode, in process: the request only records the event and enqueues its processing."""

from __future__ import annotations

import io
import logging
from typing import Any

import pytest
from django.core.management import call_command
from django_tasks.backends.dummy import DummyBackend
from django_tasks_db import DatabaseBackend
from django_tasks_db.models import DBTaskResult

from jodo_webhooks.models import InboundEvent
from students.models import Student

from .factories import EnvelopeFactory
from .helpers import assert_accepted

pytestmark = pytest.mark.django_db

Status = InboundEvent.Status
TASK_PATH = "jodo_webhooks.tasks.process_event_task"


class EnqueueFailsBackend(DummyBackend):
    """A Tasks backend whose queue is down."""

    def enqueue(self, task: Any, args: Any, kwargs: Any) -> Any:
        raise ConnectionError("the task queue is down")


class StoresThenFailsBackend(DatabaseBackend):
    """The database backend, failing once it has written the task's row."""

    def enqueue(self, task: Any, args: Any, kwargs: Any) -> Any:
        super().enqueue(task, args, kwargs)
        raise ConnectionError("the task queue is down")


@pytest.fixture
def task_mode(jodo_settings: dict[str, Any]) -> dict[str, Any]:
    jodo_settings["PROCESSING"] = "task"
    return jodo_settings


def use_backend(settings: Any, backend: str) -> None:
    settings.TASKS = {"default": {"BACKEND": backend}}


@pytest.fixture
def deliver_and_commit(deliver, django_capture_on_commit_callbacks):
    """Deliver a body and run what it deferred to the commit (the enqueue); the accepted event."""

    def _deliver_and_commit(body: dict[str, Any]) -> InboundEvent:
        with django_capture_on_commit_callbacks(execute=True):
            response = deliver(body)
        return assert_accepted(response, body)

    return _deliver_and_commit


def test_request_records_but_does_not_process(
    task_mode, settings, deliver, django_capture_on_commit_callbacks
):
    use_backend(settings, "django_tasks.backends.immediate.ImmediateBackend")
    body = EnvelopeFactory()
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = deliver(body)
    event = assert_accepted(response, body)
    assert (event.status, event.attempts, event.processed_at) == (Status.RECEIVED, 0, None)
    assert not Student.objects.exists()
    assert len(callbacks) == 1  # the enqueue, deferred to the commit


def test_immediate_backend_processes_after_commit(task_mode, settings, deliver_and_commit):
    use_backend(settings, "django_tasks.backends.immediate.ImmediateBackend")
    body = EnvelopeFactory()
    event = deliver_and_commit(body)
    assert (event.status, event.attempts) == (Status.PROCESSED, 1), event.last_error
    student = Student.objects.get()
    assert student.identifier == body["payload"]["student"]["identifier"]


def test_database_backend_enqueues_the_task(task_mode, settings, deliver_and_commit):
    use_backend(settings, "django_tasks_db.DatabaseBackend")
    event = deliver_and_commit(EnvelopeFactory())
    assert event.status == Status.RECEIVED  # a worker will process it
    assert not Student.objects.exists()
    task_result = DBTaskResult.objects.get()
    assert task_result.task_path == TASK_PATH
    assert task_result.args_kwargs == {"args": [event.pk], "kwargs": {}}
    assert task_result.status == "READY"


def test_duplicate_of_a_processed_event_is_not_enqueued(
    task_mode, settings, deliver, deliver_and_commit, django_capture_on_commit_callbacks
):
    use_backend(settings, "django_tasks_db.DatabaseBackend")
    body = EnvelopeFactory()
    deliver_and_commit(body)
    InboundEvent.objects.update(status=Status.PROCESSED)
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = deliver(body)
    assert response.json()["status"] == "duplicate"
    assert callbacks == []
    assert DBTaskResult.objects.count() == 1


def test_enqueue_failure_leaves_event_received_for_reprocess(
    task_mode, settings, deliver, django_capture_on_commit_callbacks, caplog
):
    use_backend(settings, f"{__name__}.EnqueueFailsBackend")
    body = EnvelopeFactory()
    with (
        caplog.at_level(logging.ERROR, logger="jodo_webhooks"),
        django_capture_on_commit_callbacks(execute=True) as callbacks,
    ):
        response = deliver(body)
    assert len(callbacks) == 1
    event = assert_accepted(response, body)
    assert (event.status, event.attempts) == (Status.RECEIVED, 0)
    assert not Student.objects.exists()
    errors = [r for r in caplog.records if r.name == "jodo_webhooks" and r.levelno == logging.ERROR]
    assert len(errors) == 1
    assert body["event_id"] in errors[0].getMessage()
    assert "jodo_reprocess --pending" in errors[0].getMessage()
    assert "the task queue is down" in caplog.text

    stdout = io.StringIO()
    call_command("jodo_reprocess", "--pending", stdout=stdout, stderr=io.StringIO())
    assert stdout.getvalue() == "Reprocessed 1 event(s): 1 processed.\n"
    event.refresh_from_db()
    assert (event.status, event.attempts) == (Status.PROCESSED, 1)
    assert Student.objects.get().identifier == body["payload"]["student"]["identifier"]


@pytest.mark.django_db(transaction=True)
def test_with_the_queue_in_the_same_database_event_and_task_commit_together(
    task_mode, settings, deliver, caplog
):
    """One transaction holds the event's row and its task's: a failed enqueue takes its half
    written task back with it, and the event is recorded on its own, waiting for a reprocess."""
    use_backend(settings, f"{__name__}.StoresThenFailsBackend")
    body = EnvelopeFactory()
    with caplog.at_level(logging.ERROR, logger="jodo_webhooks"):
        response = deliver(body)

    event = assert_accepted(response, body)
    assert (event.status, event.attempts, event.delivery_count) == (Status.RECEIVED, 0, 1)
    assert not DBTaskResult.objects.exists()
    errors = [r for r in caplog.records if r.name == "jodo_webhooks" and r.levelno == logging.ERROR]
    assert [body["event_id"] in r.getMessage() for r in errors] == [True]


@pytest.mark.django_db(transaction=True)
def test_a_redelivery_of_an_event_still_waiting_is_enqueued_again(task_mode, settings, deliver):
    use_backend(settings, "django_tasks_db.DatabaseBackend")
    body = EnvelopeFactory()
    assert_accepted(deliver(body), body)

    response = deliver(body)

    assert response.json() == {"status": "duplicate", "event_id": body["event_id"]}
    event = InboundEvent.objects.get()
    assert (event.status, event.delivery_count) == (Status.RECEIVED, 2)
    assert [t.args_kwargs["args"] for t in DBTaskResult.objects.all()] == [[event.pk]] * 2
