"""Jodo's payment events (manual, Flex downpayment and instalment, Pay): validation, and the
typed `PaymentData` they become.

Two body shapes carry money. Student-linked payments (direct, flex, pay) have `payload.payment`
beside the student block; checkout orders, payment pages and payment links have
`payload.order_id` and `payload.order` and no student at all.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import TYPE_CHECKING, Any, TypeVar

from rest_framework import serializers

from . import event_types as codes
from .exceptions import UnknownEventType
from .payload_fields import (
    AmountField,
    JodoDateTimeField,
    JodoIdField,
    NotesField,
    check_version,
    exact_payload,
    optional,
    optional_id,
    optional_list,
    optional_text,
    unmapped,
    validate,
)
from .student_ref import StudentLinkedPayloadSerializer, StudentRef, student_ref

if TYPE_CHECKING:
    from .models import InboundEvent

_T = TypeVar("_T")

__all__ = [
    "PAYMENT_EVENT_TYPES",
    "PaymentData",
    "PaymentKind",
    "PaymentLine",
    "PaymentProduct",
    "StudentRef",
    "parse_payment_event",
]


class PaymentKind(StrEnum):
    """What the event says happened to the payment: the last part of its code."""

    ADDED = "added"
    UPDATED = "updated"
    CANCELLED = "cancelled"
    DEBITED = "debited"
    SETTLED = "settled"
    BOUNCED = "bounced"


class PaymentProduct(StrEnum):
    """Which of Jodo's products took the money."""

    DIRECT = "direct"  # a manual (offline) payment recorded at Jodo
    FLEX_DOWNPAYMENT = "flex_downpayment"
    FLEX_INSTALMENT = "flex_instalment"
    PAY = "pay"  # a student-linked Pay payment
    ORDER = "order"  # a checkout order
    PAGE = "page"  # a payment page
    PAYMENT_LINK = "payment_link"


# Products whose events carry `payload.order_id` and `payload.order` instead of a payment.
ORDER_PRODUCTS = frozenset({PaymentProduct.ORDER, PaymentProduct.PAGE, PaymentProduct.PAYMENT_LINK})

_PAYMENT_EVENTS: dict[str, tuple[PaymentProduct, PaymentKind]] = {
    codes.DIRECT_PAYMENT_ADDED: (PaymentProduct.DIRECT, PaymentKind.ADDED),
    codes.DIRECT_PAYMENT_UPDATED: (PaymentProduct.DIRECT, PaymentKind.UPDATED),
    codes.DIRECT_PAYMENT_CANCELLED: (PaymentProduct.DIRECT, PaymentKind.CANCELLED),
    codes.FLEX_DOWNPAYMENT_DEBITED: (PaymentProduct.FLEX_DOWNPAYMENT, PaymentKind.DEBITED),
    codes.FLEX_DOWNPAYMENT_SETTLED: (PaymentProduct.FLEX_DOWNPAYMENT, PaymentKind.SETTLED),
    codes.FLEX_INSTALMENT_DEBITED: (PaymentProduct.FLEX_INSTALMENT, PaymentKind.DEBITED),
    codes.FLEX_INSTALMENT_SETTLED: (PaymentProduct.FLEX_INSTALMENT, PaymentKind.SETTLED),
    codes.FLEX_INSTALMENT_BOUNCED: (PaymentProduct.FLEX_INSTALMENT, PaymentKind.BOUNCED),
    codes.PAY_PAYMENT_DEBITED: (PaymentProduct.PAY, PaymentKind.DEBITED),
    codes.PAY_PAYMENT_SETTLED: (PaymentProduct.PAY, PaymentKind.SETTLED),
    codes.ORDER_PAYMENT_DEBITED: (PaymentProduct.ORDER, PaymentKind.DEBITED),
    codes.ORDER_PAYMENT_SETTLED: (PaymentProduct.ORDER, PaymentKind.SETTLED),
    codes.PAGE_PAYMENT_DEBITED: (PaymentProduct.PAGE, PaymentKind.DEBITED),
    codes.PAGE_PAYMENT_SETTLED: (PaymentProduct.PAGE, PaymentKind.SETTLED),
    codes.PAYMENT_LINK_PAYMENT_DEBITED: (PaymentProduct.PAYMENT_LINK, PaymentKind.DEBITED),
    codes.PAYMENT_LINK_PAYMENT_SETTLED: (PaymentProduct.PAYMENT_LINK, PaymentKind.SETTLED),
}

# Every code `parse_payment_event` accepts.
PAYMENT_EVENT_TYPES = frozenset(_PAYMENT_EVENTS)


@dataclass(frozen=True, slots=True)
class PaymentLine:
    """One fee component of a payment (`details[]`)."""

    component: str  # details[].fee_component or details[].component_type
    amount: Decimal
    # The line's own, else the payment's (Jodo puts the UTR at either level).
    settlement_utr: str | None
    settled_at: datetime | None
    extra: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class PaymentData:
    """A validated payment event, ready for an ERP's ledger."""

    event_type: str
    kind: PaymentKind
    product: PaymentProduct
    occurred_at: datetime  # the envelope timestamp
    payment_id: str  # payment.id; order_id for order, page and payment-link events
    amount: Decimal | None  # None only where the event does not carry it
    mode: str | None
    transaction_id: str | None
    reference_id: str | None
    settlement_utr: str | None
    settled_at: datetime | None
    paid_at: datetime | None
    notes: str | None  # free text (manual payments); list-shaped notes go to `extra`
    lines: tuple[PaymentLine, ...]
    student: StudentRef | None  # None for order, page and payment-link events
    subscription_id: str | None  # Flex instalments
    extra: Mapping[str, Any]  # payment (or order) fields not mapped above, as sent
    status: str | None = None  # payment.status or order.status, when sent
    subscription_status: str | None = None  # Flex instalments
    # The whole payload as sent, numbers with a fraction as exact Decimals.
    payload: Mapping[str, Any] = field(default_factory=dict)


class PaymentLineSerializer(serializers.Serializer[Any]):
    fee_component = optional_text()
    component_type = optional_text()
    amount = AmountField()
    settlement_utr = optional_id()
    settled_at = optional(JodoDateTimeField)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if not (attrs["fee_component"] or attrs["component_type"]):
            raise serializers.ValidationError(
                {"fee_component": ["fee_component or component_type is required."]}
            )
        return attrs


class _MoneyFields(serializers.Serializer[Any]):
    """Fields a payment and an order share."""

    mode = optional_text()
    transaction_id = optional_id()
    reference_id = optional_id()
    settlement_utr = optional_id()
    settled_at = optional(JodoDateTimeField)
    paid_at = optional(JodoDateTimeField)
    status = optional_text(100)
    notes = optional(NotesField)
    details = optional_list(PaymentLineSerializer())


class PaymentSerializer(_MoneyFields):
    id = JodoIdField()
    amount = AmountField()


class OrderSerializer(_MoneyFields):
    # Not on Jodo's order pages: the total is then the sum of the details.
    amount = optional(AmountField)


class SubscriptionRefSerializer(serializers.Serializer[Any]):
    id = optional_id()
    status = optional_text(100)


class StudentPaymentPayloadSerializer(StudentLinkedPayloadSerializer):
    subscription = SubscriptionRefSerializer(required=False, allow_null=True, default=None)
    payment = PaymentSerializer()


class OrderPayloadSerializer(serializers.Serializer[Any]):
    order_id = JodoIdField()
    order = OrderSerializer()


# Shared, as the envelope's is: instantiating a serializer deep-copies its field tree.
_STUDENT_PAYMENT = StudentPaymentPayloadSerializer()
_ORDER_PAYMENT = OrderPayloadSerializer()
_PAYMENT_FIELDS = PaymentSerializer()
_ORDER_FIELDS = OrderSerializer()
_LINE_FIELDS = PaymentLineSerializer()


def parse_payment_event(event: InboundEvent) -> PaymentData:
    """Validate a recorded payment event; raise InvalidPayload, UnsupportedVersion, or
    UnknownEventType for a code that is not in PAYMENT_EVENT_TYPES."""
    try:
        product, kind = _PAYMENT_EVENTS[event.event_type]
    except KeyError:
        raise UnknownEventType(
            f"{event.event_type!r} is not a payment event; see PAYMENT_EVENT_TYPES."
        ) from None
    check_version(event)
    payload = exact_payload(event)
    if product in ORDER_PRODUCTS:
        data = validate(_ORDER_PAYMENT, payload)
        money = order_money(data["order"], payload["order"])
        payment_id, student = data["order_id"], None
    else:
        data = validate(_STUDENT_PAYMENT, payload)
        money = Money.of(data["payment"], payload["payment"], _PAYMENT_FIELDS)
        payment_id, student = data["payment"]["id"], student_ref(data, payload, required=True)
    subscription = data.get("subscription") or {}
    return PaymentData(
        event_type=event.event_type,
        kind=kind,
        product=product,
        occurred_at=event.occurred_at,
        payment_id=payment_id,
        amount=money.amount,
        mode=money.fields["mode"] or None,
        transaction_id=money.fields["transaction_id"],
        reference_id=money.fields["reference_id"],
        settlement_utr=money.settlement_utr,
        settled_at=money.settled_at,
        paid_at=money.fields["paid_at"],
        notes=money.notes,
        lines=money.lines,
        student=student,
        subscription_id=subscription.get("id"),
        extra=money.extra,
        status=money.fields["status"] or None,
        subscription_status=subscription.get("status") or None,
        payload=payload,
    )


@dataclass(frozen=True, slots=True)
class Money:
    """A validated payment or order: its fields, and what the parsers derive from them."""

    fields: Mapping[str, Any]
    amount: Decimal | None
    settlement_utr: str | None
    settled_at: datetime | None
    notes: str | None
    lines: tuple[PaymentLine, ...]
    extra: dict[str, Any]

    @classmethod
    def of(
        cls,
        money: Mapping[str, Any],
        raw: Mapping[str, Any],
        serializer: serializers.Serializer[Any],
    ) -> Money:
        """Jodo puts `settlement_utr` (and `settled_at`) at payment level on manual payments and
        per line on Pay. A line without its own takes the payment's; a payment without its own
        takes the one its lines agree on (None when they differ or have none). An amount absent
        (orders have none) is the sum of the lines. Text notes are `notes`; an array of
        key-value pairs goes to `extra["notes"]`, as sent."""
        lines = tuple(
            PaymentLine(
                component=line["fee_component"] or line["component_type"],
                amount=line["amount"],
                settlement_utr=line["settlement_utr"] or money["settlement_utr"],
                settled_at=line["settled_at"] or money["settled_at"],
                extra=unmapped(raw_line, _LINE_FIELDS),
            )
            for line, raw_line in zip(money["details"] or [], raw.get("details") or [], strict=True)
        )
        amount = money["amount"]
        if amount is None and lines:
            amount = sum((line.amount for line in lines), Decimal(0))
        notes = money["notes"]
        extra = unmapped(raw, serializer)
        if isinstance(notes, list):
            extra["notes"] = raw["notes"]
        return cls(
            fields=money,
            amount=amount,
            settlement_utr=money["settlement_utr"] or _agreed({x.settlement_utr for x in lines}),
            settled_at=money["settled_at"] or _agreed({x.settled_at for x in lines}),
            notes=(notes or None) if isinstance(notes, str) else None,
            lines=lines,
            extra=extra,
        )


def order_money(order: Mapping[str, Any], raw: Mapping[str, Any]) -> Money:
    """The Money of a validated `payload.order` (order, page and payment-link events)."""
    return Money.of(order, raw, _ORDER_FIELDS)


def _agreed(values: set[_T | None]) -> _T | None:
    return next(iter(values)) if len(values) == 1 else None
