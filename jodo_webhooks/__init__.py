"""Receive Jodo's webhooks in a Django project: the public API.

Everything importable from here is kept stable across minor versions. The rest of the package
(modules and names not listed in `__all__`) is internal.
"""

from .event_types import (
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
    UnsupportedVersion,
    WaitForStudent,
)
from .fields import ExactCharField
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
from .signals import disconnect, event_received, receiver, receivers_by_event_type
from .student_payload import StudentData, parse_student_event
from .student_sync import PROFILE_FIELDS, Notes, Status, StudentSync

__version__ = "0.2.0"

__all__ = [
    "LINE_FIELDS",
    "PAYMENT_FIELDS",
    "PROFILE_FIELDS",
    "STUDENT_ACTIVATED",
    "STUDENT_DROPPED",
    "STUDENT_EVENT_TYPES",
    "STUDENT_REGISTERED",
    "SYNCED_PAYMENT_EVENT_TYPES",
    "Amount",
    "ExactCharField",
    "InvalidPayload",
    "Notes",
    "PaymentConflict",
    "PaymentLines",
    "PaymentStage",
    "PaymentState",
    "PaymentSync",
    "SkipEvent",
    "Status",
    "StudentConflict",
    "StudentData",
    "StudentSync",
    "UnsupportedVersion",
    "WaitForStudent",
    "__version__",
    "disconnect",
    "event_received",
    "parse_student_event",
    "receiver",
    "receivers_by_event_type",
]
