"""The overview page in Chromium at 1366 px: every number it shows is what the database holds
for the filters of its link, and the link opens that list."""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from jodo_webhooks.models import InboundEvent, RejectedDelivery

from ..overview_support import EVENTS, GRADE, counted_by, local_hour_start, record_known_events
from .conftest import horizontal_overflow, staff_with

OVERVIEW = "/admin/jodo_webhooks/inboundevent/overview/"


@pytest.fixture
def known(transactional_db: Any) -> datetime:
    now = timezone.now()
    record_known_events(now)
    return now


def number_links(locator: Any) -> list[tuple[int, str]]:
    return [
        (int(link.inner_text()), link.get_attribute("href")) for link in locator.locator("a").all()
    ]


def test_the_overview_shows_what_the_database_holds(open_as, superuser, known, tmp_path):
    page = open_as(superuser)
    page.goto("/admin/jodo_webhooks/inboundevent/")
    page.locator(".object-tools").get_by_role("link", name="Overview").click()
    expect(page.locator("h1")).to_have_text("Jodo webhooks overview")
    page.screenshot(path=tmp_path / "overview.png", full_page=True)
    assert page.viewport_size["width"] == 1366
    assert horizontal_overflow(page) == 0

    # Counts by status, last 24 hours and 7 days.
    day, week = known - timedelta(days=1), known - timedelta(days=7)
    for status in ("failed", "processed", "received", "skipped", "dismissed", "ignored"):
        row = page.locator(f'#jodo-status-counts tr[data-status="{status}"]')
        expected_day = InboundEvent.objects.filter(status=status, received_at__gte=day).count()
        expected_week = InboundEvent.objects.filter(status=status, received_at__gte=week).count()
        expect(row.locator(".jodo-day")).to_have_text(str(expected_day))
        expect(row.locator(".jodo-week")).to_have_text(str(expected_week))
    total = page.locator('#jodo-status-counts tr[data-status="all"] .jodo-week')
    expect(total).to_have_text(str(InboundEvent.objects.filter(received_at__gte=week).count()))
    for shown, href in number_links(page.locator("#jodo-status-counts")):
        assert shown == counted_by(href), href

    # The oldest waiting event is the "waiting" one (50 hours), not the "received" ones.
    oldest = InboundEvent.objects.filter(status__in=["received", "waiting"]).earliest("received_at")
    assert oldest.status == "waiting"
    waiting = page.locator("#jodo-waiting")
    expect(waiting.locator('[data-status="received"]')).to_have_text("Received: 2")
    expect(waiting.locator('[data-status="waiting"]')).to_have_text("Waiting: 1")
    expect(page.locator("#jodo-oldest-waiting")).to_contain_text(oldest.event_id[:8])
    expect(page.locator("#jodo-oldest-waiting")).to_contain_text("2 days, 2 hours ago")

    # The most frequent failure reasons, each opening its failed events.
    reasons = page.locator("#jodo-reasons tbody tr")
    expect(reasons).to_have_count(2)
    expect(reasons.first.locator(".jodo-reason")).to_have_text(GRADE)
    expected = Counter(r for s, _, r in EVENTS if s == "failed")
    expect(reasons.first.locator(".jodo-num")).to_have_text(str(expected[GRADE]))
    for shown, href in number_links(page.locator("#jodo-reasons")):
        assert shown == counted_by(href), href

    # Events per hour: each bar segment and each cell of the table is the count of its link.
    chart = page.locator("#jodo-events-chart")
    segments = chart.locator("svg a")
    for segment in segments.all():
        href = segment.get_attribute("href")
        count = int(segment.locator("title").text_content().rsplit(": ", 1)[1].split()[0])
        assert count == counted_by(href), href
        query = parse_qs(urlsplit(href).query)
        start, end = query["received_at__gte"][0], query["received_at__lt"][0]
        assert local_hour_start(start)
        assert local_hour_start(end)
        assert datetime.fromisoformat(end) - datetime.fromisoformat(start) == timedelta(hours=1)
    chart.locator("summary").click()
    table = chart.locator("details table")
    expect(table.locator("tbody tr")).to_have_count(48)
    cells = number_links(table.locator("tbody"))
    assert segments.count() == len([shown for shown, _ in cells if shown])
    for shown, href in cells:
        if shown:
            assert shown == counted_by(href), href
    first, last = (parse_qs(urlsplit(href).query) for href in (cells[0][1], cells[-1][1]))
    hours = InboundEvent.objects.filter(
        received_at__gte=first["received_at__gte"][0], received_at__lt=last["received_at__lt"][0]
    )
    assert sum(shown for shown, _ in cells) == hours.count()
    assert hours.filter(received_at__gte=known - timedelta(hours=46.9)).count() == len(
        [hours for _, hours, _ in EVENTS if hours < 46.9]
    )
    legend = chart.locator('.jodo-legend li[data-key="failed"] a')
    expect(legend).to_have_text(str(counted_by(legend.get_attribute("href"))))
    assert horizontal_overflow(page) == 0  # with the table open too

    # Rejected deliveries per hour, by reason.
    rejected = page.locator("#jodo-rejected-chart")
    for shown, href in number_links(rejected.locator(".jodo-legend")):
        assert "/rejecteddelivery/" in href
        assert shown == counted_by(href), href
    expect(rejected.locator('.jodo-legend li[data-key="signature"]')).to_have_text("Signature: 3")
    assert RejectedDelivery.objects.filter(reason="signature").count() == 4  # one is older

    # A number opens the list it counts.
    failed_week = page.locator('#jodo-status-counts tr[data-status="failed"] .jodo-week a')
    failed_week.click()
    expect(page.locator(".jodo-applied-filters")).to_contain_text("status: Failed")
    expect(page.locator("#result_list tbody tr")).to_have_count(
        InboundEvent.objects.filter(status="failed", received_at__gte=week).count()
    )


def test_a_view_only_operator_sees_the_overview(open_as, known, live_server):
    viewer = staff_with("view_inboundevent", username="viewer")
    page = open_as(viewer)
    page.goto(OVERVIEW)
    expect(page.locator("h1")).to_have_text("Jodo webhooks overview")
    # No permission for rejected deliveries: their numbers are shown, not linked.
    legend = page.locator("#jodo-rejected-chart .jodo-legend")
    expect(legend.locator('li[data-key="signature"]')).to_have_text("Signature: 3")
    expect(legend.locator("a")).to_have_count(0)
    page.locator("#jodo-reasons").get_by_role("link").first.click()
    expect(page.locator(".jodo-applied-filters")).to_contain_text("failure reason")
    expect(page.locator("#result_list tbody tr")).to_have_count(3)

    nobody = staff_with(username="nobody")
    response = open_as(nobody).goto(f"{live_server.url}{OVERVIEW}")
    assert response.status == 403
