"""Inline mode records and processes a new delivery in one transaction: what that must keep.

A receiver's failure rolls back its own work and is recorded on the row; a duplicate racing the
first delivery gets `duplicate` (real threads, PostgreSQL and MariaDB); a `--force` attempt that
fails does not overwrite a concurrent worker's outcome. The database going away in the middle of
it: tests/test_database_outage.py.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.db import connection, transaction
from django.test import Client

from jodo_webhooks import SkipEvent, WaitForStudent
from jodo_webhooks.models import InboundEvent
from jodo_webhooks.processing import process_event
from students.models import Student

from .factories import EnvelopeFactory, InboundEventFactory
from .helpers import as_body, requires_server_database, signed_post

Status = InboundEvent.Status
EVENT_TYPE = "test.one_transaction"
WAIT = 30  # seconds: a bound on every wait, never an assertion on time


def student_writing_receiver(fail: Callable[[int], BaseException | None]) -> Callable[..., Any]:
    """A receiver that writes a Student, then raises what `fail(call number)` returns."""
    calls: list[str] = []

    def receiver(sender: type, event: InboundEvent, **kwargs: Any) -> None:
        calls.append(event.event_id)
        Student.objects.create(identifier=f"written-{len(calls)}")
        error = fail(len(calls))
        if error is not None:
            raise error

    receiver.calls = calls  # type: ignore[attr-defined]
    return receiver


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    ("error", "status", "reason"),
    [
        (RuntimeError("the ledger is closed"), Status.FAILED, "RuntimeError: the ledger is closed"),
        (SkipEvent("paid by hand"), Status.SKIPPED, "paid by hand"),
    ],
)
def test_a_receiver_raising_rolls_back_its_work_and_the_row_records_why(
    deliver, connect_receiver, error, status, reason
):
    connect_receiver(student_writing_receiver(lambda n: error), EVENT_TYPE)
    body = EnvelopeFactory(event=EVENT_TYPE)

    response = deliver(body)

    assert response.status_code == 200, response.content
    assert response.json() == {"status": "accepted", "event_id": body["event_id"]}
    event = InboundEvent.objects.get()
    assert (event.status, event.status_reason, event.attempts) == (status, reason, 1)
    assert event.delivery_count == 1
    assert event.raw_body == as_body(body).decode()
    assert not Student.objects.exists()  # the receiver's work went with the rollback


@pytest.mark.django_db(transaction=True)
def test_a_failed_new_event_is_processed_by_its_redelivery(deliver, connect_receiver):
    receiver = connect_receiver(
        student_writing_receiver(lambda n: RuntimeError("down") if n == 1 else None), EVENT_TYPE
    )
    body = EnvelopeFactory(event=EVENT_TYPE)
    assert deliver(body).json()["status"] == "accepted"

    assert deliver(body).json()["status"] == "duplicate"

    event = InboundEvent.objects.get()
    assert (event.status, event.attempts, event.delivery_count) == (Status.PROCESSED, 2, 2)
    assert list(Student.objects.values_list("identifier", flat=True)) == ["written-2"]
    assert receiver.calls == [body["event_id"]] * 2


# --- Races: real threads, each with its own connection ------------------------------------------


class Gate:
    """Holds the first delivery inside its transaction until the second one is about to INSERT
    the same event, so that the second's look for a known event found nothing."""

    def __init__(self) -> None:
        self.first_inside = threading.Event()
        self.second_inserting = threading.Event()

    def hold_first(self) -> None:
        self.first_inside.set()
        assert self.second_inserting.wait(WAIT), "the second delivery never reached its INSERT"

    def watch_second(self) -> Any:
        def wrapper(execute: Callable[..., Any], sql: str, *args: Any) -> Any:
            if sql.lstrip().upper().startswith("INSERT") and InboundEvent._meta.db_table in sql:
                self.second_inserting.set()
            return execute(sql, *args)

        return connection.execute_wrapper(wrapper)


def race(body: dict[str, Any], gate: Gate) -> list[Any]:
    """Deliver `body` twice: the first is held by its receiver (`gate.hold_first`), the second
    starts once the first is inside its transaction. The two answers, in that order."""
    raw = as_body(body)
    answers: list[Any] = [None, None]

    def first() -> None:
        try:
            answers[0] = signed_post(Client(), raw)
        except BaseException as exc:
            answers[0] = exc
        finally:
            connection.close()

    def second() -> None:
        try:
            assert gate.first_inside.wait(WAIT), "the first delivery never reached its receiver"
            with gate.watch_second():
                answers[1] = signed_post(Client(), raw)
        except BaseException as exc:
            answers[1] = exc
            gate.second_inserting.set()  # never leave the first waiting
        finally:
            connection.close()

    threads = [threading.Thread(target=job, daemon=True) for job in (first, second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(2 * WAIT)
    assert not any(thread.is_alive() for thread in threads), "a delivery hung"
    for answer in answers:
        if isinstance(answer, BaseException):
            raise answer
    return answers


@pytest.fixture
def gate() -> Gate:
    return Gate()


def racing_receiver(connect_receiver: Any, gate: Gate, *, first_fails: bool) -> list[str]:
    """Connect a Student-writing receiver whose first call `gate` holds (then fails, if
    `first_fails`); the event ids it was called with."""

    def fail(call: int) -> BaseException | None:
        if call != 1:
            return None
        gate.hold_first()
        return RuntimeError("the first attempt fails") if first_fails else None

    receiver = student_writing_receiver(fail)
    connect_receiver(receiver, EVENT_TYPE)
    return receiver.calls  # type: ignore[attr-defined]


@requires_server_database
@pytest.mark.django_db(transaction=True)
def test_a_duplicate_racing_the_first_delivery_gets_duplicate(connect_receiver, gate):
    calls = racing_receiver(connect_receiver, gate, first_fails=False)
    body = EnvelopeFactory(event=EVENT_TYPE)

    first, second = race(body, gate)

    assert (first.status_code, first.json()["status"]) == (200, "accepted"), first.content
    assert (second.status_code, second.json()["status"]) == (200, "duplicate"), second.content
    event = InboundEvent.objects.get()
    assert (event.status, event.attempts, event.delivery_count) == (Status.PROCESSED, 1, 2)
    assert len(calls) == 1
    assert list(Student.objects.values_list("identifier", flat=True)) == ["written-1"]


@requires_server_database
@pytest.mark.django_db(transaction=True)
def test_when_the_first_delivery_fails_the_racing_duplicate_records_and_applies_it(
    connect_receiver, gate
):
    """The first delivery's receiver fails while the second is about to INSERT the event. The
    first rolls back and stores its failure; the second either got in first (its INSERT went
    through once the first rolled back: it applies the event, and the first's delivery counts as
    the duplicate) or came second (it finds the failed event and applies it as a redelivery).
    Either way: one accepted, one duplicate, the event applied once, nothing of the failure."""
    calls = racing_receiver(connect_receiver, gate, first_fails=True)
    body = EnvelopeFactory(event=EVENT_TYPE)

    first, second = race(body, gate)

    answers = [(r.status_code, r.json()["status"]) for r in (first, second)]
    assert sorted(answers) == [(200, "accepted"), (200, "duplicate")], answers
    event = InboundEvent.objects.get()
    assert (event.status, event.delivery_count) == (Status.PROCESSED, 2)
    # The failed attempt counts only if its row was stored before the second's INSERT.
    assert event.attempts == (2 if answers[0][1] == "accepted" else 1)
    assert len(calls) == 2
    assert list(Student.objects.values_list("identifier", flat=True)) == ["written-2"]


@pytest.fixture
def on_failure_log() -> Iterator[list[Callable[[], None]]]:
    """Callbacks run when `process_event` logs an attempt's failure: after the rollback, before
    the failure is recorded."""
    callbacks: list[Callable[[], None]] = []

    class Handler(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if record.getMessage().startswith("Processing of Jodo event"):
                while callbacks:
                    callbacks.pop(0)()

    handler = Handler()
    logger = logging.getLogger("jodo_webhooks")
    logger.addHandler(handler)
    try:
        yield callbacks
    finally:
        logger.removeHandler(handler)


@requires_server_database
@pytest.mark.django_db(transaction=True)
def test_a_forced_attempt_that_fails_does_not_overwrite_a_concurrent_workers_outcome(
    connect_receiver, on_failure_log
):
    """Worker A's forced attempt fails; between its rollback and the recording of its failure,
    worker B (another thread, another connection) processes the event. A's failure is not
    recorded over B's `processed`: B's attempt moved `attempts` on since A's claim."""
    calls: list[str] = []

    def receiver(sender: type, event: InboundEvent, **kwargs: Any) -> None:
        calls.append(threading.current_thread().name)
        if threading.current_thread().name == "worker-A":
            raise RuntimeError("A's attempt fails")

    connect_receiver(receiver, EVENT_TYPE)
    event = InboundEventFactory(event_type=EVENT_TYPE, status=Status.PROCESSED, attempts=1)
    outcomes: dict[str, Any] = {}

    def work(name: str) -> None:
        try:
            outcomes[name] = process_event(event.pk, force=True)
        except BaseException as exc:
            outcomes[name] = exc
        finally:
            connection.close()

    def run_worker_b() -> None:
        worker_b = threading.Thread(target=work, args=("worker-B",), name="worker-B")
        worker_b.start()
        worker_b.join(WAIT)

    on_failure_log.append(run_worker_b)
    worker_a = threading.Thread(target=work, args=("worker-A",), name="worker-A")
    worker_a.start()
    worker_a.join(2 * WAIT)

    assert not worker_a.is_alive()
    assert calls == ["worker-A", "worker-B"]
    assert outcomes == {"worker-B": Status.PROCESSED, "worker-A": None}
    event.refresh_from_db()
    assert (event.status, event.attempts, event.last_error) == (Status.PROCESSED, 2, "")


@pytest.mark.django_db(transaction=True)
def test_a_wait_whose_recheck_finds_its_student_in_vain_is_retried_once(deliver, connect_receiver):
    """`WaitForStudent.recheck` is the receiver's: when it says the student is there but the
    receiver still waits (a lookup that disagrees with its own), the event is tried once more
    after its commit, not over and over."""
    calls: list[str] = []

    def waits(sender: type, event: InboundEvent, **kwargs: Any) -> None:
        calls.append(event.event_id)
        raise WaitForStudent("waiting for student J-1", recheck=lambda: True)

    connect_receiver(waits, EVENT_TYPE)
    body = EnvelopeFactory(event=EVENT_TYPE)

    response = deliver(body)

    assert response.json() == {"status": "accepted", "event_id": body["event_id"]}
    event = InboundEvent.objects.get()
    assert (event.status, event.attempts) == (Status.WAITING, 2)
    assert len(calls) == 2


@pytest.mark.django_db(transaction=True)
def test_an_erp_on_commit_hook_failing_after_the_commit_leaves_the_delivery_accepted(
    deliver, connect_receiver
):
    """The ERP's own `on_commit` hook (an e-mail, say) runs after the event's commit: its error
    is not a failed attempt, so the row is not inserted again (nor the delivery counted twice)."""

    def notify() -> None:
        raise RuntimeError("the mail server is down")

    def receiver(sender: type, event: InboundEvent, **kwargs: Any) -> None:
        Student.objects.create(identifier="NOTIFIED")
        transaction.on_commit(notify)

    connect_receiver(receiver, EVENT_TYPE)
    body = EnvelopeFactory(event=EVENT_TYPE)

    response = deliver(body)

    assert response.json() == {"status": "accepted", "event_id": body["event_id"]}
    event = InboundEvent.objects.get()
    assert (event.status, event.attempts, event.delivery_count) == (Status.PROCESSED, 1, 1)
    assert Student.objects.filter(identifier="NOTIFIED").exists()
