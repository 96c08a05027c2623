"""Edge cases found in review: receiver registration, retries, and the student sync's order of
rules, managers and transactions. Each of these tests failed before its fix."""

from __future__ import annotations

import pytest
from django.core.checks import run_checks
from django.db import IntegrityError, connection, models

import jodo_webhooks
from jodo_webhooks.processing import _is_retryable
from students.jodo import STUDENT_SYNC
from students.models import Student
from tests.pupils.models import Pupil

from .factories import EnvelopeFactory, InboundEventFactory
from .students_support import deliver_event
from .test_student_sync import apply, student_event, use_erp

pytestmark = pytest.mark.django_db


def make_handler(event_type: str, calls: list[str]):
    @jodo_webhooks.receiver(event_type)
    def handler(sender, event, event_type, **kwargs):
        calls.append(event_type)

    return handler


def test_a_second_receiver_under_a_taken_dispatch_uid_is_refused():
    # Both are make_handler.<locals>.handler: the same default dispatch_uid. Taking the second
    # silently would leave the signal calling the first for the registry's new types.
    calls: list[str] = []
    first = make_handler("probe.one", calls)
    try:
        with pytest.raises(ValueError, match="already registered"):
            make_handler("probe.two", calls)
    finally:
        jodo_webhooks.disconnect(first)


def test_registering_the_same_receiver_again_replaces_it(deliver):
    calls: list[str] = []

    def on_probe(sender, event, event_type, **kwargs):
        calls.append(event_type)

    jodo_webhooks.receiver("probe.again")(on_probe)
    jodo_webhooks.receiver("probe.again")(on_probe)  # a module imported twice
    try:
        deliver_event(deliver, EnvelopeFactory(event="probe.again"))
        assert calls == ["probe.again"]
    finally:
        jodo_webhooks.disconnect(on_probe)


def test_an_async_receiver_is_refused():
    # It would be called, return an un-awaited coroutine, and its events would be "processed".
    async def on_async(sender, event, event_type, **kwargs):
        pass

    with pytest.raises(TypeError, match="cannot be async"):
        jodo_webhooks.receiver("probe.async")(on_async)
    assert "probe.async" not in jodo_webhooks.receivers_by_event_type()


def test_a_psycopg2_unique_violation_is_retryable():
    # psycopg 3 says `sqlstate`; psycopg2, which Django 5.2 supports too, says `pgcode`.
    class Psycopg2UniqueViolation(Exception):
        pgcode = "23505"

    exc = IntegrityError("duplicate key value violates unique constraint")
    exc.__cause__ = Psycopg2UniqueViolation()
    assert _is_retryable(exc)


def test_a_late_event_whose_ids_have_since_moved_is_skipped_as_stale(deliver, settings):
    # J-1 was "X", then renamed "Y", then J-2 took "X": a retry of J-1's older "X" event is stale,
    # not a conflict (and not a failure that keeps jodo_status unhealthy).
    use_erp(settings, "students")
    for identifier, jodo_id, age in (("X", "J-1", 300), ("Y", "J-1", 200), ("X", "J-2", 100)):
        apply(deliver, student_event(identifier, seconds_ago=age, jodo_student_id=jodo_id))
    late = deliver_event(deliver, student_event("X", seconds_ago=250, jodo_student_id="J-1"))
    assert late.status == "skipped", late.last_error
    assert late.status_reason.startswith("stale:")


class EnrolledOnly(models.Manager):
    def get_queryset(self):
        return super().get_queryset().filter(enrolled=True)


def test_a_filtering_default_manager_does_not_hide_students_from_the_sync(
    deliver, settings, monkeypatch
):
    # A soft-delete or "current students only" default manager must not make the sync insert a
    # second row for a student it cannot see (and fail on the unique key forever after).
    use_erp(settings, "pupils")
    manager: EnrolledOnly = EnrolledOnly()
    manager.model, manager.name = Pupil, "enrolled_only"
    monkeypatch.setitem(Pupil._meta.__dict__, "default_manager", manager)

    apply(deliver, student_event("P1", seconds_ago=300))
    apply(deliver, student_event("P1", seconds_ago=200, event="masterdata.student.dropped"))
    again = deliver_event(
        deliver, student_event("P1", seconds_ago=100, event="masterdata.student.activated")
    )
    assert again.status == "processed", again.last_error


@pytest.mark.skipif(connection.vendor != "mysql", reason="a case-insensitive collation")
def test_ids_compare_exactly_even_where_the_columns_collation_ignores_case(deliver, settings):
    # The pupils ERP keeps MariaDB's default, case-insensitive collation on its id columns (the
    # reference ERP's compare exactly). A Jodo id differing only in case is another id, as on
    # PostgreSQL: the matched pupil already has one, a conflict.
    use_erp(settings, "pupils")
    apply(deliver, student_event("A1", seconds_ago=300, jodo_student_id="J-ABC"))
    event = deliver_event(deliver, student_event("A1", seconds_ago=100, jodo_student_id="j-abc"))
    assert event.status == "failed"
    assert "already has jodo_student_id 'J-ABC'" in event.last_error


@pytest.mark.skipif(connection.vendor != "mysql", reason="a case-insensitive collation")
def test_a_row_equal_only_by_the_columns_collation_is_a_conflict_not_an_integrity_error(
    deliver, settings
):
    use_erp(settings, "pupils")
    apply(deliver, student_event("abc", seconds_ago=300, jodo_student_id="J-1"))
    event = deliver_event(deliver, student_event("ABC", seconds_ago=100, jodo_student_id="J-2"))
    assert event.status == "failed"
    assert event.last_error.startswith("StudentConflict:")
    assert "collation treats as equal" in event.last_error
    assert Pupil.objects.count() == 1


def test_a_bad_allowlist_does_not_hide_e007(settings):
    settings.JODO_WEBHOOKS = {
        **settings.JODO_WEBHOOKS,
        "ALLOWED_IPS": ["not-an-ip"],
        "STUDENT_SYNC": "nowhere.NOPE",
    }
    ids = {m.id for m in run_checks()}
    assert {"jodo_webhooks.E003", "jodo_webhooks.E007"} <= ids, ids


@pytest.mark.django_db(transaction=True)
def test_student_sync_apply_works_outside_process_event():
    # Public API: called on its own (a script, a shell), its locked lookup needs a transaction.
    body = EnvelopeFactory()
    event = InboundEventFactory(event_type=body["event"], payload=body["payload"])
    STUDENT_SYNC.apply(event)
    assert Student.objects.get().identifier == body["payload"]["student"]["identifier"]
