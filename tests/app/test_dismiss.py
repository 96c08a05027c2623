"""Dismissing failed events that can never succeed: its own permission, a reason in the admin
log, no longer a failure for jodo_status, still reprocessable, and what the commands do."""

from __future__ import annotations

import io
from datetime import timedelta
from typing import Any

import pytest
from django.contrib import messages
from django.contrib.admin.models import CHANGE, LogEntry
from django.contrib.auth.models import Permission, User
from django.contrib.contenttypes.models import ContentType
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from jodo_webhooks.models import InboundEvent
from jodo_webhooks.operations import dismiss_events

from ..factories import EnvelopeFactory, InboundEventFactory
from ..helpers import deliver_event, signed_post

pytestmark = pytest.mark.django_db

Status = InboundEvent.Status
CHANGELIST = reverse("admin:jodo_webhooks_inboundevent_changelist")


@pytest.fixture
def broken(connect_receiver) -> dict[str, bool]:
    """A receiver for "test.bad" that fails while state["broken"]."""
    state = {"broken": True}

    def receiver(sender: type, event: InboundEvent, event_type: str, **kwargs: Any) -> None:
        if state["broken"]:
            raise ValueError("Jodo sent grade 'XX', which no class has")

    connect_receiver(receiver, "test.bad")
    return state


def failed_event(deliver: Any) -> InboundEvent:
    event = deliver_event(deliver, EnvelopeFactory(event="test.bad"))
    assert event.status == Status.FAILED
    return event


def staff(*codenames: str) -> User:
    user = User.objects.create_user("operator", password="pw", is_staff=True)
    user.user_permissions.set(
        Permission.objects.filter(
            content_type=ContentType.objects.get_for_model(InboundEvent), codename__in=codenames
        )
    )
    return user


def choose_dismiss(client: Client, events: list[InboundEvent]) -> Any:
    """The action as chosen in the list (with the action bar's `index`)."""
    return client.post(
        CHANGELIST,
        {"action": "dismiss", "index": "0", "_selected_action": [e.pk for e in events]},
    )


def confirm_dismiss(client: Client, events: list[InboundEvent], reason: str) -> Any:
    """The confirmation page's form, as posted back."""
    return client.post(
        CHANGELIST,
        {
            "action": "dismiss",
            "_selected_action": [e.pk for e in events],
            "confirm": "yes",
            "reason": reason,
        },
        follow=True,
    )


def test_dismiss_asks_for_a_reason_then_records_who_and_why(
    admin_client, admin_user, deliver, broken
):
    event = failed_event(deliver)

    page = choose_dismiss(admin_client, [event])

    assert page.status_code == 200
    assert page.templates[0].name == "admin/jodo_webhooks/confirm_action.html"
    content = page.content.decode()
    assert event.event_id in content
    assert 'name="reason"' in content
    event.refresh_from_db()
    assert event.status == Status.FAILED  # nothing happens before the confirmation

    response = confirm_dismiss(admin_client, [event], "Jodo's grade is wrong; fixed by hand")

    assert [(m.level, m.message) for m in response.context["messages"]] == [
        (messages.SUCCESS, "Dismissed 1 failed event(s).")
    ]
    event.refresh_from_db()
    assert event.status == Status.DISMISSED
    assert event.status_reason == "Dismissed by admin: Jodo's grade is wrong; fixed by hand"
    assert event.last_error.startswith("ValueError: Jodo sent grade")  # kept
    entry = LogEntry.objects.get()
    assert (entry.user, entry.action_flag, entry.object_id) == (admin_user, CHANGE, str(event.pk))
    assert entry.get_change_message() == "Dismissed: Jodo's grade is wrong; fixed by hand"


def test_dismiss_without_a_reason_shows_the_page_again(admin_client, deliver, broken):
    event = failed_event(deliver)

    response = confirm_dismiss(admin_client, [event], "   ")

    assert response.templates[0].name == "admin/jodo_webhooks/confirm_action.html"
    assert "This field is required." in response.content.decode()
    event.refresh_from_db()
    assert event.status == Status.FAILED
    assert not LogEntry.objects.exists()


def test_only_failed_events_are_dismissed(admin_client, deliver, broken):
    event = failed_event(deliver)
    processed = InboundEventFactory(status=Status.PROCESSED)

    page = choose_dismiss(admin_client, [event, processed])
    assert processed.event_id not in page.content.decode()
    confirm_dismiss(admin_client, [event, processed], "bad data")

    assert InboundEvent.objects.get(pk=event.pk).status == Status.DISMISSED
    assert InboundEvent.objects.get(pk=processed.pk).status == Status.PROCESSED
    assert LogEntry.objects.count() == 1


def test_choosing_dismiss_for_no_failed_event_says_so(admin_client):
    processed = InboundEventFactory(status=Status.PROCESSED)
    response = choose_dismiss(admin_client, [processed])
    assert response.status_code == 302
    shown = [m.message for m in admin_client.get(CHANGELIST).context["messages"]]
    assert shown == ["Only failed events can be dismissed; none was selected."]


def test_dismiss_needs_its_own_permission(client, deliver, broken):
    event = failed_event(deliver)
    client.force_login(staff("view_inboundevent", "reprocess_inboundevent"))

    choices = dict(client.get(CHANGELIST).context["action_form"].fields["action"].choices)
    assert "reprocess" in choices
    assert "dismiss" not in choices

    confirm_dismiss(client, [event], "sneaky")
    event.refresh_from_db()
    assert event.status == Status.FAILED
    assert not LogEntry.objects.exists()


def test_staff_with_the_dismiss_permission_may_dismiss(client, deliver, broken):
    event = failed_event(deliver)
    user = staff("view_inboundevent", "dismiss_inboundevent")
    client.force_login(user)

    confirm_dismiss(client, [event], "bad data")

    event.refresh_from_db()
    assert event.status == Status.DISMISSED
    assert event.status_reason == "Dismissed by operator: bad data"
    assert LogEntry.objects.get().user == user


def test_a_dismissed_event_can_still_be_reprocessed(admin_client, deliver, broken):
    event = failed_event(deliver)
    dismiss_events([event.pk], user=User.objects.create_user("someone"), reason="bad data")
    broken["broken"] = False

    admin_client.post(
        CHANGELIST, {"action": "reprocess", "index": "0", "_selected_action": [event.pk]}
    )

    event.refresh_from_db()
    assert event.status == Status.PROCESSED
    assert event.status_reason == ""


def test_a_redelivery_does_not_retry_a_dismissed_event(client, deliver, broken):
    body = EnvelopeFactory(event="test.bad")
    event = deliver_event(deliver, body)
    dismiss_events([event.pk], user=User.objects.create_user("someone"), reason="bad data")

    assert signed_post(client, body).json()["status"] == "duplicate"

    event.refresh_from_db()
    assert (event.status, event.attempts) == (Status.DISMISSED, 1)


def test_dismiss_events_leaves_events_that_are_no_longer_failed(deliver, broken):
    """A reprocess that fixed the event in between wins: only failed rows change."""
    event = failed_event(deliver)
    InboundEvent.objects.filter(pk=event.pk).update(status=Status.PROCESSED)

    assert dismiss_events([event.pk], user=User.objects.create_user("u"), reason="x") == []
    assert InboundEvent.objects.get(pk=event.pk).status == Status.PROCESSED
    assert not LogEntry.objects.exists()


def test_dismiss_events_needs_a_reason(deliver, broken):
    event = failed_event(deliver)
    with pytest.raises(ValueError, match="needs a reason"):
        dismiss_events([event.pk], user=User.objects.create_user("u"), reason=" ")


# The commands.


def run(name: str, *args: str) -> tuple[str, CommandError | None]:
    out = io.StringIO()
    try:
        call_command(name, *args, stdout=out, stderr=io.StringIO())
    except CommandError as error:
        return out.getvalue(), error
    return out.getvalue(), None


def dismissed(**kwargs: Any) -> InboundEvent:
    return InboundEventFactory(
        status=Status.DISMISSED, attempts=1, last_error="ValueError: bad", **kwargs
    )


def test_jodo_status_does_not_count_dismissed_events_as_failures():
    dismissed(event_type="test.bad")
    out, error = run("jodo_status")
    assert error is None  # healthy: exit 0
    assert "dismissed 1" in out
    assert "Oldest failed event" not in out

    InboundEventFactory(status=Status.FAILED, last_error="ValueError: new")
    out, error = run("jodo_status")
    assert error is not None
    assert str(error).startswith("1 failed event(s) waiting")


def test_jodo_reprocess_skips_dismissed_events_unless_asked(broken):
    event = dismissed(event_type="test.bad")
    failed = InboundEventFactory(event_type="test.bad", status=Status.FAILED, attempts=1)
    broken["broken"] = False

    out, _ = run("jodo_reprocess")
    assert out == "Reprocessed 1 event(s): 1 processed.\n"
    event.refresh_from_db()
    failed.refresh_from_db()
    assert (event.status, failed.status) == (Status.DISMISSED, Status.PROCESSED)

    out, _ = run("jodo_reprocess", "--event-id", event.event_id)
    assert out == "Reprocessed 0 event(s): nothing.\n"

    out, _ = run("jodo_reprocess", "--dismissed")
    assert out == "Reprocessed 1 event(s): 1 processed.\n"
    event.refresh_from_db()
    assert (event.status, event.attempts) == (Status.PROCESSED, 2)


def test_jodo_reprocess_force_takes_dismissed_events_too(broken):
    event = dismissed(event_type="test.bad")
    broken["broken"] = False
    out, _ = run("jodo_reprocess", "--force")
    assert out == "Reprocessed 1 event(s): 1 processed.\n"
    event.refresh_from_db()
    assert event.status == Status.PROCESSED


def test_jodo_reprocess_dry_run_lists_dismissed_events_when_asked():
    event = dismissed()
    out, _ = run("jodo_reprocess", "--dismissed", "--dry-run")
    assert out.splitlines() == [
        "Would reprocess 1 event(s).",
        f"  {event.event_id}  {event.event_type}  dismissed",
    ]


def test_jodo_prune_deletes_old_dismissed_events_with_the_settled_ones():
    old = timezone.now() - timedelta(days=40)
    event = dismissed(received_at=old)
    failed = InboundEventFactory(status=Status.FAILED, received_at=old)

    out, _ = run("jodo_prune", "--older-than", "30")

    assert "Deleted 1 event(s)" in out
    assert "(1 dismissed)" in out
    assert not InboundEvent.objects.filter(pk=event.pk).exists()
    assert InboundEvent.objects.filter(pk=failed.pk).exists()
