"""The student block of Jodo's product events (payments, Flex, Cred): the ids that link money
and plans to a student, whichever of Jodo's page shapes (M, F or C) the event uses."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from rest_framework import serializers

from .exceptions import InvalidPayload
from .payload_fields import optional_id, optional_text, unmapped


@dataclass(frozen=True, slots=True)
class StudentRef:
    """The ids that link an event to a student; any may be None."""

    jodo_student_id: str | None
    identifier: str | None
    custom_identifier: str | None
    collector_code: str | None
    # The student block's other fields (grade, academic years, contacts, fullname, notes), as sent.
    extra: Mapping[str, Any] = field(default_factory=dict)

    @property
    def names_a_student(self) -> bool:
        return bool(self.jodo_student_id or self.identifier or self.custom_identifier)


class StudentRefSerializer(serializers.Serializer[Any]):
    # The ERP's ids: strings on every page, integers tolerated.
    identifier = optional_id()
    custom_identifier = optional_id()
    collector_code = optional_text(100)


class StudentLinkedPayloadSerializer(serializers.Serializer[Any]):
    """The ids at the top of a product event's payload."""

    jodo_student_id = optional_id()
    student = StudentRefSerializer(required=False, allow_null=True, default=None)


STUDENT_REF = StudentRefSerializer()


def student_ref(
    validated: Mapping[str, Any], payload: Mapping[str, Any], *, required: bool
) -> StudentRef | None:
    """The StudentRef of a validated payload (`jodo_student_id`, `student`); None when the payload
    names no student. `required`: then a payload naming none fails, at `payload.student`."""
    block = validated.get("student") or {}
    ref = StudentRef(
        jodo_student_id=validated.get("jodo_student_id"),
        identifier=block.get("identifier"),
        custom_identifier=block.get("custom_identifier"),
        collector_code=block.get("collector_code") or None,
        extra=unmapped(payload.get("student"), STUDENT_REF),
    )
    if ref.names_a_student:
        return ref
    if required:
        raise InvalidPayload(
            {
                "payload.student": [
                    "Names no student: one of payload.jodo_student_id, student.identifier or "
                    "student.custom_identifier is required."
                ]
            }
        )
    return None
