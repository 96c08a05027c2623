"""The event changelist says what failed and why: status, reason, student, times, short ids;
search by id prefix or any student id; every applied filter named; a fixed number of queries."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils.http import urlencode

from jodo_webhooks.models import InboundEvent

from .factories import EnvelopeFactory, InboundEventFactory
from .helpers import admin_listed
from .students_support import StudentFactory, deliver_event

pytestmark = pytest.mark.django_db

Status = InboundEvent.Status
CHANGELIST = reverse("admin:jodo_webhooks_inboundevent_changelist")


def row_of(response: Any, event: InboundEvent) -> str:
    """The HTML of the event's row in the changelist."""
    content = response.content.decode()
    link = reverse("admin:jodo_webhooks_inboundevent_change", args=[event.pk])
    start = content.index(f'href="{link}')  # may carry the filters (?_changelist_filters=…)
    return content[content.rindex("<tr", 0, start) : content.index("</tr>", start)]


def student_event(jodo_id: str, identifier: str, **kwargs: Any) -> InboundEvent:
    payload = {"jodo_student_id": jodo_id, "student": {"identifier": identifier}}
    return InboundEventFactory(
        payload=payload, jodo_student_id=jodo_id, student_identifier=identifier, **kwargs
    )


def test_failed_row_shows_status_error_student_and_times(admin_client, deliver):
    """A conflict: the row says failed (badge), why, and which student, linked to the ERP."""
    student = StudentFactory(identifier="1002", jodo_student_id="J-OLD")
    event = deliver_event(
        deliver,
        EnvelopeFactory(payload__jodo_student_id="J-2", payload__student__identifier="1002"),
    )
    assert event.status == Status.FAILED

    response = admin_client.get(CHANGELIST)

    row = row_of(response, event)
    assert '<span class="jodo-status jodo-status-failed">✖ Failed</span>' in row
    assert "StudentConflict: student " in row  # the error's first characters
    student_url = reverse("admin:students_student_change", args=[student.pk])
    assert f'<a href="{student_url}">J-2<br>1002</a>' in row
    # The id is shortened (whole in the tooltip and on the detail page).
    assert f'<span class="jodo-id" title="{event.event_id}">{event.event_id[:8]}…</span>' in row
    assert "occurred " in row


def test_reason_column_shows_the_skip_or_ignore_reason(admin_client):
    skipped = InboundEventFactory(status=Status.SKIPPED, status_reason="stale: older than …")
    ignored = InboundEventFactory(status=Status.IGNORED, status_reason="no receiver handles x")
    processed = InboundEventFactory(status=Status.PROCESSED, last_error="RuntimeError: earlier")

    response = admin_client.get(CHANGELIST)

    assert "stale: older than …" in row_of(response, skipped)
    assert "no receiver handles x" in row_of(response, ignored)
    # An error from an earlier attempt is not why a processed event is where it is.
    assert "earlier" not in row_of(response, processed)


def test_long_errors_are_cut_in_the_list_and_whole_in_the_tooltip(admin_client):
    error = "ValueError: " + "x" * 300
    event = InboundEventFactory(status=Status.FAILED, last_error=error, status_reason=error)

    row = row_of(admin_client.get(CHANGELIST), event)

    assert f'title="{error}"' in row
    assert f">{error[:89]}…</span>" in row


def test_student_without_an_erp_record_is_named_without_a_link(admin_client):
    event = student_event("J-9", "9009")
    row = row_of(admin_client.get(CHANGELIST), event)
    assert "J-9<br>9009" in row
    assert "/admin/students/" not in row


def test_student_link_falls_back_to_the_schools_identifier(admin_client):
    student = StudentFactory(identifier="1001", jodo_student_id=None)
    event = student_event("J-NEW", "1001")
    row = row_of(admin_client.get(CHANGELIST), event)
    assert reverse("admin:students_student_change", args=[student.pk]) in row


@pytest.mark.parametrize(
    ("term", "expected"),
    [
        ("J-1", {"a"}),  # Jodo student id, exactly
        ("1001", {"a"}),  # the school's identifier, exactly
        ("100", set()),  # not a prefix of a student id
        ("  J-2  ", {"b"}),
    ],
)
def test_search_by_student_ids(admin_client, term, expected):
    events = {"a": student_event("J-1", "1001"), "b": student_event("J-2", "1002")}
    found = admin_listed(admin_client, CHANGELIST, q=term)
    assert {name for name, event in events.items() if event in found} == expected


def test_search_by_event_id_prefix_is_anchored(admin_client):
    wanted = InboundEventFactory(event_id="abcdef12-0000-4000-8000-000000000001")
    InboundEventFactory(event_id="00abcdef-0000-4000-8000-000000000002")
    assert admin_listed(admin_client, CHANGELIST, q="abcdef12") == [wanted]
    assert admin_listed(admin_client, CHANGELIST, q=wanted.event_id) == [wanted]
    assert admin_listed(admin_client, CHANGELIST, q="bcdef12") == []


def test_search_box_says_what_it_matches(admin_client):
    content = admin_client.get(CHANGELIST).content.decode()
    assert "Matches an event id or its first characters" in content
    assert "the school&#x27;s own student identifier" in content


def test_students_events_link_shows_its_filter(admin_client):
    """The student page's "Events for J-1" link filters; the page names that filter."""
    mine = student_event("J-1", "1001")
    student_event("J-2", "1002")
    url = f"{CHANGELIST}?{urlencode({'jodo_student_id': 'J-1'})}"

    response = admin_client.get(url)

    assert [event.pk for event in response.context["cl"].result_list] == [mine.pk]
    content = response.content.decode()
    assert "Filtered by:" in content
    assert "Jodo student: J-1" in content
    # In the sidebar too, with the other filters.
    assert "By Jodo student" in content
    assert '<a href="?">&#10006; Clear all filters</a>' in content or "Clear all filters" in content


def test_every_applied_filter_is_named_with_a_link_removing_it(admin_client):
    InboundEventFactory(status=Status.FAILED)
    response = admin_client.get(
        CHANGELIST, {"status__exact": "failed", "event_type": "masterdata.student.registered"}
    )
    applied = response.context["jodo_applied_filters"]
    assert [(f["title"], f["value"]) for f in applied] == [
        ("status", "Failed"),
        ("event type", "masterdata.student.registered"),
    ]
    assert applied[0]["remove"] == "?event_type=masterdata.student.registered"
    assert admin_client.get(CHANGELIST).context["jodo_applied_filters"] == []


def test_a_date_range_from_a_link_is_named_too(admin_client):
    response = admin_client.get(CHANGELIST, {"received_at__gte": "2025-01-01 00:00:00+00:00"})
    applied = response.context["jodo_applied_filters"]
    assert [(f["title"], f["value"]) for f in applied] == [
        ("received at", "received_at__gte = 2025-01-01 00:00:00+00:00")
    ]


def test_dismissed_events_have_their_own_filter_and_badge(admin_client):
    dismissed = InboundEventFactory(status=Status.DISMISSED, status_reason="Dismissed by x: y")
    InboundEventFactory(status=Status.FAILED)
    response = admin_client.get(CHANGELIST, {"status__exact": "dismissed"})
    assert list(response.context["cl"].result_list) == [dismissed]
    assert "jodo-status-dismissed" in row_of(response, dismissed)
    assert "Dismissed by x: y" in row_of(response, dismissed)


def changelist_queries(client: Any, **query: str) -> int:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(CHANGELIST, query)
    assert response.status_code == 200
    return len(queries)


@pytest.mark.parametrize(
    "query",
    [{}, {"status__exact": "failed"}, {"q": "J-1"}, {"q": "abc"}, {"jodo_student_id": "J-1"}],
    ids=["all", "failed", "student", "prefix", "student-filter"],
)
def test_changelist_takes_a_fixed_number_of_queries(admin_client, query):
    """Students are found in the page's own query: 40 more rows cost no query more."""
    for n in range(3):
        student_event(f"J-{n}", f"10{n}", status=Status.FAILED, last_error="x")
        StudentFactory(identifier=f"10{n}", jodo_student_id=f"J-{n}")
    few = changelist_queries(admin_client, **query)
    for n in range(3, 43):
        student_event(f"J-{n}", f"10{n}", status=Status.FAILED, last_error="x")
        StudentFactory(identifier=f"10{n}", jodo_student_id=f"J-{n}")
    assert changelist_queries(admin_client, **query) == few
    assert few <= 7  # session, user, page, its count, the event types filter, savepoints
