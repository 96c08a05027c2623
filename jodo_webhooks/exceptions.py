"""Exceptions an ERP's receivers raise or catch. All are part of the public API."""

from __future__ import annotations

import json
from typing import Any


class SkipEvent(Exception):
    """Raised by a receiver to leave an event deliberately unapplied (e.g. stale).

    The event is marked `skipped` with `reason`; every receiver's work is rolled back.
    """

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


class InvalidPayload(ValueError):
    """The event's payload breaks Jodo's contract; `errors` holds DRF's field errors."""

    def __init__(self, errors: Any) -> None:
        self.errors = errors
        super().__init__(f"Invalid payload: {json.dumps(errors, sort_keys=True)}")


class UnsupportedVersion(ValueError):
    """The event's `version` is not one this app understands (1.x); reprocess after upgrading."""


# The records an error is about, as data: (model label such as "students.student", pk) pairs.
RecordRefs = tuple[tuple[str, Any], ...]


class StudentConflict(Exception):
    """The event's ids point at student records that cannot be reconciled; nothing is changed.

    `records` names those records as (model label, pk) pairs. Processing stores them with the
    failure (`InboundEvent.error_records`), and the admin links each to its page. Any exception
    a receiver raises may carry a `records` attribute of this shape to the same effect.
    """

    def __init__(self, message: str, *, records: RecordRefs = ()) -> None:
        super().__init__(message)
        self.records = records


class UnknownEventType(ValueError):
    """The event's code is not one this parser (or any typed parser) knows."""
