"""Concurrent deliveries of one new event: recorded once, counted every time, applied once."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from django.db import connection
from django.test import Client

from jodo_webhooks.models import InboundEvent

from ..factories import EnvelopeFactory
from ..helpers import as_body, requires_server_database, signed_post

THREADS = 8
EVENT_TYPE = "test.concurrency"


class CountingReceiver:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.calls = 0
        self.error: Exception | None = None

    def __call__(self, sender: type, event: InboundEvent, event_type: str, **kwargs: Any) -> Any:
        if event_type != EVENT_TYPE:
            return None
        with self.lock:
            self.calls += 1
            error = self.error
        if error is not None:
            raise error
        return True


@pytest.fixture
def counting_receiver(connect_receiver) -> CountingReceiver:
    return connect_receiver(CountingReceiver(), EVENT_TYPE)


def deliver_concurrently(raw: bytes, threads: int = THREADS) -> list[Any]:
    """POST `raw` from `threads` threads released together; returns responses or exceptions."""
    barrier = threading.Barrier(threads)
    results: list[Any] = [None] * threads

    def post(index: int) -> None:
        try:
            client = Client()
            barrier.wait(timeout=30)
            results[index] = signed_post(client, raw)
        except Exception as exc:  # reported by the assertions below
            results[index] = exc
        finally:
            connection.close()

    workers = [threading.Thread(target=post, args=(i,)) for i in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=120)
    assert not any(worker.is_alive() for worker in workers), "a delivery hung"
    return results


@requires_server_database
@pytest.mark.django_db(transaction=True)
def test_concurrent_deliveries_of_a_new_event(counting_receiver):
    body = EnvelopeFactory(event=EVENT_TYPE, payload={"n": 1})

    results = deliver_concurrently(as_body(body))

    errors = [result for result in results if isinstance(result, Exception)]
    assert errors == []
    assert [r.status_code for r in results] == [200] * THREADS, [r.content for r in results]
    statuses = sorted(r.json()["status"] for r in results)
    assert statuses == ["accepted"] + ["duplicate"] * (THREADS - 1)
    assert {r.json()["event_id"] for r in results} == {body["event_id"]}
    event = InboundEvent.objects.get()
    assert event.event_id == body["event_id"]
    assert event.delivery_count == THREADS
    assert event.status == InboundEvent.Status.PROCESSED
    assert event.attempts == 1
    assert event.digest_mismatches == 0
    assert counting_receiver.calls == 1


@requires_server_database
@pytest.mark.django_db(transaction=True)
def test_concurrent_redeliveries_of_a_failed_event_retry_it_once(counting_receiver):
    body = EnvelopeFactory(event=EVENT_TYPE, payload={"n": 2})
    raw = as_body(body)
    counting_receiver.error = RuntimeError("not yet")
    first = signed_post(Client(), raw)
    assert first.status_code == 200
    assert InboundEvent.objects.get().status == InboundEvent.Status.FAILED
    counting_receiver.error = None
    counting_receiver.calls = 0

    results = deliver_concurrently(raw)

    assert [getattr(r, "status_code", r) for r in results] == [200] * THREADS
    assert {r.json()["status"] for r in results} == {"duplicate"}
    event = InboundEvent.objects.get()
    assert event.status == InboundEvent.Status.PROCESSED
    assert event.attempts == 2
    assert event.delivery_count == THREADS + 1
    assert counting_receiver.calls == 1
