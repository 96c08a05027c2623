"""Exceptions an ERP's receivers raise or catch. All are part of the public API."""

from __future__ import annotations

import json
from collections.abc import Callable
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


class PaymentConflict(Exception):
    """A payment event names records that cannot be reconciled (the payment's student differs,
    or its ids point at two students); nothing is changed. `records` names them, as
    StudentConflict's do: stored with the failure, linked in the admin."""

    def __init__(self, message: str, *, records: RecordRefs = ()) -> None:
        super().__init__(message)
        self.records = records


class WaitForStudent(Exception):
    """Raised by a receiver when the event's student is not known yet: the event is recorded
    `waiting` (its work rolled back) and processed again once the student is applied.

    `recheck()` is called after `waiting` has committed: true when the student has appeared
    meanwhile, in which case the event is processed again at once.
    """

    def __init__(self, reason: str, *, recheck: Callable[[], bool]) -> None:
        self.reason = reason
        self.recheck = recheck
        super().__init__(reason)
