"""Receive Jodo's webhooks in a Django project: the public API.

The names in `__all__` are kept stable across minor versions, as are the few names outside
this module that docs/public-api.md lists besides them (the models, `processing.process_event`,
`tasks.process_event_task`, the admin classes, `operations.dismiss_events` and
`unlink_students`, the exception reporter filter, the URLs, settings keys, check ids and metric
names). `Status`, the old name of `StudentStatus`, still imports with a DeprecationWarning until
0.3.0. Everything else in the package is internal.
"""

from __future__ import annotations

import warnings

from .event_payloads import EventData, parse_event
from .event_types import (
    CRED_EMI_DEBITED,
    CRED_EVENT_TYPES,
    CRED_LOAN_AGREEMENT_SIGNED,
    CRED_LOAN_APPLICATION_EXPIRED,
    CRED_LOAN_APPLICATION_FILLED,
    CRED_LOAN_APPLICATION_STARTED,
    CRED_LOAN_CANCELED,
    CRED_LOAN_DISBURSED,
    CRED_LOAN_EVENT_TYPES,
    CRED_LOAN_FINAL_APPROVED,
    CRED_LOAN_REJECTED,
    DIRECT_PAYMENT_ADDED,
    DIRECT_PAYMENT_CANCELLED,
    DIRECT_PAYMENT_EVENT_TYPES,
    DIRECT_PAYMENT_UPDATED,
    DOCUMENTED_EVENT_TYPES,
    FLEX_DOWNPAYMENT_DEBITED,
    FLEX_DOWNPAYMENT_SETTLED,
    FLEX_INSTALMENT_BOUNCED,
    FLEX_INSTALMENT_DEBITED,
    FLEX_INSTALMENT_SETTLED,
    FLEX_MANDATE_CANCELLED,
    FLEX_MANDATE_EVENT_TYPES,
    FLEX_MANDATE_EXPIRED,
    FLEX_PAYMENT_EVENT_TYPES,
    FLEX_SUBSCRIPTION_ACTIVE,
    FLEX_SUBSCRIPTION_CANCELLED,
    FLEX_SUBSCRIPTION_CLOSED,
    FLEX_SUBSCRIPTION_EVENT_TYPES,
    FLEX_SUBSCRIPTION_SETUP,
    FLEX_SUBSCRIPTION_UPDATED,
    ORDER_PAYMENT_DEBITED,
    ORDER_PAYMENT_SETTLED,
    PAGE_PAYMENT_DEBITED,
    PAGE_PAYMENT_SETTLED,
    PAY_EVENT_TYPES,
    PAY_PAYMENT_DEBITED,
    PAY_PAYMENT_SETTLED,
    PAYMENT_LINK_PAYMENT_DEBITED,
    PAYMENT_LINK_PAYMENT_EXPIRED,
    PAYMENT_LINK_PAYMENT_SETTLED,
    STUDENT_ACTIVATED,
    STUDENT_DROPPED,
    STUDENT_EVENT_TYPES,
    STUDENT_REGISTERED,
)
from .exceptions import (
    InvalidPayload,
    PaymentConflict,
    SkipEvent,
    StudentConflict,
    UnknownEventType,
    UnsupportedVersion,
    WaitForStudent,
)
from .fields import ExactCharField
from .payment_payload import (
    PAYMENT_EVENT_TYPES,
    PaymentData,
    PaymentKind,
    PaymentLine,
    PaymentProduct,
    parse_payment_event,
)
from .payment_sync import (
    LINE_FIELDS,
    PAYMENT_FIELDS,
    SYNCED_PAYMENT_EVENT_TYPES,
    Amount,
    PaymentLines,
    PaymentStage,
    PaymentState,
    PaymentSync,
)
from .product_payloads import (
    Disbursement,
    EmiData,
    LoanData,
    MandateData,
    PaymentLinkExpiry,
    ScheduledInstalment,
    SubscriptionData,
    parse_emi_event,
    parse_loan_event,
    parse_mandate_event,
    parse_payment_link_expiry,
    parse_subscription_event,
)
from .signals import disconnect, event_received, receiver, receivers_by_event_type
from .student_payload import StudentData, parse_student_event
from .student_ref import StudentRef
from .student_sync import PROFILE_FIELDS, Notes, StudentStatus, StudentSync

__version__ = "0.2.0"

__all__ = [
    "CRED_EMI_DEBITED",
    "CRED_EVENT_TYPES",
    "CRED_LOAN_AGREEMENT_SIGNED",
    "CRED_LOAN_APPLICATION_EXPIRED",
    "CRED_LOAN_APPLICATION_FILLED",
    "CRED_LOAN_APPLICATION_STARTED",
    "CRED_LOAN_CANCELED",
    "CRED_LOAN_DISBURSED",
    "CRED_LOAN_EVENT_TYPES",
    "CRED_LOAN_FINAL_APPROVED",
    "CRED_LOAN_REJECTED",
    "DIRECT_PAYMENT_ADDED",
    "DIRECT_PAYMENT_CANCELLED",
    "DIRECT_PAYMENT_EVENT_TYPES",
    "DIRECT_PAYMENT_UPDATED",
    "DOCUMENTED_EVENT_TYPES",
    "FLEX_DOWNPAYMENT_DEBITED",
    "FLEX_DOWNPAYMENT_SETTLED",
    "FLEX_INSTALMENT_BOUNCED",
    "FLEX_INSTALMENT_DEBITED",
    "FLEX_INSTALMENT_SETTLED",
    "FLEX_MANDATE_CANCELLED",
    "FLEX_MANDATE_EVENT_TYPES",
    "FLEX_MANDATE_EXPIRED",
    "FLEX_PAYMENT_EVENT_TYPES",
    "FLEX_SUBSCRIPTION_ACTIVE",
    "FLEX_SUBSCRIPTION_CANCELLED",
    "FLEX_SUBSCRIPTION_CLOSED",
    "FLEX_SUBSCRIPTION_EVENT_TYPES",
    "FLEX_SUBSCRIPTION_SETUP",
    "FLEX_SUBSCRIPTION_UPDATED",
    "LINE_FIELDS",
    "ORDER_PAYMENT_DEBITED",
    "ORDER_PAYMENT_SETTLED",
    "PAGE_PAYMENT_DEBITED",
    "PAGE_PAYMENT_SETTLED",
    "PAYMENT_EVENT_TYPES",
    "PAYMENT_FIELDS",
    "PAYMENT_LINK_PAYMENT_DEBITED",
    "PAYMENT_LINK_PAYMENT_EXPIRED",
    "PAYMENT_LINK_PAYMENT_SETTLED",
    "PAY_EVENT_TYPES",
    "PAY_PAYMENT_DEBITED",
    "PAY_PAYMENT_SETTLED",
    "PROFILE_FIELDS",
    "STUDENT_ACTIVATED",
    "STUDENT_DROPPED",
    "STUDENT_EVENT_TYPES",
    "STUDENT_REGISTERED",
    "SYNCED_PAYMENT_EVENT_TYPES",
    "Amount",
    "Disbursement",
    "EmiData",
    "EventData",
    "ExactCharField",
    "InvalidPayload",
    "LoanData",
    "MandateData",
    "Notes",
    "PaymentConflict",
    "PaymentData",
    "PaymentKind",
    "PaymentLine",
    "PaymentLines",
    "PaymentLinkExpiry",
    "PaymentProduct",
    "PaymentStage",
    "PaymentState",
    "PaymentSync",
    "ScheduledInstalment",
    "SkipEvent",
    "StudentConflict",
    "StudentData",
    "StudentRef",
    "StudentStatus",
    "StudentSync",
    "SubscriptionData",
    "UnknownEventType",
    "UnsupportedVersion",
    "WaitForStudent",
    "__version__",
    "disconnect",
    "event_received",
    "parse_emi_event",
    "parse_event",
    "parse_loan_event",
    "parse_mandate_event",
    "parse_payment_event",
    "parse_payment_link_expiry",
    "parse_student_event",
    "parse_subscription_event",
    "receiver",
    "receivers_by_event_type",
]


def __getattr__(name: str) -> type[StudentStatus]:
    # Deprecated names: importable, with a warning, for one more release (see CHANGELOG).
    if name == "Status":
        warnings.warn(
            "jodo_webhooks.Status is deprecated; use jodo_webhooks.StudentStatus.",
            DeprecationWarning,
            stacklevel=2,
        )
        return StudentStatus
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
