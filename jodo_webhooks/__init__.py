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
    SkipEvent,
    StudentConflict,
    UnknownEventType,
    UnsupportedVersion,
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
from .signals import disconnect, event_received, receiver, receivers_by_event_type
from .student_payload import StudentData, parse_student_event
from .student_ref import StudentRef
from .student_sync import PROFILE_FIELDS, Notes, Status, StudentSync

__version__ = "0.2.0"

__all__ = [
    "PAYMENT_EVENT_TYPES",
    "PROFILE_FIELDS",
    "STUDENT_ACTIVATED",
    "STUDENT_DROPPED",
    "STUDENT_EVENT_TYPES",
    "STUDENT_REGISTERED",
    "ExactCharField",
    "InvalidPayload",
    "Notes",
    "PaymentData",
    "PaymentKind",
    "PaymentLine",
    "PaymentProduct",
    "SkipEvent",
    "Status",
    "StudentConflict",
    "StudentData",
    "StudentRef",
    "StudentSync",
    "UnknownEventType",
    "UnsupportedVersion",
    "__version__",
    "disconnect",
    "event_received",
    "parse_payment_event",
    "parse_student_event",
    "receiver",
    "receivers_by_event_type",
]
