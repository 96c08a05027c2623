"""The InboundEvent admin: the reprocess action, its permission, filters and the error details."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib import messages
from django.contrib.admin.models import CHANGE, LogEntry
from django.contrib.auth.models import Permission, User
from django.contrib.contenttypes.models import ContentType
from django.test import Client
from django.urls import reverse
from django.utils.html import escape

from jodo_webhooks.models import InboundEvent
from students.models import Student

from .factories import EnvelopeFactory, InboundEventFactory
from .students_support import deliver_event

pytestmark = pytest.mark.django_db

Status = InboundEvent.Status
CHANGELIST = reverse("admin:jodo_webhooks_inboundevent_changelist")


@pytest.fixture
def flaky(connect_receiver) -> dict[str, Any]:
    """A receiver for "test.flaky" that creates a Student, and raises while state["broken"]."""
    state: dict[str, Any] = {"broken": True}

    def receiver(sender: type, event: InboundEvent, event_type: str, **kwargs: Any) -> Any:
        if event_type != "test.flaky":
            return None
        Student.objects.create(identifier=f"flaky-{event.pk}-{event.attempts}")
        if state["broken"]:
            raise RuntimeError(f"receiver broke on {event.event_id}")
        return True

    connect_receiver(receiver, "test.flaky")
    return state


def failed_events(deliver: Any, count: int) -> list[InboundEvent]:
    events = [deliver_event(deliver, EnvelopeFactory(event="test.flaky")) for _ in range(count)]
    assert all(event.status == Status.FAILED for event in events)
    return events


def run_action(client: Client, events: list[InboundEvent]) -> Any:
    return client.post(
        CHANGELIST,
        {"action": "reprocess", "_selected_action": [event.pk for event in events]},
        follow=True,
    )


def shown_messages(response: Any) -> list[tuple[int, str]]:
    return [(message.level, message.message) for message in response.context["messages"]]


def staff_user(*codenames: str) -> User:
    user = User.objects.create_user("operator", password="pw", is_staff=True)
    content_type = ContentType.objects.get_for_model(InboundEvent)
    user.user_permissions.set(
        Permission.objects.filter(content_type=content_type, codename__in=codenames)
    )
    return user


def test_reprocess_action_reruns_fixed_failures(admin_client, admin_user, deliver, flaky):
    events = failed_events(deliver, 2)
    untouched = failed_events(deliver, 1)[0]
    assert not Student.objects.exists()

    flaky["broken"] = False
    response = run_action(admin_client, events)
    assert response.status_code == 200
    assert response.redirect_chain[-1][0].endswith(CHANGELIST)
    assert shown_messages(response) == [(messages.SUCCESS, "Reprocessed 2 event(s): 2 processed.")]
    for event in events:
        event.refresh_from_db()
        assert (event.status, event.attempts) == (Status.PROCESSED, 2)
        assert event.processed_at is not None
    untouched.refresh_from_db()
    assert (untouched.status, untouched.attempts) == (Status.FAILED, 1)
    assert Student.objects.count() == 2

    entries = LogEntry.objects.order_by("object_id")
    assert sorted(str(entry.object_id) for entry in entries) == sorted(str(e.pk) for e in events)
    for entry in entries:
        assert entry.user_id == admin_user.pk
        assert entry.action_flag == CHANGE
        assert entry.content_type == ContentType.objects.get_for_model(InboundEvent)
        assert entry.get_change_message() == "Reprocessed: processed."


def failure_message(event: InboundEvent) -> tuple[int, str]:
    """What the action says of one event that still fails: a link to it, and why."""
    url = reverse("admin:jodo_webhooks_inboundevent_change", args=[event.pk])
    return (
        messages.ERROR,
        f'<a href="{url}" title="{event.event_id}">{event.event_id[:8]}…</a> ({event.event_type}) '
        f"failed: RuntimeError: receiver broke on {event.event_id}",
    )


def test_reprocess_action_reports_remaining_failures_as_error(admin_client, deliver, flaky):
    events = failed_events(deliver, 2)
    response = run_action(admin_client, events)
    assert shown_messages(response) == [
        (messages.ERROR, "Reprocessed 2 event(s): 2 failed."),
        *(failure_message(event) for event in events),
    ]
    for event in events:
        event.refresh_from_db()
        assert (event.status, event.attempts) == (Status.FAILED, 2)
    assert not Student.objects.exists()
    assert LogEntry.objects.count() == 2


def test_reprocess_action_counts_mixed_outcomes(admin_client, deliver, flaky):
    failed = failed_events(deliver, 1)[0]
    ignored = deliver_event(deliver, EnvelopeFactory(event="test.nobody"))
    assert ignored.status == Status.IGNORED
    response = run_action(admin_client, [failed, ignored])
    assert shown_messages(response) == [
        (messages.ERROR, "Reprocessed 2 event(s): 1 failed, 1 ignored."),
        failure_message(failed),
    ]
    ignored.refresh_from_db()
    assert ignored.attempts == 2  # the action forces final events to run again


def test_staff_without_reprocess_permission_does_not_get_the_action(client, deliver, flaky):
    event = failed_events(deliver, 1)[0]
    flaky["broken"] = False
    client.force_login(staff_user("view_inboundevent"))

    response = client.get(CHANGELIST)
    assert response.status_code == 200
    assert response.context["action_form"] is None
    assert 'value="reprocess"' not in response.content.decode()

    response = run_action(client, [event])
    assert response.status_code == 200
    event.refresh_from_db()
    assert (event.status, event.attempts) == (Status.FAILED, 1)
    assert not LogEntry.objects.exists()
    assert not Student.objects.exists()


def test_staff_with_reprocess_permission_gets_the_action(client, deliver, flaky):
    event = failed_events(deliver, 1)[0]
    flaky["broken"] = False
    user = staff_user("view_inboundevent", "reprocess_inboundevent")
    client.force_login(user)

    response = client.get(CHANGELIST)
    choices = dict(response.context["action_form"].fields["action"].choices)
    assert "reprocess" in choices

    response = run_action(client, [event])
    assert shown_messages(response) == [(messages.SUCCESS, "Reprocessed 1 event(s): 1 processed.")]
    event.refresh_from_db()
    assert event.status == Status.PROCESSED
    assert LogEntry.objects.get().user == user


def test_status_filter_lists_only_failed_events(admin_client):
    failed = InboundEventFactory(status=Status.FAILED, last_error="RuntimeError: x")
    InboundEventFactory(status=Status.PROCESSED)
    InboundEventFactory(status=Status.RECEIVED)
    response = admin_client.get(CHANGELIST, {"status__exact": "failed"})
    assert response.status_code == 200
    assert "e" not in response.wsgi_request.GET, "the admin refused the query"
    assert [event.pk for event in response.context["cl"].result_list] == [failed.pk]

    response = admin_client.get(CHANGELIST)
    assert len(response.context["cl"].result_list) == 3


def test_detail_page_shows_last_error_and_traceback(admin_client, deliver, flaky):
    event = failed_events(deliver, 1)[0]
    url = reverse("admin:jodo_webhooks_inboundevent_change", args=[event.pk])
    response = admin_client.get(url)
    assert response.status_code == 200
    content = response.content.decode()
    assert event.last_error == f"RuntimeError: receiver broke on {event.event_id}"
    assert escape(event.last_error) in content
    assert f'<pre class="jodo-pre">{escape(event.last_error_traceback)}</pre>' in content
    assert "Traceback (most recent call last)" in content


def test_events_cannot_be_added_changed_or_deleted_in_the_admin(admin_client):
    event = InboundEventFactory(status=Status.FAILED)
    assert admin_client.get(reverse("admin:jodo_webhooks_inboundevent_add")).status_code == 403
    change_url = reverse("admin:jodo_webhooks_inboundevent_change", args=[event.pk])
    assert admin_client.post(change_url, {"status": "processed"}).status_code == 403
    delete_url = reverse("admin:jodo_webhooks_inboundevent_delete", args=[event.pk])
    assert admin_client.post(delete_url, {"post": "yes"}).status_code == 403
    event.refresh_from_db()
    assert event.status == Status.FAILED
