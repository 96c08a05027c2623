"""factory-boy factories: ERP rows, recorded events, and Jodo delivery bodies with fresh ids."""

from __future__ import annotations

import time
import uuid

import factory
from django.utils import timezone

from jodo_webhooks.models import InboundEvent


class NoteFactory(factory.DictFactory):
    key = factory.Sequence(lambda n: f"note_{n}")
    value = factory.Sequence(lambda n: f"value {n}")


class GradeFactory(factory.DictFactory):
    code = "M1BLUE"
    name = "Montessori 1"


class StudentBodyFactory(factory.DictFactory):
    """`payload.student` of a student master-data event."""

    identifier = factory.Sequence(lambda n: f"S{n:05d}")
    custom_identifier = factory.LazyAttribute(lambda o: f"cust_{o.identifier}")
    collector_code = None
    grade = factory.SubFactory(GradeFactory)
    academic_year_start = 2026
    academic_year_end = 2027
    primary_contact_number = "9876543210"
    primary_contact_email = factory.LazyAttribute(lambda o: f"parent.{o.identifier}@example.com")
    notes = factory.LazyFunction(lambda: [{"key": "registration_number", "value": "REG1"}])


class StudentPayloadFactory(factory.DictFactory):
    jodo_student_id = factory.LazyAttribute(lambda o: f"student_{o.student['identifier']}")
    student = factory.SubFactory(StudentBodyFactory)


class EnvelopeFactory(factory.DictFactory):
    """A valid Jodo delivery body (as a dict) with a fresh event_id and a current timestamp."""

    event = "masterdata.student.registered"
    event_id = factory.LazyFunction(lambda: str(uuid.uuid4()))
    version = "1.0"
    timestamp = factory.LazyFunction(lambda: int(time.time()))
    payload = factory.SubFactory(StudentPayloadFactory)


class InboundEventFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = InboundEvent

    event_id = factory.LazyFunction(lambda: str(uuid.uuid4()))
    event_type = "masterdata.student.registered"
    version = "1.0"
    occurred_at = factory.LazyFunction(timezone.now)
    payload = factory.LazyFunction(lambda: StudentPayloadFactory())
    raw_body = "{}"
    payload_digest = "0" * 64
