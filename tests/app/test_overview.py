"""The overview page: who may see it, that each number is the count of the list its link opens
(the changelist accepts every link's filters), and a fixed number of queries with 20,000 events.
The browser tests (tests/browser/test_overview.py) check what it looks like."""

from __future__ import annotations

import html
import itertools
import re
import zoneinfo
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.contrib.auth.models import Permission, User
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from jodo_webhooks.admin.overview import REASON_PREFIX, hour_bounds

from ..factories import InboundEventFactory
from ..helpers import stored_events
from ..overview_support import counted_by, record_known_events

pytestmark = pytest.mark.django_db

OVERVIEW = reverse("admin:jodo_webhooks_inboundevent_overview")
CHANGELIST = reverse("admin:jodo_webhooks_inboundevent_changelist")
NUMBER_LINK = re.compile(r'<a href="(/admin/jodo_webhooks/[a-z]+/\?[^"]*)">(\d+)</a>')


def staff(client: Any, *codenames: str) -> Any:
    user = User.objects.create_user("operator", password="pw", is_staff=True)
    user.user_permissions.set(Permission.objects.filter(codename__in=codenames))
    client.force_login(user)
    return client


def number_links(response: Any) -> dict[str, int]:
    assert response.status_code == 200
    links = NUMBER_LINK.findall(response.content.decode())
    assert links
    return {html.unescape(href): int(shown) for href, shown in links}


def test_the_overview_needs_the_event_lists_permission(client):
    assert client.get(OVERVIEW).status_code == 302  # to the admin's login
    assert staff(client, "view_rejecteddelivery").get(OVERVIEW).status_code == 403
    client.logout()
    User.objects.all().delete()
    viewer = staff(client, "view_inboundevent")
    response = viewer.get(OVERVIEW)
    assert response.status_code == 200
    assert "Jodo webhooks overview" in response.content.decode()
    # The event list links to it.
    assert f'href="{OVERVIEW}"' in viewer.get(CHANGELIST).content.decode()


def test_every_number_opens_the_list_it_counts(admin_client):
    record_known_events(timezone.now())
    links = number_links(admin_client.get(OVERVIEW))
    opened = 0
    for href, shown in links.items():
        assert shown == counted_by(href), href
        if not shown and "received_at__lt" in href:
            continue  # the empty hours: their filters are those of the hours opened below
        response = admin_client.get(href)
        assert response.status_code == 200, href  # a refused filter redirects to ?e=1
        assert response.context["cl"].result_count == shown, href
        opened += 1
    assert opened > 20


def test_an_empty_database(admin_client):
    content = admin_client.get(OVERVIEW).content.decode()
    assert "Nothing is waiting." in content
    assert "No event has failed." in content
    assert "No delivery was rejected in the last 48 hours." in content


def test_long_failure_reasons_are_grouped_by_their_start(admin_client):
    start = "ValueError: " + "x" * REASON_PREFIX
    for tail in ("first", "second"):
        InboundEventFactory(status="failed", status_reason=f"{start} {tail}")
    InboundEventFactory(status="failed", status_reason="KeyError: 'student'")
    links = number_links(admin_client.get(OVERVIEW))
    reasons = {href: n for href, n in links.items() if "failure_reason=" in href}
    assert sorted(reasons.values()) == [1, 2]
    for href, shown in reasons.items():
        assert admin_client.get(href).context["cl"].result_count == shown


@pytest.mark.parametrize(
    ("zone", "now"),
    [
        ("Asia/Kolkata", datetime(2026, 12, 6, 1, 40, tzinfo=UTC)),  # hours start at :30 UTC
        ("Europe/Berlin", datetime(2026, 10, 25, 12, 10, tzinfo=UTC)),  # an hour repeated
        ("Europe/Berlin", datetime(2026, 3, 29, 12, 10, tzinfo=UTC)),  # an hour skipped
    ],
)
def test_the_hours_are_whole_local_hours(zone, now):
    with timezone.override(zoneinfo.ZoneInfo(zone)):
        bounds = hour_bounds(now)
        local = [timezone.localtime(bound) for bound in bounds]
    assert len(bounds) == 49
    steps = {later - earlier for earlier, later in itertools.pairwise(bounds)}
    assert steps == {timedelta(hours=1)}
    assert all(moment.minute == moment.second == 0 for moment in local)
    assert bounds[-2] <= now < bounds[-1]  # the current hour is the last bar


def queries(client: Any) -> int:
    with CaptureQueriesContext(connection) as captured:
        response = client.get(OVERVIEW)
    assert response.status_code == 200
    return len(captured)


def test_the_overview_takes_a_fixed_number_of_queries_with_20000_events(admin_client):
    now = timezone.now()
    record_known_events(now)
    few = queries(admin_client)
    statuses = ["processed"] * 16 + ["failed", "skipped", "ignored", "received"]
    stored_events(
        20_000,
        now=now,
        event_type="masterdata.student.registered",
        status=lambda n: statuses[n % len(statuses)],
        status_reason=lambda n: f"RuntimeError: broken {n % 50}" if n % 20 == 16 else "",
    )
    many = queries(admin_client)
    # Session, user, and one query each: statuses, hours, rejected hours, waiting and failed,
    # the oldest waiting event, the oldest failed one, the failure reasons.
    assert few == many == 9
    for href, shown in number_links(admin_client.get(OVERVIEW)).items():
        assert shown == counted_by(href), href
