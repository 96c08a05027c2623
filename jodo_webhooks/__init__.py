"""Receive Jodo's webhooks in a Django project: the public API.

The names in `__all__` are kept stable across minor versions, as are the few modules and names
that docs/public-api.md lists besides them (the models, `processing.process_event`, the admin
classes, `operations`, ...). Everything else in the package is internal.
"""

from __future__ import annotations

import warnings

from .event_types import (
    STUDENT_ACTIVATED,
    STUDENT_DROPPED,
    STUDENT_EVENT_TYPES,
    STUDENT_REGISTERED,
)
from .exceptions import InvalidPayload, SkipEvent, StudentConflict, UnsupportedVersion
from .fields import ExactCharField
from .signals import disconnect, event_received, receiver, receivers_by_event_type
from .student_payload import StudentData, parse_student_event
from .student_sync import PROFILE_FIELDS, Notes, StudentStatus, StudentSync

__version__ = "0.2.0"

__all__ = [
    "PROFILE_FIELDS",
    "STUDENT_ACTIVATED",
    "STUDENT_DROPPED",
    "STUDENT_EVENT_TYPES",
    "STUDENT_REGISTERED",
    "ExactCharField",
    "InvalidPayload",
    "Notes",
    "SkipEvent",
    "StudentConflict",
    "StudentData",
    "StudentStatus",
    "StudentSync",
    "UnsupportedVersion",
    "__version__",
    "disconnect",
    "event_received",
    "parse_student_event",
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
