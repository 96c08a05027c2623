"""The admin: recorded events are browsable, searchable and filterable, but never edited."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.urls import reverse

from jodo_webhooks.models import InboundEvent, RejectedDelivery

from ..factories import EnvelopeFactory, InboundEventFactory

pytestmark = pytest.mark.django_db

CHANGELIST = "admin:jodo_webhooks_inboundevent_changelist"
CHANGE = "admin:jodo_webhooks_inboundevent_change"


def listed(response: Any) -> set[str]:
    assert response.status_code == 200, response.content[:500]
    return {event.event_id for event in response.context["cl"].result_list}


@pytest.fixture
def broken_receiver(connect_receiver) -> None:
    def receiver(sender: type, event: InboundEvent, event_type: str, **kwargs: Any) -> Any:
        if event_type == "test.admin.broken":
            raise RuntimeError("cannot apply <this> event")
        return None

    connect_receiver(receiver, "test.admin.broken")


@pytest.fixture
def delivered(deliver, broken_receiver) -> dict[str, InboundEvent]:
    """Three events recorded through the real endpoint: failed, ignored, and a student event."""
    bodies = {
        "failed": EnvelopeFactory(event="test.admin.broken", payload={"jodo_student_id": "js_1"}),
        "ignored": EnvelopeFactory(event="test.admin.other", payload={"jodo_student_id": "js_2"}),
        "student": EnvelopeFactory(),
    }
    for body in bodies.values():
        assert deliver(body, headers={"X-Request-Id": "admin-test"}).status_code == 200
    return {name: InboundEvent.objects.get(event_id=b["event_id"]) for name, b in bodies.items()}


def row_of(content: str, event: InboundEvent) -> str:
    """The HTML of the event's row in the changelist."""
    start = content.index(reverse(CHANGE, args=[event.pk]))
    return content[content.rindex("<tr", 0, start) : content.index("</tr>", start)]


def test_changelist_renders_for_a_superuser(admin_client, delivered):
    response = admin_client.get(reverse(CHANGELIST))
    assert listed(response) == {event.event_id for event in delivered.values()}
    content = response.content.decode()
    # Each row shows its event's own status (the status filter lists every status anyway).
    assert delivered["failed"].status == InboundEvent.Status.FAILED
    assert delivered["ignored"].status == InboundEvent.Status.IGNORED
    for event in delivered.values():
        row = row_of(content, event)
        assert event.event_id in row
        assert f"jodo-status-{event.status}" in row
        assert event.get_status_display() in row


def test_changelist_requires_staff(client, delivered):
    response = client.get(reverse(CHANGELIST))
    assert response.status_code == 302
    assert reverse("admin:login") in response["Location"]


def test_detail_page_renders_read_only(admin_client, delivered):
    event = delivered["failed"]
    response = admin_client.get(reverse(CHANGE, args=[event.pk]))
    assert response.status_code == 200
    content = response.content.decode()
    assert event.event_id in content
    assert "js_1" in content  # payload
    assert "admin-test" in content  # headers
    # The traceback itself, not only the field's label: where the receiver raised.
    assert "Traceback (most recent call last)" in content
    assert "raise RuntimeError(&quot;cannot apply &lt;this&gt; event&quot;)" in content
    # The receiver's message is shown escaped, never as markup.
    assert "cannot apply &lt;this&gt; event" in content
    assert "cannot apply <this> event" not in content
    assert 'name="_save"' not in content
    assert "<textarea" not in content


def test_student_event_detail_renders(admin_client, delivered):
    event = delivered["student"]
    response = admin_client.get(reverse(CHANGE, args=[event.pk]))
    assert response.status_code == 200
    assert event.payload["jodo_student_id"] in response.content.decode()


def test_events_cannot_be_added(admin_client):
    assert admin_client.get(reverse("admin:jodo_webhooks_inboundevent_add")).status_code == 403
    assert InboundEvent.objects.count() == 0


def test_events_cannot_be_changed(admin_client, delivered):
    event = delivered["ignored"]
    response = admin_client.post(
        reverse(CHANGE, args=[event.pk]),
        {"event_id": "tampered", "status": "processed", "event_type": "x"},
    )
    assert response.status_code == 403
    event.refresh_from_db()
    assert event.status == InboundEvent.Status.IGNORED
    assert not InboundEvent.objects.filter(event_id="tampered").exists()


def test_events_cannot_be_deleted(admin_client, delivered):
    event = delivered["ignored"]
    url = reverse("admin:jodo_webhooks_inboundevent_delete", args=[event.pk])
    assert admin_client.post(url, {"post": "yes"}).status_code == 403
    assert InboundEvent.objects.filter(pk=event.pk).exists()


def test_search_by_event_id(admin_client, delivered):
    wanted = delivered["ignored"]
    response = admin_client.get(reverse(CHANGELIST), {"q": wanted.event_id})
    assert listed(response) == {wanted.event_id}


def test_search_by_event_id_prefix(admin_client, delivered):
    """The first characters of an id, as people copy them from the logs, find the event."""
    wanted = delivered["ignored"].event_id
    assert listed(admin_client.get(reverse(CHANGELIST), {"q": wanted[:8]})) == {wanted}
    assert listed(admin_client.get(reverse(CHANGELIST), {"q": f"  {wanted[:8]} "})) == {wanted}
    # A prefix only: the middle of an id finds nothing.
    assert listed(admin_client.get(reverse(CHANGELIST), {"q": wanted[4:12]})) == set()


def test_search_by_jodo_student_id(admin_client, delivered):
    response = admin_client.get(reverse(CHANGELIST), {"q": "js_1"})
    assert listed(response) == {delivered["failed"].event_id}
    student = delivered["student"]
    response = admin_client.get(reverse(CHANGELIST), {"q": student.payload["jodo_student_id"]})
    assert listed(response) == {student.event_id}


def test_filter_by_status(admin_client, delivered):
    response = admin_client.get(reverse(CHANGELIST), {"status__exact": "failed"})
    assert listed(response) == {delivered["failed"].event_id}


def test_filter_by_event_type(admin_client, delivered):
    response = admin_client.get(reverse(CHANGELIST), {"event_type__exact": "test.admin.other"})
    assert listed(response) == {delivered["ignored"].event_id}


def test_filter_by_dates(admin_client):
    old = InboundEventFactory(
        received_at=datetime(2024, 1, 10, 12, tzinfo=UTC),
        occurred_at=datetime(2024, 1, 10, 11, tzinfo=UTC),
    )
    new = InboundEventFactory(
        received_at=datetime(2025, 6, 1, 12, tzinfo=UTC),
        occurred_at=datetime(2025, 6, 1, 11, tzinfo=UTC),
    )
    since = datetime(2025, 1, 1, tzinfo=UTC)
    until = since + timedelta(days=365)
    for field in ("received_at", "occurred_at"):
        response = admin_client.get(
            reverse(CHANGELIST), {f"{field}__gte": str(since), f"{field}__lt": str(until)}
        )
        assert listed(response) == {new.event_id}, field
    until = datetime(2024, 2, 1, tzinfo=UTC)
    response = admin_client.get(reverse(CHANGELIST), {"received_at__lt": str(until)})
    assert listed(response) == {old.event_id}


def test_rejected_deliveries_are_browsable(admin_client, deliver):
    assert deliver(EnvelopeFactory(), secret="wrong-secret").status_code == 401
    rejected = RejectedDelivery.objects.get()
    changelist = admin_client.get(reverse("admin:jodo_webhooks_rejecteddelivery_changelist"))
    assert changelist.status_code == 200
    assert rejected.detail in changelist.content.decode()
    detail = admin_client.get(
        reverse("admin:jodo_webhooks_rejecteddelivery_change", args=[rejected.pk])
    )
    assert detail.status_code == 200
    assert 'name="_save"' not in detail.content.decode()
