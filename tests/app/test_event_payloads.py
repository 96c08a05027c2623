"""Every documented event family parses into its typed object; `parse_event` picks the family."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from jodo_webhooks import (
    DOCUMENTED_EVENT_TYPES,
    EmiData,
    InvalidPayload,
    LoanData,
    MandateData,
    PaymentData,
    PaymentLinkExpiry,
    StudentData,
    SubscriptionData,
    UnknownEventType,
    parse_emi_event,
    parse_event,
    parse_loan_event,
    parse_mandate_event,
    parse_student_event,
    parse_subscription_event,
)

from ..helpers import FIXTURES
from .payloads import JODO_IDS, RAW, fixture, record

pytestmark = pytest.mark.django_db

FAMILY = {
    "masterdata.student": StudentData,
    "direct.payment": PaymentData,
    "flex.subscription": SubscriptionData,
    "flex.mandate": MandateData,
    "flex.downpayment": PaymentData,
    "flex.instalment": PaymentData,
    "pay.payment": PaymentData,
    "order.payment": PaymentData,
    "page.payment": PaymentData,
    "payment_link.payment": PaymentData,
    "cred.loan": LoanData,
    "cred.emi": EmiData,
}


def expected_type(code: str) -> type:
    if code == "payment_link.payment.expired":
        return PaymentLinkExpiry
    return FAMILY[code.rsplit(".", 1)[0]]


def invalid(parser, event) -> str:
    with pytest.raises(InvalidPayload) as caught:
        parser(event)
    return str(caught.value)


def test_there_is_a_fixture_for_every_documented_code_with_distinct_event_ids():
    bodies = [json.loads(path.read_text()) for path in FIXTURES.glob("*.json")]
    assert len(DOCUMENTED_EVENT_TYPES) == 36
    assert {body["event"] for body in bodies} == DOCUMENTED_EVENT_TYPES
    assert {f"{body['event']}.json" for body in bodies} == {p.name for p in FIXTURES.glob("*")}
    assert len({body["event_id"] for body in bodies}) == len(bodies)


@pytest.mark.parametrize("code", sorted(DOCUMENTED_EVENT_TYPES))
def test_every_fixture_parses_to_its_typed_object(deliver, code):
    body = fixture(code)
    data = parse_event(record(deliver, body))

    assert type(data) is expected_type(code)
    assert data.event_type == code
    assert data.occurred_at == datetime.fromtimestamp(body["timestamp"], tz=UTC)


def test_an_undocumented_code_is_refused(deliver):
    body = fixture("direct.payment.added")
    body["event"] = "direct.payment.addded"
    with pytest.raises(UnknownEventType, match="not a documented Jodo event code"):
        parse_event(record(deliver, body))


def test_a_family_parser_refuses_another_familys_code(deliver):
    with pytest.raises(UnknownEventType):
        parse_loan_event(record(deliver, fixture("cred.emi.debited")))


# --- student ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("jodo_id", "expected"), JODO_IDS)
def test_student_event_takes_jodo_student_id_as_number_or_string(deliver, jodo_id, expected):
    body = fixture("masterdata.student.registered")
    body["payload"]["jodo_student_id"] = jodo_id
    data = parse_student_event(record(deliver, body))
    assert data.jodo_student_id == expected


def test_student_event_still_refuses_a_float_id(deliver):
    body = fixture("masterdata.student.registered")
    body["payload"]["jodo_student_id"] = 7408.0
    assert "jodo_student_id" in invalid(parse_student_event, record(deliver, body))


# --- Flex subscriptions -----------------------------------------------------------------------


def test_subscription_with_its_payment_schedule(deliver):
    data = parse_subscription_event(record(deliver, fixture("flex.subscription.updated")))

    assert data.subscription_id == "88001"  # an integer on this page
    assert data.status == "active"
    assert data.student is not None
    assert data.student.jodo_student_id == "7408"
    assert data.student.extra["fullname"] == "Jodo Test Student"
    assert data.payment_schedule is not None
    assert [(row.due_date, str(row.amount)) for row in data.payment_schedule] == [
        (date(2022, 7, 5), "1999.99"),
        (date(2022, 8, 5), "1999.99"),
        (date(2022, 9, 5), "2000.02"),
    ]


def test_subscription_ids_as_string_and_schedule_absent_or_inside_the_subscription(deliver):
    active = parse_subscription_event(record(deliver, fixture("flex.subscription.active")))
    body = fixture("flex.subscription.setup")
    body["payload"]["subscription"]["payment_schedule"] = body["payload"].pop("payment_schedule")
    body["payload"]["subscription"]["plan"] = "monthly"
    inside = parse_subscription_event(record(deliver, body))

    assert active.subscription_id == "sub_88001"
    assert active.payment_schedule is None
    assert inside.payment_schedule is not None
    assert len(inside.payment_schedule) == 3
    assert inside.extra == {"plan": "monthly"}


def test_a_schedule_row_without_a_valid_due_date_names_it(deliver):
    body = fixture("flex.subscription.updated")
    body["payload"]["payment_schedule"][2]["due_date"] = "05/09/2022"
    message = invalid(parse_subscription_event, record(deliver, body))
    assert "payload.payment_schedule[2].due_date" in message


# --- Flex mandates ----------------------------------------------------------------------------


def test_mandate_cancelled_and_expired(deliver):
    cancelled = parse_mandate_event(record(deliver, fixture("flex.mandate.cancelled")))
    expired = parse_mandate_event(record(deliver, fixture("flex.mandate.expired")))

    assert (cancelled.mandate_id, cancelled.status) == ("mandate_1921", "cancelled")
    assert cancelled.npci_category_code == "customer_revoked"
    assert cancelled.end_date is None
    assert (cancelled.subscription_id, cancelled.subscription_status) == ("sub_88001", "active")
    assert (expired.status, expired.end_date) == ("expired", date(2023, 1, 1))
    assert expired.subscription_status == "locked"
    assert expired.student is not None
    assert expired.student.collector_code is None
    # Kept as sent, Jodo's swapped grade included.
    assert expired.student.extra["grade"] == {"name": "M1BLUE", "code": "Montessori 1"}


def test_a_mandate_without_an_id_fails_naming_it(deliver):
    body = fixture("flex.mandate.cancelled")
    del body["payload"]["mandate"]["id"]
    assert "payload.mandate.id" in invalid(parse_mandate_event, record(deliver, body))


# --- Cred -------------------------------------------------------------------------------------


def test_loan_events_normalise_ids_and_amounts(deliver):
    started = parse_loan_event(record(deliver, fixture("cred.loan.application_started")))
    approved = parse_loan_event(record(deliver, fixture("cred.loan.final_approved")))

    assert (started.application_id, started.status) == ("3101", "application_started")
    assert started.amount is None
    assert started.disbursements == ()
    assert started.student is not None
    assert started.student.jodo_student_id == "7408"
    assert (approved.amount, str(approved.amount)) == (Decimal(100000), "100000")
    assert approved.student is not None
    assert approved.student.custom_identifier is None  # null in Jodo's example


def test_disbursements_as_an_array_or_a_single_object(deliver):
    signed = parse_loan_event(record(deliver, fixture("cred.loan.agreement_signed")))
    body = fixture("cred.loan.disbursed")
    body["payload"]["disbursement"]["disbursed_amount"] = RAW
    body["payload"]["disbursement"]["utr"] = "UTIB000123"
    disbursed = parse_loan_event(record(deliver, body, '"99500.50"'))

    assert signed.agreement_signed_at == datetime(2023, 8, 15, 10, 36, 40, tzinfo=UTC)
    assert [(d.id, d.date, d.amount) for d in signed.disbursements] == [
        ("9001", date(2023, 8, 20), None)
    ]
    (payout,) = disbursed.disbursements
    assert (payout.id, str(payout.amount)) == ("9001", "99500.50")
    assert payout.extra == {"utr": "UTIB000123"}


def test_emi_reads_string_amounts_and_ids(deliver):
    data = parse_emi_event(record(deliver, fixture("cred.emi.debited")))

    assert (data.application_id, data.application_status) == ("1234", "agreement_signed")
    assert (data.loan_amount, str(data.loan_amount)) == (Decimal(100000), "100000")
    assert (data.payment_id, data.amount) == ("emi_5678_6789", Decimal(10000))
    assert data.due_date == date(2022, 2, 15)
    assert data.paid_at == datetime(2022, 2, 15, 10, 5, 45, tzinfo=UTC)
    assert data.student is not None
    assert data.student.jodo_student_id == "student_1234"


def test_emi_amount_is_exact_and_a_bad_one_names_its_path(deliver):
    body = fixture("cred.emi.debited")
    body["payload"]["payment"]["amount"] = RAW
    exact = parse_emi_event(record(deliver, body, "8333.33"))
    body = fixture("cred.emi.debited")
    body["payload"]["application"]["amount"] = "1,00,000"
    message = invalid(parse_emi_event, record(deliver, body))

    assert str(exact.amount) == "8333.33"
    assert "payload.application.amount" in message


# --- Pay: an expired link ---------------------------------------------------------------------


def test_expired_link_has_no_payment_but_keeps_what_it_asked_for(deliver):
    data = parse_event(record(deliver, fixture("payment_link.payment.expired")))

    assert isinstance(data, PaymentLinkExpiry)
    assert (data.order_id, data.status) == ("order_12347", "expired")
    assert (data.amount, str(data.amount)) == (Decimal("1000.0"), "1000.0")
    assert data.extra["notes"] == [{"key": "erp_reference_id", "value": "REF123"}]
    assert data.extra["student_name"] == "Student Name"


@pytest.mark.parametrize("due_date", ["2022-02-15", "2022-02-15T10:05:45Z"])
def test_a_date_may_come_as_a_date_or_a_date_time(deliver, due_date):
    body = fixture("cred.emi.debited")
    body["payload"]["payment"]["due_date"] = due_date
    assert parse_emi_event(record(deliver, body)).due_date == date(2022, 2, 15)


def test_student_event_still_refuses_a_blank_id(deliver):
    body = fixture("masterdata.student.registered")
    body["payload"]["jodo_student_id"] = "  "
    assert "jodo_student_id" in invalid(parse_student_event, record(deliver, body))
