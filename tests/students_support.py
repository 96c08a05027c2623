"""Small helpers shared by the students tests: delivering an event and reading back the outcome."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from django.forms.models import model_to_dict

from jodo_webhooks.models import InboundEvent
from students.models import Student, StudentNote


def timestamp(seconds_ago: int = 0) -> int:
    """A Jodo `timestamp` (Unix seconds), `seconds_ago` before now."""
    return int(time.time()) - seconds_ago


def deliver_event(deliver: Callable[..., Any], body: dict[str, Any] | bytes) -> InboundEvent:
    """Deliver `body` through the signed endpoint; the delivery must be accepted (2xx)."""
    response = deliver(body)
    assert response.status_code == 200, response.content
    return InboundEvent.objects.get(event_id=response.json()["event_id"])


def notes_of(student: Student) -> dict[str, tuple[str, str]]:
    """The student's notes as {key: (value, source)}."""
    return {note.key: (note.value, note.source) for note in student.notes.all()}


def database_state() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Every Student and StudentNote row, to show that an event changed nothing."""
    students = [model_to_dict(s) | {"updated_at": s.updated_at} for s in Student.objects.all()]
    notes = [
        model_to_dict(n) | {"updated_at": n.updated_at}
        for n in StudentNote.objects.order_by("student_id", "key")
    ]
    return students, notes
