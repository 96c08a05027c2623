"""Payment events become typed `PaymentData`: Jodo's inconsistencies normalised, money exact."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from jodo_webhooks import (
    PAYMENT_EVENT_TYPES,
    InvalidPayload,
    PaymentData,
    PaymentKind,
    PaymentProduct,
    UnknownEventType,
    UnsupportedVersion,
    parse_payment_event,
)
from jodo_webhooks.models import InboundEvent

from ..helpers import timestamp
from .payloads import JODO_IDS, RAW, fixture, record

pytestmark = pytest.mark.django_db

EXPECTED = {
    "direct.payment.added": ("direct", "added"),
    "direct.payment.updated": ("direct", "updated"),
    "direct.payment.cancelled": ("direct", "cancelled"),
    "flex.downpayment.debited": ("flex_downpayment", "debited"),
    "flex.downpayment.settled": ("flex_downpayment", "settled"),
    "flex.instalment.debited": ("flex_instalment", "debited"),
    "flex.instalment.settled": ("flex_instalment", "settled"),
    "flex.instalment.bounced": ("flex_instalment", "bounced"),
    "pay.payment.debited": ("pay", "debited"),
    "pay.payment.settled": ("pay", "settled"),
    "order.payment.debited": ("order", "debited"),
    "order.payment.settled": ("order", "settled"),
    "page.payment.debited": ("page", "debited"),
    "page.payment.settled": ("page", "settled"),
    "payment_link.payment.debited": ("payment_link", "debited"),
    "payment_link.payment.settled": ("payment_link", "settled"),
}


def parse(deliver, body, raw=None) -> PaymentData:
    return parse_payment_event(record(deliver, body, raw))


def invalid(deliver, body, raw=None) -> str:
    with pytest.raises(InvalidPayload) as caught:
        parse(deliver, body, raw)
    return str(caught.value)


def test_payment_event_types_are_the_documented_money_events():
    assert set(EXPECTED) == PAYMENT_EVENT_TYPES


@pytest.mark.parametrize("code", sorted(EXPECTED))
def test_every_payment_fixture_parses(deliver, code):
    body = fixture(code)
    data = parse(deliver, body)

    product, kind = EXPECTED[code]
    assert (data.event_type, data.product, data.kind) == (code, product, kind)
    assert data.occurred_at == datetime.fromtimestamp(body["timestamp"], tz=UTC)
    assert isinstance(data.amount, Decimal)
    assert data.lines or product == "flex_instalment"
    if product in ("order", "page", "payment_link"):
        assert data.student is None
        assert data.payment_id == body["payload"]["order_id"]
        assert data.amount == sum(line.amount for line in data.lines)
    else:
        assert data.student is not None
        assert data.student.names_a_student
        assert data.payment_id == body["payload"]["payment"]["id"]


def test_manual_payment_reads_every_documented_field(deliver):
    data = parse(deliver, fixture("direct.payment.cancelled"))

    assert data.kind is PaymentKind.CANCELLED
    assert data.product is PaymentProduct.DIRECT
    assert data.payment_id == "pay_direct_5001"
    assert (data.amount, str(data.amount)) == (Decimal("2250.0"), "2250.0")
    assert (data.mode, data.transaction_id) == ("cheque", "CHQ-004512")
    assert data.notes == "Cheque bounced"
    assert data.paid_at == datetime(2022, 6, 10, 9, 30, tzinfo=UTC)
    # details[].amount is a string on this page: exact Decimals all the same.
    assert [(line.component, str(line.amount)) for line in data.lines] == [
        ("TUITION_FEE", "2000"),
        ("TRANSPORT_FEE", "250"),
    ]
    # The UTR sits at payment level here; every line carries it too.
    assert data.settlement_utr == "settl_5001"
    assert {line.settlement_utr for line in data.lines} == {"settl_5001"}
    assert data.student is not None
    assert data.student.jodo_student_id == "student_1234"
    assert (data.student.identifier, data.student.custom_identifier) == ("1234", "cust_1234")
    assert data.student.collector_code == "Branch1"
    assert data.student.extra["academic_year_start"] == 2022
    assert data.extra == {}


def test_order_event_has_no_student_and_keeps_the_order_fields(deliver):
    data = parse(deliver, fixture("order.payment.settled"))

    assert data.payment_id == "order_2345343214521452"
    assert data.student is None
    assert data.subscription_id is None
    assert data.status == "paid"
    # No total on an order: the sum of its lines.
    assert (data.amount, str(data.amount)) == (Decimal("10000.0"), "10000.0")
    assert data.settlement_utr == "settl_2345"
    assert data.settled_at == datetime(2023, 4, 5, 4, 0, 38, tzinfo=UTC)
    assert data.lines[0].component == "Admission Fee"
    # List-shaped notes and the payer's fields go to `extra`, as sent.
    assert data.notes is None
    assert data.extra["notes"] == [{"key": "erp_reference_id", "value": "REF124"}]
    assert data.extra["identifier"] == "26bcd403a57a"
    assert data.extra["name"] == "Ron Rivest"


def test_flex_instalment_carries_its_subscription(deliver):
    data = parse(deliver, fixture("flex.instalment.settled"))

    assert data.subscription_id == "88001"  # an integer on this page
    assert data.subscription_status == "active"
    assert data.reference_id == "ref_7002"
    assert (data.amount, str(data.amount)) == (Decimal("1999.99"), "1999.99")
    assert data.student is not None
    assert data.student.jodo_student_id == "7408"


@pytest.mark.parametrize(
    "text", ["0.10", "1999.99", "2000.0", '"2250"', "2250", "0", '"0.5"', "2000.000", "2.5e3"]
)
def test_amounts_are_exact_decimals_of_the_text_jodo_sent(deliver, text):
    body = fixture("direct.payment.added")
    body["payload"]["payment"]["amount"] = RAW
    data = parse(deliver, body, text)

    expected = text.strip('"')
    assert data.amount == Decimal(expected)
    assert str(data.amount) == str(Decimal(expected))  # the text, as Decimal writes it
    assert str(data.amount) == expected or "e" in expected


@pytest.mark.parametrize("text", ["0.10", "1999.99", "2000.0", '"2250"'])
def test_line_amounts_are_exact_whether_number_or_string(deliver, text):
    body = fixture("payment_link.payment.debited")
    body["payload"]["order"]["details"][0]["amount"] = RAW
    data = parse(deliver, body, text)

    assert str(data.lines[0].amount) == text.strip('"')
    assert data.amount == Decimal(text.strip('"'))


def test_amount_is_exact_from_the_database_row_not_its_stored_floats(deliver):
    body = fixture("flex.instalment.settled")
    body["payload"]["payment"]["amount"] = RAW
    event = record(deliver, body, "12345678901234.57")
    # The JSONField holds a float, which cannot hold this amount exactly.
    stored = InboundEvent.objects.get(pk=event.pk).payload["payment"]["amount"]
    assert isinstance(stored, float)

    data = parse_payment_event(InboundEvent.objects.get(pk=event.pk))

    assert str(data.amount) == "12345678901234.57"


def test_a_row_without_its_raw_body_falls_back_to_the_shortest_text_of_its_floats(deliver):
    body = fixture("flex.instalment.settled")
    body["payload"]["payment"]["amount"] = RAW
    event = record(deliver, body, "0.10")
    InboundEvent.objects.filter(pk=event.pk).update(raw_body="{}")

    data = parse_payment_event(InboundEvent.objects.get(pk=event.pk))

    assert (data.amount, str(data.amount)) == (Decimal("0.1"), "0.1")


@pytest.mark.parametrize(("jodo_id", "expected"), JODO_IDS)
def test_jodo_student_id_is_a_string_whether_sent_as_number_or_string(deliver, jodo_id, expected):
    body = fixture("direct.payment.added")
    body["payload"]["jodo_student_id"] = jodo_id
    data = parse(deliver, body)
    assert data.student is not None
    assert data.student.jodo_student_id == expected


@pytest.mark.parametrize("key", ["fee_component", "component_type"])
def test_a_line_names_its_component_with_either_key(deliver, key):
    body = fixture("pay.payment.debited")
    body["payload"]["payment"]["details"] = [{key: "TUITION_FEE", "amount": 2000}]
    data = parse(deliver, body)
    assert [(line.component, line.amount) for line in data.lines] == [("TUITION_FEE", 2000)]


def test_notes_as_text_or_as_key_value_pairs(deliver):
    as_text = parse(deliver, fixture("direct.payment.added"))
    body = fixture("direct.payment.added")
    pairs = [{"key": "receipt", "value": "R-17"}]
    body["payload"]["payment"]["notes"] = pairs
    as_list = parse(deliver, body)

    assert as_text.notes == "Cheque received at the front office"
    assert "notes" not in as_text.extra
    assert as_list.notes is None
    assert as_list.extra["notes"] == pairs


def test_settlement_utr_per_line_gives_the_payment_its_utr_when_they_agree(deliver):
    body = fixture("pay.payment.settled")
    line = body["payload"]["payment"]["details"][0]
    body["payload"]["payment"]["details"] = [line, dict(line, component_type="Bus Fee")]
    agreeing = parse(deliver, body)
    body = fixture("pay.payment.settled")
    body["payload"]["payment"]["details"] = [line, dict(line, settlement_utr="settl_other")]
    differing = parse(deliver, body)

    assert agreeing.settlement_utr == "settl_8001"
    assert agreeing.settled_at == datetime(2022, 3, 2, 10, 5, 45, tzinfo=UTC)
    assert differing.settlement_utr is None
    assert [x.settlement_utr for x in differing.lines] == ["settl_8001", "settl_other"]


def test_unknown_fields_are_kept_as_sent(deliver):
    body = fixture("flex.downpayment.debited")
    body["payload"]["payment"]["gateway"] = {"name": "razorpay", "fee": RAW}
    body["payload"]["payment"]["details"][0]["waiver"] = True
    body["payload"]["school_note"] = "kept"
    data = parse(deliver, body, "12.50")

    gateway = {"name": "razorpay", "fee": Decimal("12.50")}
    assert data.extra == {"product": "flex", "gateway": gateway}
    assert str(data.extra["gateway"]["fee"]) == "12.50"
    assert data.lines[0].extra == {"waiver": True}
    assert data.payload["school_note"] == "kept"


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("true", "A number or a string of digits is required."),
        ('"12abc"', "A number or a string of digits is required."),
        ('"NaN"', "A number or a string of digits is required."),
        ('" 12"', "A number or a string of digits is required."),
        ("null", "This field may not be null."),
        ("-5", "Must not be negative."),
        ("1.005", "more than 2 decimal places"),
        ("0.0001", "more than 2 decimal places"),
        ('"١٢"', "A number or a string of digits is required."),
        ("1e16", "less than 10**16"),
    ],
)
def test_a_bad_amount_fails_naming_its_path(deliver, text, reason):
    body = fixture("direct.payment.cancelled")
    body["payload"]["payment"]["details"][1]["amount"] = RAW
    message = invalid(deliver, body, text)
    assert "payload.payment.details[1].amount" in message
    assert reason in message


def test_invalid_payloads_fail_naming_each_field(deliver):
    body = fixture("flex.instalment.bounced")
    del body["payload"]["payment"]["id"]
    body["payload"]["payment"]["paid_at"] = "yesterday"
    body["payload"]["jodo_student_id"] = 7408.5
    message = invalid(deliver, body)
    for path in ("payload.payment.id", "payload.payment.paid_at", "payload.jodo_student_id"):
        assert path in message

    body = fixture("page.payment.settled")
    body["payload"]["order"]["details"][0].pop("component_type")
    assert "payload.order.details[0].fee_component" in invalid(deliver, body)

    body = fixture("order.payment.debited")
    del body["payload"]["order"]
    assert "payload.order" in invalid(deliver, body)


def test_a_student_payment_that_names_no_student_fails(deliver):
    body = fixture("direct.payment.added")
    del body["payload"]["jodo_student_id"]
    body["payload"]["student"] = {"collector_code": "Branch1"}
    assert "payload.student" in invalid(deliver, body)


def test_a_code_that_is_not_a_payment_is_refused(deliver):
    event = record(deliver, fixture("flex.mandate.cancelled"))
    with pytest.raises(UnknownEventType, match=r"flex\.mandate\.cancelled"):
        parse_payment_event(event)


def test_an_unsupported_version_is_refused(deliver):
    body = fixture("direct.payment.added")
    body["version"] = "2.0"
    with pytest.raises(UnsupportedVersion, match=r"2\.0"):
        parse(deliver, body)


@pytest.mark.parametrize(
    "paid_at",
    ["2022-03-01T10:05:45Z", "2022-03-01T15:35:45+05:30", "2022-03-01T10:05:45", 1646129145],
)
def test_date_times_with_z_an_offset_no_zone_or_unix_seconds_are_one_instant(deliver, paid_at):
    body = fixture("pay.payment.debited")
    body["payload"]["payment"]["paid_at"] = paid_at
    data = parse(deliver, body)
    assert data.paid_at == datetime(2022, 3, 1, 10, 5, 45, tzinfo=UTC)
    assert data.paid_at.tzinfo is not None


def test_optional_ids_sent_blank_or_as_numbers_are_absent_or_text(deliver):
    body = fixture("direct.payment.added")
    body["payload"]["payment"]["transaction_id"] = " "
    body["payload"]["payment"]["reference_id"] = 4512
    data = parse(deliver, body)
    assert data.transaction_id is None
    assert data.reference_id == "4512"


def test_a_receiver_that_parses_a_bad_payment_fails_the_event_naming_the_field(
    deliver, connect_receiver
):
    applied: list[PaymentData] = []
    connect_receiver(
        lambda sender, event, **kwargs: applied.append(parse_payment_event(event)),
        *PAYMENT_EVENT_TYPES,
    )
    good_body, bad_body = fixture("flex.instalment.settled"), fixture("flex.instalment.settled")
    good_body["timestamp"] = bad_body["timestamp"] = timestamp()  # recent enough to process
    bad_body["payload"]["payment"]["amount"] = RAW
    good = record(deliver, good_body)
    bad = record(deliver, bad_body, "1999.999")

    assert good.status == InboundEvent.Status.PROCESSED
    assert [payment.payment_id for payment in applied] == ["pay_inst_7002"]
    assert bad.status == InboundEvent.Status.FAILED
    assert "payload.payment.amount" in bad.last_error
    assert "more than 2 decimal places" in bad.last_error


def test_a_null_line_fails_naming_it_while_null_details_mean_none(deliver):
    body = fixture("order.payment.debited")
    body["payload"]["order"]["details"].append(None)
    message = invalid(deliver, body)
    body = fixture("direct.payment.added")
    body["payload"]["payment"]["details"] = None
    data = parse(deliver, body)

    assert "payload.order.details[1]" in message
    assert data.lines == ()
    assert str(data.amount) == "2250.0"
