"""The student events reach the reference ERP through the app's student sync, and only while
STUDENT_SYNC names it."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command

import jodo_webhooks
from jodo_webhooks.models import InboundEvent
from students.models import Student

from .factories import EnvelopeFactory
from .helpers import deliver_event, load_fixture

pytestmark = pytest.mark.django_db


def test_old_student_event_changes_no_student(deliver):
    """The documented example dates from 2022: recorded, but never applied to the ERP."""
    response = deliver(load_fixture("masterdata.student.registered.json"))
    assert response.status_code == 200, response.content
    event = InboundEvent.objects.get()
    assert event.status == InboundEvent.Status.SKIPPED
    assert event.status_reason
    assert Student.objects.count() == 0


def test_jodo_status_lists_the_student_sync_for_the_student_events():
    out = StringIO()
    call_command("jodo_status", stdout=out)
    listing = out.getvalue().split("Event types with receivers")[1]
    for event_type in jodo_webhooks.STUDENT_EVENT_TYPES:
        assert f"{event_type:<40} jodo_webhooks.student_sync.apply_configured_sync" in listing


def test_the_student_events_are_ignored_without_a_student_sync(deliver, settings):
    settings.JODO_WEBHOOKS = {**settings.JODO_WEBHOOKS, "STUDENT_SYNC": None}
    assert deliver_event(deliver, EnvelopeFactory()).status == "ignored"
    assert not Student.objects.exists()
