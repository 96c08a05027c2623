"""The database going away: deliveries answer 503 and leave nothing half-written, then recover.

The test process talks to the database through `TcpProxy`, which can reset every connection and
refuse new ones (the server "going away") and then let traffic through again. Deliveries go
through `deliver_as_a_server`, which drops the connection between requests as Django's request
cycle does with CONN_MAX_AGE=0 (the test client leaves that out), so each request connects anew.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from django.db import close_old_connections, connection

from jodo_webhooks.models import InboundEvent
from students.models import Student, StudentNote

from .factories import EnvelopeFactory
from .helpers import requires_server_database
from .processes import TcpProxy, database_address

pytestmark = [requires_server_database, pytest.mark.django_db(transaction=True)]


def drop_connection() -> None:
    """Forget the current connection, whatever state it is in."""
    try:
        connection.close()
    except Exception:  # a connection reset under the driver may fail to close politely
        connection.connection = None


@pytest.fixture
def proxy() -> Iterator[TcpProxy]:
    """The default connection goes through a TcpProxy for the duration of the test."""
    settings_dict = connection.settings_dict
    original = settings_dict["HOST"], settings_dict["PORT"]
    with TcpProxy(*database_address()) as proxy:
        drop_connection()
        settings_dict["HOST"], settings_dict["PORT"] = proxy.host, str(proxy.port)
        try:
            yield proxy
        finally:
            proxy.restore()
            drop_connection()
            settings_dict["HOST"], settings_dict["PORT"] = original
    # pytest-django flushes the tables afterwards, over a direct connection.


@pytest.fixture
def deliver_as_a_server(deliver: Callable[..., Any]) -> Callable[..., Any]:
    def _deliver(body: dict[str, Any]) -> Any:
        close_old_connections()  # request_started
        try:
            return deliver(body)
        finally:
            close_old_connections()  # request_finished

    return _deliver


def registered(identifier: str) -> dict[str, Any]:
    return EnvelopeFactory(
        payload__jodo_student_id=f"J-{identifier}", payload__student__identifier=identifier
    )


def assert_accepted(response: Any, body: dict[str, Any]) -> None:
    assert response.status_code == 200, response.content
    event = InboundEvent.objects.get(event_id=body["event_id"])
    assert event.status == "processed", event.last_error
    assert Student.objects.filter(identifier=body["payload"]["student"]["identifier"]).exists()


def assert_unavailable(response: Any) -> None:
    assert response.status_code == 503, response.content
    assert response.json()["error"] == "unavailable"


def test_deliveries_while_the_database_is_unreachable_answer_503_and_leave_nothing(
    proxy, deliver_as_a_server
):
    before = [registered(f"UP-{i}") for i in range(3)]
    for body in before:
        assert_accepted(deliver_as_a_server(body), body)

    proxy.cut()
    during = [registered(f"DOWN-{i}") for i in range(3)]
    for body in during:
        assert_unavailable(deliver_as_a_server(body))
    # Every request after the first (all of them with CONN_MAX_AGE=0) connected anew: refused.
    assert proxy.refused >= len(during) - 1

    proxy.restore()
    drop_connection()
    assert not InboundEvent.objects.filter(event_id__in=[b["event_id"] for b in during]).exists()
    assert sorted(Student.objects.values_list("identifier", flat=True)) == [
        "UP-0",
        "UP-1",
        "UP-2",
    ]
    assert not StudentNote.objects.filter(student__identifier__startswith="DOWN").exists()

    after = registered("AFTER")
    assert_accepted(deliver_as_a_server(after), after)
    for body in during:  # Jodo's retries of the refused deliveries
        assert_accepted(deliver_as_a_server(body), body)
        assert InboundEvent.objects.get(event_id=body["event_id"]).delivery_count == 1
    assert InboundEvent.objects.count() == Student.objects.count() == 7


def is_event_insert(sql: str) -> bool:
    return sql.lstrip().upper().startswith("INSERT") and InboundEvent._meta.db_table in sql


@contextmanager
def cut_at_event_insert(proxy: TcpProxy, *, after: bool) -> Iterator[list[str]]:
    """Cut the proxy just before (or just after) the statement inserting an InboundEvent row.

    Yields the SQL statements it cut at (at most one).
    """
    cut_at: list[str] = []

    def wrapper(execute: Callable[..., Any], sql: str, params: Any, many: bool, context: Any):
        if cut_at or not is_event_insert(sql):
            return execute(sql, params, many, context)
        cut_at.append(sql)
        if not after:
            proxy.cut()
            return execute(sql, params, many, context)
        try:
            return execute(sql, params, many, context)
        finally:
            proxy.cut()

    with connection.execute_wrapper(wrapper):
        yield cut_at


def test_connection_lost_when_storing_the_event_answers_503_and_stores_nothing(
    proxy, deliver_as_a_server
):
    body = registered("LOST-RECORDING")

    with cut_at_event_insert(proxy, after=False) as cut_at:
        response = deliver_as_a_server(body)

    assert_unavailable(response)
    assert len(cut_at) == 1
    proxy.restore()
    drop_connection()
    assert not InboundEvent.objects.exists()
    assert not Student.objects.exists()

    assert_accepted(deliver_as_a_server(body), body)
    assert InboundEvent.objects.get().delivery_count == 1


def test_connection_lost_right_after_the_insert_the_answer_matches_what_was_stored(
    proxy, deliver_as_a_server
):
    """Whether the INSERT was already committed (autocommit) or its transaction dies with the
    connection, the answer tells the truth: 2xx only when the event is stored."""
    body = registered("LOST-AFTER-INSERT")

    with cut_at_event_insert(proxy, after=True) as cut_at:
        response = deliver_as_a_server(body)

    assert len(cut_at) == 1
    proxy.restore()
    drop_connection()
    stored = InboundEvent.objects.filter(event_id=body["event_id"]).first()
    if response.status_code == 200:
        assert stored is not None
        # Processing could not even start: the event waits for a retry, nothing applied.
        assert (stored.status, stored.attempts) == ("received", 0)
    else:
        assert_unavailable(response)
        assert stored is None
    assert not Student.objects.exists()

    assert_accepted(deliver_as_a_server(body), body)
    event = InboundEvent.objects.get()
    assert (event.status, event.attempts) == ("processed", 1), event.last_error
    assert event.delivery_count == (2 if stored else 1)


def test_connection_lost_while_processing_a_new_event_answers_503_and_keeps_nothing(
    proxy, deliver_as_a_server, connect_receiver
):
    """Inline, a new event is recorded and processed in one transaction. The student's rows are
    written, then the connection dies before the commit: the event's row goes with the work, so
    the answer is 503 (never a 2xx for a row that is not stored), and nothing is half-applied.
    Jodo's retry then records and applies it."""
    body = registered("LOST-PROCESSING")
    seen: list[bool] = []

    def cut_after_the_students_receiver(sender: type, event: InboundEvent, **kwargs: Any) -> None:
        # Connected after the students app's receiver, so it runs once the student is written.
        seen.append(Student.objects.filter(identifier="LOST-PROCESSING").exists())
        if len(seen) == 1:  # only the first delivery is cut; the redelivery below goes through
            proxy.cut()

    connect_receiver(cut_after_the_students_receiver)
    response = deliver_as_a_server(body)

    assert_unavailable(response)
    assert seen == [True]
    proxy.restore()
    drop_connection()
    assert not InboundEvent.objects.exists()
    assert not Student.objects.exists()
    assert not StudentNote.objects.exists()

    assert_accepted(deliver_as_a_server(body), body)
    event = InboundEvent.objects.get()
    assert (event.status, event.attempts, event.delivery_count) == ("processed", 1, 1)
    assert Student.objects.get().identifier == "LOST-PROCESSING"
    assert seen == [True, True]


def test_connection_lost_while_reprocessing_a_recorded_event_rolls_back_the_attempt(
    proxy, deliver_as_a_server, connect_receiver, jodo_settings
):
    """A redelivery of a recorded, unprocessed event is claimed and processed in a transaction
    of its own: the connection dying in the middle leaves the event as it was, 'received'."""
    body = registered("LOST-REPROCESSING")
    cut = {"armed": False}

    def cut_when_armed(sender: type, event: InboundEvent, **kwargs: Any) -> None:
        if cut["armed"]:
            cut["armed"] = False
            proxy.cut()

    jodo_settings["PROCESSING"] = "task"
    assert deliver_as_a_server(body).status_code == 200  # recorded, left for a worker
    jodo_settings["PROCESSING"] = "inline"
    connect_receiver(cut_when_armed)
    cut["armed"] = True
    response = deliver_as_a_server(body)

    # The event was recorded before: the redelivery is answered 2xx whatever happens next.
    assert response.status_code == 200, response.content
    proxy.restore()
    drop_connection()
    event = InboundEvent.objects.get()
    assert (event.status, event.attempts, event.processed_at) == ("received", 0, None)
    assert not Student.objects.exists()

    assert deliver_as_a_server(body).status_code == 200
    event.refresh_from_db()
    assert (event.status, event.attempts, event.delivery_count) == ("processed", 1, 3)
