"""One entry point for every documented event: `parse_event` returns the typed object of the
event's family (see the table in docs/jodo-contract.md)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from . import event_types as codes
from . import product_payloads as product
from .exceptions import UnknownEventType
from .payment_payload import PAYMENT_EVENT_TYPES, PaymentData, parse_payment_event
from .student_payload import StudentData, parse_student_event

if TYPE_CHECKING:
    from .models import InboundEvent

EventData = (
    StudentData
    | PaymentData
    | product.SubscriptionData
    | product.MandateData
    | product.LoanData
    | product.EmiData
    | product.PaymentLinkExpiry
)

_FAMILIES: tuple[tuple[frozenset[str], Callable[[InboundEvent], EventData]], ...] = (
    (codes.STUDENT_EVENT_TYPES, parse_student_event),
    (PAYMENT_EVENT_TYPES, parse_payment_event),
    (codes.FLEX_SUBSCRIPTION_EVENT_TYPES, product.parse_subscription_event),
    (codes.FLEX_MANDATE_EVENT_TYPES, product.parse_mandate_event),
    (codes.CRED_LOAN_EVENT_TYPES, product.parse_loan_event),
    (frozenset({codes.CRED_EMI_DEBITED}), product.parse_emi_event),
    (frozenset({codes.PAYMENT_LINK_PAYMENT_EXPIRED}), product.parse_payment_link_expiry),
)
PARSERS: dict[str, Callable[[InboundEvent], EventData]] = {
    code: parser for event_types, parser in _FAMILIES for code in event_types
}


def parse_event(event: InboundEvent) -> EventData:
    """The typed object for any documented event code; raises InvalidPayload,
    UnsupportedVersion, or UnknownEventType for a code Jodo does not document."""
    try:
        parser = PARSERS[event.event_type]
    except KeyError:
        raise UnknownEventType(
            f"{event.event_type!r} is not a documented Jodo event code; see DOCUMENTED_EVENT_TYPES."
        ) from None
    return parser(event)
