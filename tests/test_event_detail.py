"""The event page: the whole id, the traceback and the raw body as they are, no text twice, and
links to the ERP's students an error names."""

from __future__ import annotations

from typing import Any

import pytest
from django.urls import reverse
from django.utils.html import escape

from jodo_webhooks.models import InboundEvent

from .factories import EnvelopeFactory, InboundEventFactory
from .students_support import StudentFactory, deliver_event

pytestmark = pytest.mark.django_db

Status = InboundEvent.Status


def page(client: Any, event: InboundEvent) -> str:
    response = client.get(reverse("admin:jodo_webhooks_inboundevent_change", args=[event.pk]))
    assert response.status_code == 200
    return response.content.decode()


def field_names(client: Any, event: InboundEvent) -> list[str]:
    response = client.get(reverse("admin:jodo_webhooks_inboundevent_change", args=[event.pk]))
    return [
        field.field["name"]
        for fieldset in response.context["adminform"]
        for line in fieldset
        for field in line
    ]


def test_raw_body_is_shown_as_received(admin_client, deliver):
    raw = (
        b'{\n  "event": "test.raw",\n\t"event_id": "raw-1",  "timestamp": %d,\n'
        % (EnvelopeFactory()["timestamp"])
    )
    raw += b'  "version": "1.0",\n  "payload": {"note": "two  spaces <b>"}\n}\n'
    event = deliver_event(deliver, raw)
    content = page(admin_client, event)
    assert f'<pre class="jodo-pre">{escape(raw.decode())}</pre>' in content


def test_traceback_is_whole_in_a_wrapping_block(admin_client):
    traceback = "Traceback (most recent call last):\n" + "  line\n" * 60 + "KeyError: 'last line'"
    event = InboundEventFactory(
        status=Status.FAILED, last_error="KeyError: 'last line'", last_error_traceback=traceback
    )
    content = page(admin_client, event)
    assert f'<pre class="jodo-pre">{escape(traceback)}</pre>' in content


def test_a_failures_reason_is_not_repeated(admin_client):
    error = "RuntimeError: the one and only message"
    failed = InboundEventFactory(status=Status.FAILED, last_error=error, status_reason=error)
    assert "status_reason" not in field_names(admin_client, failed)
    assert page(admin_client, failed).count("the one and only message") == 1

    skipped = InboundEventFactory(status=Status.SKIPPED, status_reason="stale: older")
    names = field_names(admin_client, skipped)
    assert "status_reason" in names
    assert "error" not in names
    assert "formatted_traceback" not in names


def test_dismissed_event_shows_why_and_its_error(admin_client):
    event = InboundEventFactory(
        status=Status.DISMISSED,
        status_reason="Dismissed by admin: bad data",
        last_error="ValueError: bad grade",
    )
    names = field_names(admin_client, event)
    assert {"status_reason", "error"} <= set(names)


def test_the_whole_event_id_is_on_the_page(admin_client):
    event = InboundEventFactory(event_id="0123456789abcdef-the-whole-id")
    assert "0123456789abcdef-the-whole-id" in page(admin_client, event)


def test_students_named_in_a_conflict_are_linked(admin_client, deliver):
    """Both records of "ids point at two students" are linked, from the error's data."""
    one = StudentFactory(identifier="1001", jodo_student_id="J-1")
    two = StudentFactory(identifier="1002")
    event = deliver_event(
        deliver,
        EnvelopeFactory(payload__jodo_student_id="J-1", payload__student__identifier="1002"),
    )
    assert event.status == Status.FAILED
    content = page(admin_client, event)
    assert escape(event.last_error) in content  # the message, unchanged
    for student in (one, two):
        url = reverse("admin:students_student_change", args=[student.pk])
        assert f'<a href="{url}">student {student.pk} ({student.identifier})</a>' in content


def test_a_receivers_error_with_records_links_them(admin_client, deliver, connect_receiver):
    """Any exception with `records` is linked the same way: the admin reads data, not prose."""
    student = StudentFactory(identifier="1001")

    class PaymentProblem(Exception):
        records = (
            ("students.student", student.pk),
            ("students.student", student.pk + 100),  # no longer there
            ("auth.nosuchmodel", 3),
        )

    def refuse(sender: object, **kwargs: object) -> None:
        raise PaymentProblem("the payment names a student")

    connect_receiver(refuse, "test.records")
    event = deliver_event(deliver, EnvelopeFactory(event="test.records"))
    assert event.error_records == [
        ["students.student", str(student.pk)],
        ["students.student", str(student.pk + 100)],
        ["auth.nosuchmodel", "3"],
    ]

    content = page(admin_client, event)
    url = reverse("admin:students_student_change", args=[student.pk])
    assert f'<a href="{url}">student {student.pk} (1001)</a>' in content
    assert f"student {student.pk + 100}, " in content  # a deleted record: named, not linked
    assert "auth.nosuchmodel 3" in content  # an unknown model: named, not linked


def test_the_error_text_is_never_parsed_for_links(admin_client):
    """A message that looks like a conflict's, without records, links nothing."""
    student = StudentFactory(identifier="1001")
    event = InboundEventFactory(
        status=Status.FAILED,
        last_error=f"StudentConflict: student {student.pk} (1001) and student 7 (<b>x</b>)",
    )
    content = page(admin_client, event)
    assert f"student {student.pk} (1001)" in content
    assert "/admin/students/student/" not in content.split('class="jodo-pre"')[1]
    assert "&lt;b&gt;x&lt;/b&gt;" in content
