"""A payment for a student the ERP does not know yet waits, visibly, and is applied as soon as
that student's registration has been applied: with real commits (transaction=True), since the
release happens after the registration commits. The races are shown on PostgreSQL and MariaDB
with real concurrent sessions."""

from __future__ import annotations

from decimal import Decimal
from functools import partial

import pytest
from django.core.management import call_command
from django.db import connections

from jodo_webhooks import SkipEvent
from jodo_webhooks.models import InboundEvent

from .factories import EnvelopeFactory
from .helpers import deliver_event, requires_server_database, signed_post, timestamp
from .payment_erps import PAYMENT_ERPS, use_payment_erp
from .payment_factories import payment_event
from .processes import run_concurrently
from .scrape import MONITORING_TOKEN, scrape

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(params=list(PAYMENT_ERPS))
def erp(request, settings, jodo_settings):
    return use_payment_erp(settings, request.param)


def registration(identifier, jodo_student_id):
    return EnvelopeFactory(
        timestamp=timestamp(5),
        payload__jodo_student_id=jodo_student_id,
        payload__student__identifier=identifier,
        payload__student__custom_identifier=f"cust_{identifier}",
    )


def status(body):
    return InboundEvent.objects.get(event_id=body["event_id"]).status


def test_a_payment_before_its_student_waits_then_is_applied_with_the_registration(deliver, erp):
    payment = payment_event(student="NEW-1", jodo_student_id="J-NEW", amount=1999.99)
    settled = payment_event(
        "direct.payment.cancelled", student="NEW-1", jodo_student_id="J-NEW", amount=1999.99
    )

    assert deliver_event(deliver, payment).status == "waiting"
    assert deliver_event(deliver, settled).status == "waiting"
    assert erp.count() == 0

    assert deliver_event(deliver, registration("NEW-1", "J-NEW")).status == "processed"

    assert (status(payment), status(settled)) == ("processed", "processed")
    booked = erp.payment("pay_1")
    assert (booked["student"], booked["amount"], booked["state"]) == (
        "NEW-1",
        Decimal("1999.99"),
        "cancelled",
    )


def test_in_task_mode_the_registrations_task_releases_the_payment(deliver, erp, settings):
    settings.JODO_WEBHOOKS = {**settings.JODO_WEBHOOKS, "PROCESSING": "task"}
    settings.TASKS = {"default": {"BACKEND": "django_tasks.backends.immediate.ImmediateBackend"}}
    payment = payment_event(student="NEW-5", jodo_student_id="J-5", amount="2250")

    deliver_event(deliver, payment)  # its task runs at the commit
    assert status(payment) == "waiting"
    deliver_event(deliver, registration("NEW-5", "J-5"))

    assert status(payment) == "processed"
    assert erp.payment("pay_1")["amount"] == Decimal("2250")


def test_a_registration_releases_only_its_own_students_payments(deliver, erp):
    mine = payment_event(payment_id="mine", student="NEW-1", jodo_student_id="J-NEW")
    other = payment_event(payment_id="other", student="NEW-2", jodo_student_id="J-OTHER")
    deliver_event(deliver, mine)
    deliver_event(deliver, other)

    deliver_event(deliver, registration("NEW-1", "J-NEW"))

    assert (status(mine), status(other)) == ("processed", "waiting")
    assert erp.count() == 1


def test_a_numeric_jodo_student_id_is_matched_too(deliver, erp):
    body = payment_event("flex.instalment.debited", student="NEW-3", jodo_student_id=None)
    body["payload"]["jodo_student_id"] = 4242  # Flex pages type it as an Integer
    body["payload"]["student"]["identifier"] = "ERP-ONLY-ID"  # the identifier does not match
    deliver_event(deliver, body)

    deliver_event(deliver, registration("NEW-3", "4242"))

    assert status(body) == "processed"
    assert erp.payment("pay_1")["student"] == "NEW-3"


def test_jodo_status_counts_waiting_payments_and_jodo_reprocess_takes_them(deliver, erp, capsys):
    body = payment_event(student="NEW-4", jodo_student_id="J-4")
    deliver_event(deliver, body)

    call_command("jodo_status")
    assert "Payments waiting for their student: 1" in capsys.readouterr().out

    call_command("jodo_reprocess", "--waiting")
    assert status(body) == "waiting"  # its student is still unknown: it waits on

    erp.students.create_student("NEW-4", jodo_student_id="J-4")  # entered by hand in the ERP
    call_command("jodo_reprocess", "--waiting")

    assert status(body) == "processed"
    assert erp.count() == 1


def race_payments_and_registrations(label: str, n: int = 6) -> None:
    """Post n payments, each at the same moment as its student's registration: whichever
    commits first, every payment ends applied (no lost wake-up)."""
    pairs = [
        (
            payment_event(
                payment_id=f"race-{label}-{i}", student=f"R{label}-{i}", jodo_student_id=None
            ),
            registration(f"R{label}-{i}", f"JR{label}-{i}"),
        )
        for i in range(n)
    ]
    bodies = [body for pair in pairs for body in pair]

    responses = run_concurrently([partial(signed_post, body=body) for body in bodies])

    assert [r.status_code for r in responses] == [200] * len(bodies)
    outcomes = {body["event_id"]: status(body) for body in bodies}
    assert set(outcomes.values()) == {"processed"}, outcomes


@requires_server_database
@pytest.mark.parametrize("round_", range(3))
def test_payments_and_registrations_racing_never_leave_a_payment_waiting(erp, round_):
    race_payments_and_registrations(str(round_))
    assert erp.count() == 6  # each payment once


@requires_server_database
@pytest.mark.parametrize("n_events", [2, 6])
def test_simultaneous_events_of_one_new_payment_end_as_one_row(erp, n_events):
    erp.students.create_student("A1", jodo_student_id="J-1")
    kinds = ["flex.instalment.debited", "flex.instalment.settled"]
    bodies = [
        payment_event(
            kinds[i % 2],
            payment_id="one-payment",
            timestamp=timestamp(60 - i),
            amount=1200,
            settlement_utr=f"UTR-{i}",
        )
        for i in range(n_events)
    ]

    responses = run_concurrently([partial(signed_post, body=body) for body in bodies])

    assert [r.status_code for r in responses] == [200] * n_events
    outcomes = [(status(body), body["event_id"]) for body in bodies]
    assert {outcome for outcome, _ in outcomes} == {"processed"}, outcomes
    assert erp.count() == 1
    payment = erp.payment("one-payment")
    assert payment["state"] == "settled"
    assert payment["settlement_utr"] == f"UTR-{n_events - 1}"  # the newest event's


@pytest.mark.parametrize("sent", ["cust_NEW-6", 7006])  # Jodo may type an id as a number
def test_a_payment_naming_its_student_only_by_custom_identifier_is_released(deliver, erp, sent):
    body = payment_event(student="NEW-6", jodo_student_id=None)
    body["payload"]["student"]["identifier"] = None
    body["payload"]["student"]["custom_identifier"] = sent
    assert deliver_event(deliver, body).status == "waiting"

    student = registration("NEW-6", "J-6")
    student["payload"]["student"]["custom_identifier"] = str(sent)
    deliver_event(deliver, student)

    assert status(body) == "processed"
    assert erp.payment("pay_1")["student"] == "NEW-6"


# How the waiting payments meet the rest: a failed registration, ATOMIC_REQUESTS, redeliveries
# in both modes, and the metrics, all through the endpoint.


@pytest.mark.parametrize("error", [RuntimeError("the ledger is closed"), SkipEvent("by hand")])
def test_a_registration_that_does_not_commit_releases_nothing(
    deliver, erp, connect_receiver, error
):
    def fails(**kwargs):
        raise error

    payment = payment_event(student="NEW-7", jodo_student_id="J-7")
    deliver_event(deliver, payment)
    connect_receiver(fails, "masterdata.student.registered")  # runs after the app's receivers

    assert deliver_event(deliver, registration("NEW-7", "J-7")).status in {"failed", "skipped"}

    assert status(payment) == "waiting"
    assert erp.count() == 0
    assert erp.students.count() == 0


def test_under_atomic_requests_a_waiting_payment_is_released_by_its_registration(
    deliver, erp, monkeypatch
):
    for alias in connections.settings:  # what the request handler reads
        monkeypatch.setitem(connections.settings[alias], "ATOMIC_REQUESTS", True)
    payment = payment_event(student="NEW-8", jodo_student_id="J-8")

    assert deliver_event(deliver, payment).status == "waiting"
    assert deliver_event(deliver, registration("NEW-8", "J-8")).status == "processed"

    assert status(payment) == "processed"
    assert erp.count() == 1


@pytest.mark.parametrize("mode", ["inline", "task"])
def test_a_redelivered_waiting_payment_is_tried_again_and_answered_duplicate(
    deliver, erp, settings, mode
):
    if mode == "task":
        settings.JODO_WEBHOOKS = {**settings.JODO_WEBHOOKS, "PROCESSING": "task"}
        settings.TASKS = {
            "default": {"BACKEND": "django_tasks.backends.immediate.ImmediateBackend"}
        }
    payment = payment_event(student="NEW-9", jodo_student_id="J-9")
    deliver_event(deliver, payment)
    assert status(payment) == "waiting"
    erp.students.create_student("NEW-9", jodo_student_id="J-9")  # by hand: no release

    response = deliver(payment)

    assert response.json() == {"status": "duplicate", "event_id": payment["event_id"]}
    event = InboundEvent.objects.get(event_id=payment["event_id"])
    assert (event.status, event.attempts, event.delivery_count) == ("processed", 2, 2)
    assert erp.count() == 1


def test_a_wait_and_its_release_are_each_counted_once(client, deliver, erp, settings):
    settings.JODO_WEBHOOKS = {**settings.JODO_WEBHOOKS, "MONITORING_TOKEN": MONITORING_TOKEN}
    payment = payment_event(student="NEW-10", jodo_student_id="J-10")
    before = scrape(client)

    deliver_event(deliver, payment)
    deliver_event(deliver, registration("NEW-10", "J-10"))
    after = scrape(client)

    def increase(name, **labels):
        return after.get_value(name, **labels) - before.get_value(name, **labels)

    outcomes = "jodo_webhooks_event_outcomes_total"
    kind = payment["event"]
    assert increase(outcomes, event_type=kind, outcome="waiting") == 1
    assert increase(outcomes, event_type=kind, outcome="processed") == 1
    registered = "masterdata.student.registered"
    assert increase(outcomes, event_type=registered, outcome="processed") == 1
    assert increase("jodo_webhooks_deliveries_total", answer="accepted") == 2
