"""The payment sync's rules, written once and run against both test ERPs through the real endpoint.

The `erp` fixture points JODO_WEBHOOKS["STUDENT_SYNC"] and ["PAYMENT_SYNC"] at one ERP's
mappings and hands the test that ERP's payment adapter (tests/payment_erps.py), which reads
payments in Jodo's names and rupees whatever the ERP stores.
"""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from jodo_webhooks import SYNCED_PAYMENT_EVENT_TYPES, PaymentConflict, payment_sync
from jodo_webhooks.models import InboundEvent
from students.models import FeePaymentLine

from .helpers import apply, deliver_event, load_fixture, timestamp
from .payment_erps import PAYMENT_ERPS, use_payment_erp
from .payment_factories import payment_event

pytestmark = pytest.mark.django_db

ADDED, UPDATED, CANCELLED = (
    "direct.payment.added",
    "direct.payment.updated",
    "direct.payment.cancelled",
)
DEBITED, SETTLED, BOUNCED = (
    "flex.instalment.debited",
    "flex.instalment.settled",
    "flex.instalment.bounced",
)


@pytest.fixture(params=list(PAYMENT_ERPS))
def erp(request, settings, jodo_settings):
    return use_payment_erp(settings, request.param)


@pytest.fixture
def student(erp):
    """Student A1 (Jodo id J-1), known to the ERP."""
    erp.students.create_student("A1", jodo_student_id="J-1", custom_identifier="cust_A1")
    return "A1"


# --- creating a payment -----------------------------------------------------------------------


def test_a_manual_payment_is_booked_to_its_student_with_its_lines(deliver, erp, student):
    body = payment_event(
        ADDED,
        amount=1999.99,
        mode="cheque",
        details=[
            {"fee_component": "TUITION_FEE", "amount": "1500.00"},
            {"fee_component": "TRANSPORT_FEE", "amount": "499.99"},
        ],
    )

    apply(deliver, body)

    assert erp.payment("pay_1") == {
        "student": "A1",
        "amount": Decimal("1999.99"),
        "state": "received",
        "mode": "cheque",
        "settlement_utr": "",
        "settled_at": None,
        "lines": {"TUITION_FEE": Decimal("1500.00"), "TRANSPORT_FEE": Decimal("499.99")},
        "difference": Decimal(0),
    }


@pytest.mark.parametrize(
    ("event_type", "state"),
    [
        ("direct.payment.added", "received"),
        ("direct.payment.updated", "received"),
        ("direct.payment.cancelled", "cancelled"),
        ("flex.downpayment.debited", "received"),
        ("flex.downpayment.settled", "settled"),
        ("flex.instalment.debited", "received"),
        ("flex.instalment.settled", "settled"),
        ("flex.instalment.bounced", "bounced"),
        ("pay.payment.debited", "received"),
        ("pay.payment.settled", "settled"),
    ],
)
def test_every_student_linked_payment_event_is_applied(deliver, erp, student, event_type, state):
    apply(deliver, payment_event(event_type, amount=2000.0))

    payment = erp.payment("pay_1")
    assert (payment["student"], payment["amount"], payment["state"]) == (
        "A1",
        Decimal("2000.00"),
        state,
    )


@pytest.mark.parametrize("code", sorted(SYNCED_PAYMENT_EVENT_TYPES))
def test_every_example_body_the_sync_handles_is_applied(deliver, erp, settings, code):
    settings.JODO_WEBHOOKS = {**settings.JODO_WEBHOOKS, "MAX_EVENT_AGE_DAYS": 0}
    raw = load_fixture(f"{code}.json")
    payload = json.loads(raw, parse_float=Decimal)["payload"]
    jodo_id = payload.get("jodo_student_id")
    erp.students.create_student(
        payload["student"]["identifier"],
        jodo_student_id=None if jodo_id is None else str(jodo_id),
        custom_identifier=payload["student"].get("custom_identifier"),
    )

    apply(deliver, raw)

    payment = erp.payment(payload["payment"]["id"])
    assert payment["amount"] == Decimal(str(payload["payment"]["amount"]))
    assert payment["student"] == payload["student"]["identifier"]


def test_the_student_is_found_by_any_of_its_ids(deliver, erp):
    erp.students.create_student("ERP-7", jodo_student_id=None, custom_identifier="C-7")
    body = payment_event(student="unknown-here", jodo_student_id=None)
    body["payload"]["student"]["custom_identifier"] = "C-7"

    apply(deliver, body)

    assert erp.payment("pay_1")["student"] == "ERP-7"


# --- once -----------------------------------------------------------------------------------


def test_a_redelivered_event_books_the_payment_once(deliver, erp, student):
    body = payment_event(amount=500)

    apply(deliver, body)
    second = deliver(body)

    assert second.status_code == 200
    assert erp.count() == 1
    assert InboundEvent.objects.get().delivery_count == 2


def test_every_event_of_a_payment_updates_its_one_row(deliver, erp, student):
    apply(deliver, payment_event(DEBITED, amount=900, timestamp=timestamp(30)))
    settled = payment_event(SETTLED, amount=900, timestamp=timestamp(20), settlement_utr="UTR9")
    apply(deliver, settled)
    apply(deliver, payment_event(DEBITED, event_id="again", amount=900, timestamp=timestamp(30)))

    assert erp.count() == 1
    assert erp.payment("pay_1")["state"] == "settled"


# --- order does not matter -------------------------------------------------------------------


def test_a_settlement_before_its_debit_stays_settled(deliver, erp, student):
    settled = payment_event(
        SETTLED,
        timestamp=timestamp(10),
        amount=1200,
        settlement_utr="UTR-1",
        settled_at="2026-06-02T09:00:00Z",
        mode=None,
    )
    debited = payment_event(DEBITED, timestamp=timestamp(20), amount=1200, mode="upi")

    apply(deliver, settled)
    apply(deliver, debited)

    payment = erp.payment("pay_1")
    assert payment["state"] == "settled"
    assert payment["settlement_utr"] == "UTR-1"
    assert payment["settled_at"] == datetime(2026, 6, 2, 9, 0, tzinfo=UTC)
    assert payment["mode"] == "upi"  # the settlement did not state a mode: the debit's is kept


def test_a_cancellation_before_the_addition_stays_cancelled(deliver, erp, student):
    apply(deliver, payment_event(CANCELLED, timestamp=timestamp(10), amount=700))
    apply(deliver, payment_event(ADDED, timestamp=timestamp(20), amount=700))

    payment = erp.payment("pay_1")
    assert (payment["state"], payment["amount"]) == ("cancelled", Decimal(700))


def test_an_old_update_after_a_newer_one_changes_nothing(deliver, erp, student):
    apply(deliver, payment_event(ADDED, timestamp=timestamp(30), amount=100, mode="cash"))
    apply(deliver, payment_event(UPDATED, timestamp=timestamp(10), amount=300, mode="upi"))
    newest = erp.payment_model.objects.get()

    apply(deliver, payment_event(UPDATED, timestamp=timestamp(20), amount=200, mode="cheque"))

    payment = erp.payment("pay_1")
    assert (payment["amount"], payment["mode"]) == (Decimal(300), "upi")
    assert erp.payment_model.objects.get().jodo_versions == newest.jodo_versions


def test_a_bounce_is_final(deliver, erp, student):
    apply(deliver, payment_event(BOUNCED, timestamp=timestamp(20), amount=800))
    apply(deliver, payment_event(SETTLED, timestamp=timestamp(10), amount=800))

    assert erp.payment("pay_1")["state"] == "bounced"


# --- exact money ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sent", "expected"),
    [
        # The amount's JSON text exactly as it goes in the body: numbers and strings.
        ("0.10", "0.10"),
        ("1999.99", "1999.99"),
        ("2000.0", "2000.00"),
        ('"2250"', "2250"),
        ("9999999999999.99", "9999999999999.99"),
    ],
)
def test_amounts_round_trip_exactly(deliver, erp, student, sent, expected):
    placeholder = "amount-as-sent"
    body = payment_event(
        amount=placeholder,
        details=[
            {"fee_component": "TUITION_FEE", "amount": placeholder},
            {"fee_component": "LATE_FEE", "amount": "0.01"},
        ],
    )
    raw = json.dumps(body).replace(json.dumps(placeholder), sent)
    assert raw.count(sent) >= 2

    apply(deliver, raw.encode())

    payment = erp.payment("pay_1")
    assert payment["amount"] == Decimal(expected)
    assert payment["lines"] == {"TUITION_FEE": Decimal(expected), "LATE_FEE": Decimal("0.01")}
    assert payment["difference"] == Decimal("-0.01")


def test_lines_that_do_not_add_up_are_kept_and_their_difference_shown(
    deliver, erp, student, caplog
):
    body = payment_event(
        amount=1000,
        details=[
            {"fee_component": "TUITION_FEE", "amount": "600"},
            {"fee_component": "BOOKS", "amount": "300.50"},
        ],
    )

    apply(deliver, body)

    payment = erp.payment("pay_1")
    assert payment["amount"] == Decimal(1000)
    assert payment["lines"] == {"TUITION_FEE": Decimal(600), "BOOKS": Decimal("300.50")}
    assert payment["difference"] == Decimal("99.50")
    assert "add up to 900.50, not 1000" in caplog.text


def test_lines_that_do_not_add_up_are_logged_without_a_difference_field(
    deliver, erp, student, settings, caplog
):
    """The difference field is optional; the operators' warning is not."""
    configured = payment_sync.configured_sync()
    assert configured is not None
    sync = dataclasses.replace(configured, difference=None)
    settings.JODO_WEBHOOKS = {**settings.JODO_WEBHOOKS, "PAYMENT_SYNC": sync}
    details = [{"fee_component": "TUITION_FEE", "amount": "600"}]

    apply(deliver, payment_event(amount=1000, details=details))

    assert erp.payment("pay_1")["lines"] == {"TUITION_FEE": Decimal(600)}
    assert "add up to 600, not 1000" in caplog.text


def test_a_newer_event_replaces_the_lines(deliver, erp, student):
    apply(
        deliver,
        payment_event(
            ADDED,
            timestamp=timestamp(20),
            amount=300,
            details=[
                {"fee_component": "TUITION_FEE", "amount": "200"},
                {"fee_component": "BOOKS", "amount": "100"},
            ],
        ),
    )

    apply(
        deliver,
        payment_event(
            UPDATED,
            timestamp=timestamp(10),
            amount=300,
            details=[{"fee_component": "TUITION_FEE", "amount": "300"}],
        ),
    )

    payment = erp.payment("pay_1")
    assert payment["lines"] == {"TUITION_FEE": Decimal(300)}
    assert payment["difference"] == Decimal(0)


# --- the right student ------------------------------------------------------------------------


def test_a_payment_for_an_unknown_student_waits_and_books_nothing(deliver, erp):
    event = apply(deliver, payment_event(student="NEW-1", jodo_student_id="J-NEW"), "waiting")

    assert erp.count() == 0
    assert "waiting for student jodo_student_id 'J-NEW', identifier 'NEW-1'" in event.status_reason


def test_a_payment_that_names_another_student_changes_nothing(deliver, erp, student):
    erp.students.create_student("B2", jodo_student_id="J-2")
    apply(deliver, payment_event(amount=100, timestamp=timestamp(20)))

    event = apply(
        deliver,
        payment_event(UPDATED, student="B2", jodo_student_id="J-2", timestamp=timestamp(10)),
        "failed",
    )

    assert "PaymentConflict" in event.last_error
    assert erp.payment("pay_1")["student"] == "A1"


def test_a_known_payment_whose_event_names_another_students_jodo_id_changes_nothing(deliver, erp):
    """The payment's student has no Jodo id yet: the event's identifier is its, but the event's
    Jodo id is another student's. A new payment with these ids is a conflict; so is this."""
    erp.students.create_student("A1", jodo_student_id=None)
    erp.students.create_student("B2", jodo_student_id="J-2")
    apply(deliver, payment_event(amount=100, jodo_student_id=None, timestamp=timestamp(20)))

    event = apply(
        deliver,
        payment_event(UPDATED, amount=5, jodo_student_id="J-2", timestamp=timestamp(10)),
        "failed",
    )

    assert "PaymentConflict" in event.last_error
    payment = erp.payment("pay_1")
    assert (payment["student"], payment["amount"]) == ("A1", Decimal(100))


def test_a_conflict_names_its_records_as_data(deliver, erp, student):
    erp.students.create_student("B2", jodo_student_id="J-2")
    apply(deliver, payment_event(amount=100, timestamp=timestamp(20)))
    other = payment_event(UPDATED, student="B2", jodo_student_id="J-2", timestamp=timestamp(10))
    event = apply(deliver, other, "failed")
    sync = payment_sync.configured_sync()
    assert sync is not None

    with pytest.raises(PaymentConflict) as raised:
        sync.apply(event)

    payment = erp.payment_model.objects.get()
    student_model = sync.model_class._meta.get_field(sync.student).related_model
    assert student_model is not None
    assert raised.value.records == (
        (erp.payment_model._meta.label_lower, payment.pk),
        (student_model._meta.label_lower, getattr(payment, f"{sync.student}_id")),
    )


def test_ids_pointing_at_two_students_are_a_conflict(deliver, erp):
    erp.students.create_student("A1", jodo_student_id="J-1")
    erp.students.create_student("B2", jodo_student_id="J-2")

    event = apply(deliver, payment_event(student="B2", jodo_student_id="J-1"), "failed")

    assert "PaymentConflict" in event.last_error
    assert erp.count() == 0


def test_ids_compare_exactly(deliver, erp):
    erp.students.create_student("A1", jodo_student_id=None)

    event = deliver_event(deliver, payment_event(student="a1", jodo_student_id=None))

    # "a1" is not "A1": the payment waits for its own student; where the ERP's column collation
    # finds "A1" for "a1" (MariaDB's default, pupils' plain CharField), it is a conflict.
    assert event.status == "waiting" or "PaymentConflict" in event.last_error
    assert erp.count() == 0


# --- history kept -----------------------------------------------------------------------------


def test_a_cancelled_payment_keeps_its_row_amounts_and_lines(deliver, erp, student):
    lines = [{"fee_component": "TUITION_FEE", "amount": "450.25"}]
    apply(deliver, payment_event(ADDED, timestamp=timestamp(20), amount=450.25, details=lines))

    apply(deliver, payment_event(CANCELLED, timestamp=timestamp(10), amount=450.25, details=[]))

    payment = erp.payment("pay_1")
    assert (payment["state"], payment["amount"]) == ("cancelled", Decimal("450.25"))
    assert payment["lines"] == {"TUITION_FEE": Decimal("450.25")}


@pytest.mark.parametrize("settlement_first", [True, False])
def test_a_newer_event_without_line_utrs_keeps_the_lines_utrs(
    deliver, settings, jodo_settings, settlement_first
):
    """Lines as a whole are the newest event's, but a line's UTR and settlement time are values
    like the payment's: an event that leaves them null never blanks them, in any order."""
    erp = use_payment_erp(settings, "students")  # the reference ERP maps the lines' UTR and time
    erp.students.create_student("A1", jodo_student_id="J-1")
    settled_at = "2026-06-02T09:00:00Z"
    settled = payment_event(
        SETTLED,
        timestamp=timestamp(20),
        amount=300,
        details=[
            {"fee_component": "TUITION_FEE", "amount": "200", "settlement_utr": "UTR-T"},
            {"fee_component": "BOOKS", "amount": "100", "settled_at": settled_at},
        ],
    )
    bounced = payment_event(
        BOUNCED,
        timestamp=timestamp(10),
        amount=300,
        details=[
            {"fee_component": "TUITION_FEE", "amount": "200"},
            {"fee_component": "BOOKS", "amount": "100", "settlement_utr": "UTR-B"},
        ],
    )

    for body in [settled, bounced] if settlement_first else [bounced, settled]:
        apply(deliver, body)

    lines = {
        line.component: (line.settlement_utr, line.settled_at)
        for line in FeePaymentLine.objects.all()
    }
    assert lines == {
        "TUITION_FEE": ("UTR-T", None),
        "BOOKS": ("UTR-B", datetime(2026, 6, 2, 9, 0, tzinfo=UTC)),
    }
