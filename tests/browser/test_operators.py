"""An operator's day in Chromium at 1366 px: find why an event failed, reprocess, dismiss,
resolve a conflict, see Jodo's student data read-only, and what a view-only user may do."""

from __future__ import annotations

import io
import re
from typing import Any

import pytest
from django.core.management import call_command
from playwright.sync_api import expect

from jodo_webhooks.models import InboundEvent, RejectedDelivery
from students.models import Student

from ..factories import EnvelopeFactory
from ..helpers import TEST_SECRET
from ..students_support import StudentFactory, deliver_event
from .conftest import horizontal_overflow, staff_with

Status = InboundEvent.Status
EVENTS = "/admin/jodo_webhooks/inboundevent/"
TRACEBACK_LINES = 80


@pytest.fixture
def broken(connect_receiver) -> dict[str, bool]:
    """A receiver for "test.grades" that fails, with a long traceback, while state["broken"]."""
    state = {"broken": True}

    def receiver(sender: type, event: InboundEvent, event_type: str, **kwargs: Any) -> None:
        if state["broken"]:
            fail_deeply(TRACEBACK_LINES // 2)

    connect_receiver(receiver, "test.grades")
    return state


def fail_deeply(depth: int) -> None:
    if depth:
        fail_deeply(depth - 1)
    raise ValueError("grade 'XX' is not a class this school has; Jodo must correct it")


def failed_event(deliver: Any, **body: Any) -> InboundEvent:
    event = deliver_event(deliver, EnvelopeFactory(event="test.grades", **body))
    assert event.status == Status.FAILED
    return event


def choose_action(page: Any, events: list[InboundEvent], action: str) -> None:
    for event in events:
        page.locator(f'input.action-select[value="{event.pk}"]').check()
    page.select_option('select[name="action"]', action)
    page.locator('#changelist-form button[name="index"]').click()


def test_diagnose_a_failed_event_from_the_list(open_as, superuser, deliver, broken):
    raw = (
        b'{"event": "test.grades",\n  "event_id": "0b5e3f1a-diagnose-me",\n'
        b'  "timestamp": %d, "version": "1.0",\n  "payload": {"grade":   "XX"}}'
    ) % EnvelopeFactory()["timestamp"]
    event = deliver_event(deliver, raw)
    deliver_event(deliver, EnvelopeFactory(event="test.other"))  # ignored, for contrast
    page = open_as(superuser)

    page.goto(EVENTS)
    assert horizontal_overflow(page) == 0
    page.locator("#changelist-filter").get_by_role("link", name="Failed").click()
    expect(page.locator(".jodo-applied-filters")).to_contain_text("status: Failed")
    row = page.locator("#result_list tbody tr")
    expect(row).to_have_count(1)
    badge = row.locator(".jodo-status-failed")
    expect(badge).to_have_text("✖ Failed")
    assert badge.evaluate("e => getComputedStyle(e).backgroundColor") == "rgb(186, 33, 33)"
    expect(row.locator(".field-why")).to_contain_text("ValueError: grade 'XX' is not a class")

    row.get_by_role("link", name="0b5e3f1a…").click()
    expect(page.locator("body")).to_contain_text("0b5e3f1a-diagnose-me")  # the whole id

    traceback = page.locator(".field-formatted_traceback pre")
    expect(traceback).to_contain_text("ValueError: grade 'XX'")
    fits = traceback.evaluate(
        "e => e.scrollWidth <= e.clientWidth && e.scrollHeight <= e.clientHeight + 1"
    )
    assert fits, "the traceback is clipped or scrolls"
    last_line = traceback.evaluate(
        "e => { const r = document.createRange(); r.selectNodeContents(e);"
        " const lines = r.getClientRects(); const last = lines[lines.length - 1];"
        " const box = e.getBoundingClientRect(); return last.bottom <= box.bottom"
        " && last.right <= box.right + 1; }"
    )
    assert last_line, "the traceback's last line is cut off"
    body = page.locator(".field-formatted_raw_body pre").inner_text()
    assert body == raw.decode()  # whitespace kept
    assert horizontal_overflow(page) == 0
    event.refresh_from_db()
    assert event.status == Status.FAILED


def test_reprocess_reports_each_failure_with_a_link(open_as, superuser, deliver, broken):
    still_failing = failed_event(deliver)
    page = open_as(superuser)
    page.goto(EVENTS)

    choose_action(page, [still_failing], "reprocess")

    messages = page.locator("ul.messagelist li.error")
    expect(messages.first).to_have_text("Reprocessed 1 event(s): 1 failed.")
    expect(messages.nth(1)).to_contain_text("(test.grades) failed: ValueError: grade 'XX'")
    messages.nth(1).get_by_role("link").click()
    expect(page).to_have_url(re.compile(rf"/inboundevent/{still_failing.pk}/change/"))

    broken["broken"] = False
    page.goto(EVENTS)
    choose_action(page, [still_failing], "reprocess")
    expect(page.locator("ul.messagelist li.success")).to_have_text(
        "Reprocessed 1 event(s): 1 processed."
    )
    still_failing.refresh_from_db()
    assert still_failing.status == Status.PROCESSED


def test_dismiss_a_failure_that_can_never_succeed(open_as, superuser, deliver, broken):
    event = failed_event(deliver)
    page = open_as(superuser)
    page.goto(EVENTS)

    choose_action(page, [event], "dismiss")

    expect(page.locator("h1")).to_have_text("Dismiss failed events")
    expect(page.locator(".jodo-confirm-objects")).to_contain_text(event.event_id)
    page.get_by_label("Reason").fill("Jodo sent grade XX by mistake; corrected in the ERP")
    page.get_by_role("button", name="Dismiss").click()

    expect(page.locator("ul.messagelist li.success")).to_have_text("Dismissed 1 failed event(s).")
    row = page.locator("#result_list tbody tr").first
    expect(row.locator(".jodo-status-dismissed")).to_have_text("Dismissed")
    expect(row.locator(".field-why")).to_contain_text("Dismissed by root: Jodo sent grade XX")
    call_command("jodo_status", stdout=io.StringIO())  # healthy again: no CommandError

    # Still reprocessable.
    broken["broken"] = False
    choose_action(page, [event], "reprocess")
    expect(page.locator("ul.messagelist li.success")).to_contain_text("1 processed")


def test_resolve_a_conflict_end_to_end(open_as, superuser, deliver):
    """1002 is linked to J-OLD; Jodo re-created the child as J-NEW: unlink, then reprocess."""
    old = deliver_event(
        deliver,
        EnvelopeFactory(payload__jodo_student_id="J-OLD", payload__student__identifier="1002"),
    )
    assert old.status == Status.PROCESSED
    event = deliver_event(
        deliver,
        EnvelopeFactory(payload__jodo_student_id="J-NEW", payload__student__identifier="1002"),
    )
    assert event.status == Status.FAILED
    student = Student.objects.get()
    page = open_as(superuser)

    page.goto(f"{EVENTS}{event.pk}/change/")
    error = page.locator(".field-error")
    error.get_by_role("link", name=f"student {student.pk} (1002)").click()
    expect(page.locator(".field-jodo_student_id .readonly")).to_have_text("J-OLD")
    page.get_by_role("button", name="Unlink from Jodo…").click()
    expect(page.locator(".jodo-confirm-objects")).to_contain_text("1002 (Jodo student J-OLD)")
    page.get_by_label("Reason").fill("Jodo re-created 1002 as J-NEW")
    page.get_by_role("button", name="Unlink", exact=True).click()

    success = page.locator("ul.messagelist li.success")
    expect(success).to_contain_text("Unlinked 1002 from Jodo student J-OLD.")
    success.get_by_role("link", name="failed events").click()
    expect(page.locator(".jodo-applied-filters")).to_contain_text("status: Failed")
    choose_action(page, [event], "reprocess")
    expect(page.locator("ul.messagelist li.success")).to_have_text(
        "Reprocessed 1 event(s): 1 processed."
    )
    student.refresh_from_db()
    assert student.jodo_student_id == "J-NEW"

    page.goto(f"/admin/students/student/{student.pk}/change/")
    expect(page.locator(".field-jodo_student_id .readonly")).to_have_text("J-NEW")


def test_a_students_jodo_fields_are_read_only(open_as, superuser, deliver):
    deliver_event(
        deliver,
        EnvelopeFactory(
            payload__jodo_student_id="J-1",
            payload__student__identifier="1001",
            payload__student__notes=[{"key": "registration_number", "value": "REG1"}],
        ),
    )
    student = Student.objects.get()
    page = open_as(superuser)
    page.goto(f"/admin/students/student/{student.pk}/change/")

    for name in ("identifier", "jodo_student_id", "status", "grade_name", "jodo_updated_at"):
        expect(page.locator(f'[name="{name}"]')).to_have_count(0)
    expect(page.locator(".field-identifier .readonly")).to_have_text("1001")
    jodo_notes = page.locator(".inline-group").filter(has_text="Notes from Jodo")
    expect(jodo_notes).to_contain_text("REG1")
    expect(jodo_notes.locator("input:not([type=hidden]), textarea, select")).to_have_count(0)

    erp_notes = page.locator(".inline-group").filter(has_text="ERP notes")
    erp_notes.locator(".add-row a").click()  # "Add another Student note"
    erp_notes.locator('input[name$="-0-key"]').fill("bus_route")
    erp_notes.locator('input[name$="-0-value"]').fill("Route 7")
    width = erp_notes.evaluate("e => e.getBoundingClientRect().width")
    assert width < 1100, f"the notes inline is {width} px wide"
    assert horizontal_overflow(page) == 0
    page.get_by_role("button", name="Save and continue editing").click()

    expect(page.locator("ul.messagelist li.success")).to_contain_text("was changed successfully")
    notes = {n.key: (n.value, n.source) for n in student.notes.all()}
    assert notes == {"registration_number": ("REG1", "jodo"), "bus_route": ("Route 7", "erp")}


def test_a_view_only_user_sees_everything_and_can_change_nothing(
    open_as, deliver, broken, jodo_settings
):
    jodo_settings.update(HEADER_NAME="X-Jodo-Token", HEADER_VALUE="header-value-for-jodo")
    headers = {"X-Jodo-Token": "header-value-for-jodo", "X-Jodo-Tokn": "header-value-for-jodo"}
    response = deliver(EnvelopeFactory(event="test.grades"), headers=headers)
    assert response.status_code == 200
    event = InboundEvent.objects.get()
    deliver(EnvelopeFactory(), signature="0" * 64, headers=headers)  # rejected
    rejected = RejectedDelivery.objects.get()
    viewer = staff_with(
        "view_inboundevent", "view_rejecteddelivery", "view_student", username="viewer"
    )
    page = open_as(viewer)

    page.goto(EVENTS)
    expect(page.locator("#result_list tbody tr")).to_have_count(1)
    expect(page.locator('select[name="action"]')).to_have_count(0)
    page.locator("#result_list").get_by_role("link", name=f"{event.event_id[:8]}…").click()
    expect(page.locator(".field-error")).to_contain_text("ValueError")
    expect(page.locator('input[type="submit"], button[name="_save"]')).to_have_count(0)
    assert "header-value-for-jodo" not in page.content()
    assert TEST_SECRET not in page.content()

    page.goto(f"/admin/jodo_webhooks/rejecteddelivery/{rejected.pk}/change/")
    expect(page.locator(".field-hint")).to_contain_text("the form of a real signature")
    expect(page.get_by_role("link", name="Delete")).to_have_count(0)
    for secret in ("header-value-for-jodo", TEST_SECRET):
        assert secret not in page.content()


def test_the_changelist_fits_1366_px(open_as, superuser, deliver, broken):
    for n in range(3):
        failed_event(deliver, payload={"jodo_student_id": f"student_{n:05d}_long_id"})
    StudentFactory(identifier="1001", jodo_student_id="J-1")
    deliver_event(
        deliver,
        EnvelopeFactory(payload__jodo_student_id="J-1", payload__student__identifier="1001"),
    )
    deliver_event(deliver, EnvelopeFactory(event="direct.payment.added", payload={}))
    page = open_as(superuser)

    page.goto(EVENTS)

    assert page.viewport_size["width"] == 1366
    assert horizontal_overflow(page) == 0
    results = page.locator(".results")
    assert results.evaluate("e => e.scrollWidth <= e.clientWidth"), "the table scrolls sideways"
    line_height = page.locator(".field-short_event_id").first.evaluate(
        "e => parseFloat(getComputedStyle(e).lineHeight) || 20"
    )
    for cell in page.locator(".field-short_event_id .jodo-id").all():
        assert cell.bounding_box()["height"] < 1.5 * line_height, "an event id wraps"
