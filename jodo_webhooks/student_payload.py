"""Jodo's student master-data payload: validation, and the typed `StudentData` it becomes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from rest_framework import serializers

from .envelope import StrictCharField, StrictIntegerField
from .exceptions import InvalidPayload
from .payload_fields import SUPPORTED_VERSION, JodoIdField, check_version

if TYPE_CHECKING:
    from .models import InboundEvent

__all__ = ["SUPPORTED_VERSION", "StudentData", "parse_student_event"]


class GradeSerializer(serializers.Serializer[dict[str, Any]]):
    code = StrictCharField(max_length=100, allow_blank=True, required=False, default="")
    name = StrictCharField(max_length=255, allow_blank=True, required=False, default="")


class NoteSerializer(serializers.Serializer[dict[str, Any]]):
    key = StrictCharField(max_length=255)
    value = StrictCharField(allow_blank=True, trim_whitespace=True)


class StudentSerializer(serializers.Serializer[dict[str, Any]]):
    identifier = StrictCharField(max_length=255)
    custom_identifier = StrictCharField(
        max_length=255, allow_null=True, allow_blank=True, required=False, default=None
    )
    collector_code = StrictCharField(
        max_length=100, allow_null=True, allow_blank=True, required=False, default=None
    )
    grade = GradeSerializer(required=False, allow_null=True, default=None)
    academic_year_start = StrictIntegerField(min_value=1900, max_value=9999)
    academic_year_end = StrictIntegerField(min_value=1900, max_value=9999)
    primary_contact_number = StrictCharField(
        max_length=32, allow_blank=True, allow_null=True, required=False, default=""
    )
    primary_contact_email = StrictCharField(
        max_length=254, allow_blank=True, allow_null=True, required=False, default=""
    )
    notes = NoteSerializer(many=True, required=False)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if attrs["academic_year_end"] < attrs["academic_year_start"]:
            raise serializers.ValidationError(
                {"academic_year_end": "Must not be before academic_year_start."}
            )
        return attrs


class StudentPayloadSerializer(serializers.Serializer[dict[str, Any]]):
    # A string on the masterdata pages, an integer on others: always a str here.
    jodo_student_id = JodoIdField(
        allow_null=True, required=False, default=None, blank_means_absent=False
    )
    student = StudentSerializer()


@dataclass(frozen=True, slots=True)
class StudentData:
    """A validated student master-data event, ready for an ERP to apply."""

    event_type: str
    occurred_at: datetime
    jodo_student_id: str | None
    identifier: str
    custom_identifier: str | None
    collector_code: str | None
    grade_code: str
    grade_name: str
    academic_year_start: int
    academic_year_end: int
    primary_contact_number: str
    primary_contact_email: str
    # Unique keys, in order; a key repeated in the event keeps its last value. None when the
    # event has no `notes` field at all (an empty list means "no notes").
    notes: dict[str, str] | None


# Shared, as the envelope's is: instantiating a serializer deep-copies its field tree.
_STUDENT_PAYLOAD = StudentPayloadSerializer()


def parse_student_event(event: InboundEvent) -> StudentData:
    """Validate a recorded student master-data event; raise InvalidPayload or UnsupportedVersion."""
    check_version(event, SUPPORTED_VERSION)
    try:
        data = _STUDENT_PAYLOAD.run_validation(event.payload)
    except serializers.ValidationError as exc:
        raise InvalidPayload(exc.detail) from exc
    student = data["student"]
    grade = student["grade"] or {}
    return StudentData(
        event_type=event.event_type,
        occurred_at=event.occurred_at,
        jodo_student_id=data["jodo_student_id"] or None,
        identifier=student["identifier"],
        custom_identifier=student["custom_identifier"] or None,
        collector_code=student["collector_code"] or None,
        grade_code=grade.get("code", ""),
        grade_name=grade.get("name", ""),
        academic_year_start=student["academic_year_start"],
        academic_year_end=student["academic_year_end"],
        primary_contact_number=student["primary_contact_number"] or "",
        primary_contact_email=student["primary_contact_email"] or "",
        notes=(
            {note["key"]: note["value"] for note in student["notes"]}
            if "notes" in student
            else None
        ),
    )
