"""Jodo's product events that are not a payment to book: Flex subscriptions and mandates, Cred
loans and EMIs, an expired payment link. Each is validated into a typed frozen dataclass, with
the conventions of `PaymentData`: ids as `str`, amounts as exact `Decimal`s, date-times aware,
dates as `date`, fields not mapped kept in `extra` and the whole payload in `payload`."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any, TypedDict

from rest_framework import serializers

from . import event_types as codes
from .exceptions import UnknownEventType
from .payload_fields import (
    AmountField,
    JodoDateField,
    JodoDateTimeField,
    JodoIdField,
    check_version,
    exact_payload,
    optional,
    optional_list,
    optional_text,
    unmapped,
    validate,
)
from .payment_payload import (
    OrderPayloadSerializer,
    PaymentLine,
    SubscriptionRefSerializer,
    order_money,
)
from .student_ref import StudentLinkedPayloadSerializer, StudentRef, student_ref

if TYPE_CHECKING:
    from .models import InboundEvent


# --- Flex subscriptions ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ScheduledInstalment:
    """One row of a Flex payment schedule."""

    due_date: date
    amount: Decimal | None  # not on the visible part of Jodo's pages; read when sent
    extra: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class SubscriptionData:
    """flex.subscription.setup / active / updated / cancelled / closed."""

    event_type: str
    occurred_at: datetime
    student: StudentRef | None
    subscription_id: str | None  # an integer on some pages, "sub_88001" on others
    status: str | None
    # None when the event carries no schedule; () when it carries an empty one.
    payment_schedule: tuple[ScheduledInstalment, ...] | None
    extra: Mapping[str, Any]  # subscription fields not mapped above, as sent
    payload: Mapping[str, Any] = field(default_factory=dict)


class ScheduledInstalmentSerializer(serializers.Serializer[Any]):
    due_date = JodoDateField()
    amount = optional(AmountField)


class SubscriptionSerializer(SubscriptionRefSerializer):
    payment_schedule = optional_list(ScheduledInstalmentSerializer())


class SubscriptionPayloadSerializer(StudentLinkedPayloadSerializer):
    subscription = SubscriptionSerializer(required=False, allow_null=True, default=None)
    payment_schedule = optional_list(ScheduledInstalmentSerializer())


_SUBSCRIPTION_PAYLOAD = SubscriptionPayloadSerializer()
_SUBSCRIPTION = SubscriptionSerializer()
_INSTALMENT = ScheduledInstalmentSerializer()


def parse_subscription_event(event: InboundEvent) -> SubscriptionData:
    payload, data = _validated(event, codes.FLEX_SUBSCRIPTION_EVENT_TYPES, _SUBSCRIPTION_PAYLOAD)
    subscription = data["subscription"] or {}
    raw_subscription = payload.get("subscription") or {}
    if data["payment_schedule"] is not None:
        rows, raw_rows = data["payment_schedule"], payload["payment_schedule"]
    else:
        rows, raw_rows = (
            subscription.get("payment_schedule"),
            raw_subscription.get("payment_schedule"),
        )
    return SubscriptionData(
        **_envelope(event, payload),
        student=student_ref(data, payload, required=False),
        subscription_id=subscription.get("id"),
        status=subscription.get("status") or None,
        payment_schedule=None
        if rows is None
        else tuple(
            ScheduledInstalment(row["due_date"], row["amount"], unmapped(raw, _INSTALMENT))
            for row, raw in zip(rows, raw_rows, strict=True)
        ),
        extra=unmapped(raw_subscription, _SUBSCRIPTION),
    )


# --- Flex mandates --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class MandateData:
    """flex.mandate.cancelled / expired. Jodo: do not close the subscription on these alone."""

    event_type: str
    occurred_at: datetime
    student: StudentRef | None
    subscription_id: str | None
    subscription_status: str | None
    mandate_id: str
    status: str | None  # normally "cancelled" or "expired"
    npci_category_code: str | None  # cancelled: account_not_active, customer_revoked, ...
    end_date: date | None  # expired
    extra: Mapping[str, Any]  # mandate fields not mapped above, as sent
    payload: Mapping[str, Any] = field(default_factory=dict)


class MandateSerializer(serializers.Serializer[Any]):
    id = JodoIdField()
    status = optional_text(100)
    npci_category_code = optional_text(100)
    end_date = optional(JodoDateField)


class MandatePayloadSerializer(StudentLinkedPayloadSerializer):
    subscription = SubscriptionRefSerializer(required=False, allow_null=True, default=None)
    mandate = MandateSerializer()


_MANDATE_PAYLOAD = MandatePayloadSerializer()
_MANDATE = MandateSerializer()


def parse_mandate_event(event: InboundEvent) -> MandateData:
    payload, data = _validated(event, codes.FLEX_MANDATE_EVENT_TYPES, _MANDATE_PAYLOAD)
    subscription, mandate = data["subscription"] or {}, data["mandate"]
    return MandateData(
        **_envelope(event, payload),
        student=student_ref(data, payload, required=False),
        subscription_id=subscription.get("id"),
        subscription_status=subscription.get("status") or None,
        mandate_id=mandate["id"],
        status=mandate["status"] or None,
        npci_category_code=mandate["npci_category_code"] or None,
        end_date=mandate["end_date"],
        extra=unmapped(payload["mandate"], _MANDATE),
    )


# --- Cred loans and EMIs --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Disbursement:
    """A loan payout to the institute."""

    id: str
    date: date | None
    amount: Decimal | None  # `amount` or `disbursed_amount`, when sent
    disbursed_at: datetime | None
    extra: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class LoanData:
    """cred.loan.*: an education loan application through its lifecycle."""

    event_type: str
    occurred_at: datetime
    student: StudentRef | None
    application_id: str  # an integer on the loan pages, a string on the EMI page
    status: str | None
    amount: Decimal | None  # the loan amount, from final_approved on
    agreement_signed_at: datetime | None
    # agreement_signed sends `disbursements` (an array), disbursed one `disbursement`: both here.
    disbursements: tuple[Disbursement, ...]
    extra: Mapping[str, Any]  # application fields not mapped above, as sent
    payload: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class EmiData:
    """cred.emi.debited: an EMI paid on a loan. Jodo: do not move the loan's status on it."""

    event_type: str
    occurred_at: datetime
    student: StudentRef | None
    application_id: str
    application_status: str | None
    loan_amount: Decimal | None
    agreement_signed_at: datetime | None
    payment_id: str
    amount: Decimal
    due_date: date | None
    paid_at: datetime | None
    extra: Mapping[str, Any]  # payment fields not mapped above, as sent
    payload: Mapping[str, Any] = field(default_factory=dict)


class ApplicationSerializer(serializers.Serializer[Any]):
    id = JodoIdField()
    status = optional_text(100)
    amount = optional(AmountField)
    agreement_signed_at = optional(JodoDateTimeField)


class DisbursementSerializer(serializers.Serializer[Any]):
    id = JodoIdField()
    date = optional(JodoDateField)
    amount = optional(AmountField)
    disbursed_amount = optional(AmountField)
    disbursed_at = optional(JodoDateTimeField)


class LoanPayloadSerializer(StudentLinkedPayloadSerializer):
    application = ApplicationSerializer()
    disbursements = optional_list(DisbursementSerializer())
    disbursement = DisbursementSerializer(required=False, allow_null=True, default=None)


class EmiPaymentSerializer(serializers.Serializer[Any]):
    id = JodoIdField()
    amount = AmountField()
    due_date = optional(JodoDateField)
    paid_at = optional(JodoDateTimeField)


class EmiPayloadSerializer(StudentLinkedPayloadSerializer):
    application = ApplicationSerializer()
    payment = EmiPaymentSerializer()


_LOAN_PAYLOAD = LoanPayloadSerializer()
_APPLICATION = ApplicationSerializer()
_DISBURSEMENT = DisbursementSerializer()
_EMI_PAYLOAD = EmiPayloadSerializer()
_EMI_PAYMENT = EmiPaymentSerializer()


def parse_loan_event(event: InboundEvent) -> LoanData:
    payload, data = _validated(event, codes.CRED_LOAN_EVENT_TYPES, _LOAN_PAYLOAD)
    application = data["application"]
    validated = list(data["disbursements"] or [])
    raw = list(payload.get("disbursements") or [])
    if data["disbursement"] is not None:
        validated.append(data["disbursement"])
        raw.append(payload["disbursement"])
    return LoanData(
        **_envelope(event, payload),
        student=student_ref(data, payload, required=False),
        application_id=application["id"],
        status=application["status"] or None,
        amount=application["amount"],
        agreement_signed_at=application["agreement_signed_at"],
        disbursements=tuple(
            Disbursement(
                id=row["id"],
                date=row["date"],
                amount=row["amount"] if row["amount"] is not None else row["disbursed_amount"],
                disbursed_at=row["disbursed_at"],
                extra=unmapped(raw_row, _DISBURSEMENT),
            )
            for row, raw_row in zip(validated, raw, strict=True)
        ),
        extra=unmapped(payload["application"], _APPLICATION),
    )


def parse_emi_event(event: InboundEvent) -> EmiData:
    payload, data = _validated(event, frozenset({codes.CRED_EMI_DEBITED}), _EMI_PAYLOAD)
    application, payment = data["application"], data["payment"]
    return EmiData(
        **_envelope(event, payload),
        student=student_ref(data, payload, required=False),
        application_id=application["id"],
        application_status=application["status"] or None,
        loan_amount=application["amount"],
        agreement_signed_at=application["agreement_signed_at"],
        payment_id=payment["id"],
        amount=payment["amount"],
        due_date=payment["due_date"],
        paid_at=payment["paid_at"],
        extra=unmapped(payload["payment"], _EMI_PAYMENT),
    )


# --- Pay: an expired payment link -----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PaymentLinkExpiry:
    """payment_link.payment.expired: the link was not paid; no money moved."""

    event_type: str
    occurred_at: datetime
    order_id: str
    status: str | None  # normally "expired"
    amount: Decimal | None  # what the link asked for: the sum of its lines
    lines: tuple[PaymentLine, ...]
    extra: Mapping[str, Any]  # order fields not mapped above (payer, notes, ...), as sent
    payload: Mapping[str, Any] = field(default_factory=dict)


# A link's order, as on the link's debited event.
_LINK_PAYLOAD = OrderPayloadSerializer()


def parse_payment_link_expiry(event: InboundEvent) -> PaymentLinkExpiry:
    payload, data = _validated(
        event, frozenset({codes.PAYMENT_LINK_PAYMENT_EXPIRED}), _LINK_PAYLOAD
    )
    money = order_money(data["order"], payload["order"])
    return PaymentLinkExpiry(
        **_envelope(event, payload),
        order_id=data["order_id"],
        status=money.fields["status"] or None,
        amount=money.amount,
        lines=money.lines,
        extra=money.extra,
    )


class _Envelope(TypedDict):
    """The fields every dataclass here takes from the event itself."""

    event_type: str
    occurred_at: datetime
    payload: Mapping[str, Any]


def _envelope(event: InboundEvent, payload: Mapping[str, Any]) -> _Envelope:
    return _Envelope(event_type=event.event_type, occurred_at=event.occurred_at, payload=payload)


def _validated(
    event: InboundEvent, accepted: frozenset[str], serializer: serializers.Serializer[Any]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The exact payload of an event whose code is one of `accepted` and whose version is 1.x,
    and what `serializer` makes of it."""
    if event.event_type not in accepted:
        raise UnknownEventType(f"{event.event_type!r} is not one of {sorted(accepted)}.")
    check_version(event)
    payload = exact_payload(event)
    return payload, validate(serializer, payload)
