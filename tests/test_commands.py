"""The operations commands: jodo_reprocess, jodo_prune and jodo_status."""

from __future__ import annotations

import io
from datetime import timedelta
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from jodo_webhooks.models import InboundEvent, RejectedDelivery
from students.models import Student

from .factories import EnvelopeFactory, InboundEventFactory
from .students_support import deliver_event

pytestmark = pytest.mark.django_db

Status = InboundEvent.Status


class Result:
    def __init__(self, stdout: str, stderr: str, error: CommandError | None) -> None:
        self.stdout, self.stderr, self.error = stdout, stderr, error


def run(name: str, *args: str, fails: bool = False) -> Result:
    """call_command capturing both streams; `fails` expects CommandError (a non-zero exit)."""
    stdout, stderr = io.StringIO(), io.StringIO()
    error = None
    if fails:
        with pytest.raises(CommandError) as raised:
            call_command(name, *args, stdout=stdout, stderr=stderr)
        error = raised.value
    else:
        call_command(name, *args, stdout=stdout, stderr=stderr)
    return Result(stdout.getvalue(), stderr.getvalue(), error)


@pytest.fixture
def flaky(connect_receiver) -> dict[str, Any]:
    """Receivers for "test.flaky" and "test.other": fail while state["broken"], record calls."""
    state: dict[str, Any] = {"broken": True, "calls": []}

    def receiver(sender: type, event: InboundEvent, event_type: str, **kwargs: Any) -> Any:
        if event_type not in ("test.flaky", "test.other"):
            return None
        state["calls"].append(event.event_id)
        Student.objects.create(identifier=f"{event_type}-{event.pk}-{event.attempts}")
        if state["broken"]:
            raise RuntimeError("still broken")
        return True

    connect_receiver(receiver, "test.flaky", "test.other")
    return state


def statuses(*events: InboundEvent) -> list[tuple[str, int]]:
    result = []
    for event in events:
        event.refresh_from_db()
        result.append((event.status, event.attempts))
    return result


def failed(**kwargs: Any) -> InboundEvent:
    defaults = {"status": Status.FAILED, "attempts": 1, "last_error": "RuntimeError: broken"}
    return InboundEventFactory(**(defaults | kwargs))


def ago(days: float) -> Any:
    return timezone.now() - timedelta(days=days)


# jodo_reprocess


def test_reprocess_failed(flaky):
    one, two = failed(event_type="test.flaky"), failed(event_type="test.other")
    pending = InboundEventFactory(event_type="test.flaky")
    flaky["broken"] = False
    result = run("jodo_reprocess", "--failed")
    assert result.stdout == "Reprocessed 2 event(s): 2 processed.\n"
    assert result.stderr == "[2/2] 2 processed\n"
    assert statuses(one, two, pending) == [
        (Status.PROCESSED, 2),
        (Status.PROCESSED, 2),
        (Status.RECEIVED, 0),
    ]
    assert Student.objects.count() == 2


def test_reprocess_pending(flaky):
    pending = InboundEventFactory(event_type="test.flaky")
    still_failed = failed(event_type="test.flaky")
    flaky["broken"] = False
    result = run("jodo_reprocess", "--pending")
    assert result.stdout == "Reprocessed 1 event(s): 1 processed.\n"
    assert statuses(pending, still_failed) == [(Status.PROCESSED, 1), (Status.FAILED, 1)]


def test_reprocess_without_selection_takes_failed_and_pending(flaky):
    events: list[InboundEvent] = [
        failed(event_type="test.flaky"),
        InboundEventFactory(event_type="test.flaky"),
    ]
    done = InboundEventFactory(event_type="test.flaky", status=Status.PROCESSED, attempts=1)
    flaky["broken"] = False
    assert run("jodo_reprocess").stdout == "Reprocessed 2 event(s): 2 processed.\n"
    assert statuses(*events, done) == [
        (Status.PROCESSED, 2),
        (Status.PROCESSED, 1),
        (Status.PROCESSED, 1),
    ]


def test_reprocess_event_ids_repeatable(flaky):
    one, two, three = (failed(event_type="test.flaky") for _ in range(3))
    flaky["broken"] = False
    result = run("jodo_reprocess", "--event-id", one.event_id, "--event-id", three.event_id)
    assert result.stdout == "Reprocessed 2 event(s): 2 processed.\n"
    assert statuses(one, two, three) == [
        (Status.PROCESSED, 2),
        (Status.FAILED, 1),
        (Status.PROCESSED, 2),
    ]
    assert sorted(flaky["calls"]) == sorted([one.event_id, three.event_id])


def test_reprocess_since_date(flaky):
    old = failed(event_type="test.flaky", received_at=ago(10))
    recent = failed(event_type="test.flaky", received_at=ago(1))
    flaky["broken"] = False
    since = (timezone.localdate() - timedelta(days=3)).isoformat()
    assert run("jodo_reprocess", "--since", since).stdout == (
        "Reprocessed 1 event(s): 1 processed.\n"
    )
    assert statuses(old, recent) == [(Status.FAILED, 1), (Status.PROCESSED, 2)]


def test_reprocess_since_datetime(flaky):
    old = failed(event_type="test.flaky", received_at=ago(2))
    recent = failed(event_type="test.flaky", received_at=ago(0.5))
    flaky["broken"] = False
    run("jodo_reprocess", "--since", ago(1).isoformat())
    assert statuses(old, recent) == [(Status.FAILED, 1), (Status.PROCESSED, 2)]


def test_reprocess_since_rejects_garbage():
    with pytest.raises(CommandError, match="not a date"):
        call_command("jodo_reprocess", "--since", "last tuesday", stdout=io.StringIO())


def test_reprocess_type(flaky):
    flaky_event, other = failed(event_type="test.flaky"), failed(event_type="test.other")
    flaky["broken"] = False
    run("jodo_reprocess", "--type", "test.other")
    assert statuses(flaky_event, other) == [(Status.FAILED, 1), (Status.PROCESSED, 2)]


def test_reprocess_dry_run_lists_and_changes_nothing(flaky):
    one, two = failed(event_type="test.flaky"), InboundEventFactory(event_type="test.other")
    flaky["broken"] = False
    result = run("jodo_reprocess", "--dry-run")
    lines = result.stdout.splitlines()
    assert lines[0] == "Would reprocess 2 event(s)."
    assert f"  {one.event_id}  test.flaky  failed" in lines
    assert f"  {two.event_id}  test.other  received" in lines
    assert statuses(one, two) == [(Status.FAILED, 1), (Status.RECEIVED, 0)]
    assert flaky["calls"] == []
    assert not Student.objects.exists()


def test_reprocess_force_reruns_processed_event(deliver):
    event = deliver_event(deliver, EnvelopeFactory())
    assert (event.status, event.attempts) == (Status.PROCESSED, 1)
    Student.objects.update(grade_name="edited")

    result = run("jodo_reprocess", "--event-id", event.event_id)
    assert result.stdout == "Reprocessed 0 event(s): nothing.\n"
    assert statuses(event) == [(Status.PROCESSED, 1)]
    assert Student.objects.get().grade_name == "edited"

    result = run("jodo_reprocess", "--force", "--event-id", event.event_id)
    assert result.stdout == "Reprocessed 1 event(s): 1 processed.\n"
    assert statuses(event) == [(Status.PROCESSED, 2)]
    assert Student.objects.get().grade_name == "Montessori 1"


def test_reprocess_still_failing_raises(flaky):
    one, two = failed(event_type="test.flaky"), failed(event_type="test.flaky")
    result = run("jodo_reprocess", "--failed", fails=True)
    assert result.error is not None
    assert str(result.error) == "2 event(s) still fail."
    assert result.error.returncode == 1
    assert result.stdout == "Reprocessed 2 event(s): 2 failed.\n"
    assert result.stderr == "[2/2] 2 failed\n"
    assert statuses(one, two) == [(Status.FAILED, 2), (Status.FAILED, 2)]
    assert not Student.objects.exists()


def test_reprocess_progress_every_hundred(connect_ok):
    for _ in range(150):
        InboundEventFactory(event_type="test.ok")
    result = run("jodo_reprocess", "--pending")
    assert result.stderr.splitlines() == ["[100/150] 100 processed", "[150/150] 150 processed"]
    assert result.stdout == "Reprocessed 150 event(s): 150 processed.\n"


@pytest.fixture
def connect_ok(connect_receiver) -> None:
    def receiver(sender: type, event: InboundEvent, event_type: str, **kwargs: Any) -> Any:
        return True if event_type == "test.ok" else None

    connect_receiver(receiver, "test.ok")


def test_reprocess_with_nothing_to_do():
    result = run("jodo_reprocess")
    assert result.stdout == "Reprocessed 0 event(s): nothing.\n"
    assert result.stderr == ""


# jodo_prune


@pytest.fixture
def aged_events() -> dict[str, InboundEvent]:
    old = ago(40)
    return {
        "processed": InboundEventFactory(status=Status.PROCESSED, received_at=old),
        "skipped": InboundEventFactory(status=Status.SKIPPED, received_at=old),
        "ignored": InboundEventFactory(status=Status.IGNORED, received_at=old),
        "failed": InboundEventFactory(status=Status.FAILED, received_at=old),
        "received": InboundEventFactory(status=Status.RECEIVED, received_at=old),
        "recent": InboundEventFactory(status=Status.PROCESSED, received_at=ago(5)),
    }


def remaining(events: dict[str, InboundEvent]) -> set[str]:
    pks = set(InboundEvent.objects.values_list("pk", flat=True))
    return {name for name, event in events.items() if event.pk in pks}


def test_prune_deletes_settled_events_older_than(aged_events):
    RejectedDelivery.objects.create(reason="signature", received_at=ago(40))
    recent_rejection = RejectedDelivery.objects.create(reason="signature")
    result = run("jodo_prune", "--older-than", "30")
    assert result.stdout.startswith("Deleted 3 event(s) received before ")
    assert result.stdout.endswith(
        "(1 ignored, 1 processed, 1 skipped) and 1 rejected deliveries.\n"
    )
    assert remaining(aged_events) == {"failed", "received", "recent"}
    assert list(RejectedDelivery.objects.all()) == [recent_rejection]


def test_prune_include_failed(aged_events):
    result = run("jodo_prune", "--older-than", "30", "--include-failed")
    assert "Deleted 4 event(s)" in result.stdout
    assert "(1 failed, 1 ignored, 1 processed, 1 skipped)" in result.stdout
    assert remaining(aged_events) == {"received", "recent"}


def test_prune_never_deletes_received(aged_events):
    run("jodo_prune", "--older-than", "0", "--include-failed")
    assert remaining(aged_events) == {"received"}


def test_prune_dry_run_deletes_nothing(aged_events):
    RejectedDelivery.objects.create(reason="signature", received_at=ago(40))
    result = run("jodo_prune", "--older-than", "30", "--dry-run")
    assert result.stdout.startswith("Would delete 3 event(s) received before ")
    assert result.stdout.endswith(
        "(1 ignored, 1 processed, 1 skipped) and 1 rejected deliveries.\n"
    )
    assert remaining(aged_events) == set(aged_events)
    assert RejectedDelivery.objects.count() == 1


def test_prune_in_batches():
    events = [InboundEventFactory(status=Status.PROCESSED, received_at=ago(10)) for _ in range(5)]
    result = run("jodo_prune", "--older-than", "1", "--batch-size", "2")
    assert "Deleted 5 event(s)" in result.stdout
    assert "(5 processed)" in result.stdout
    assert not InboundEvent.objects.filter(pk__in=[e.pk for e in events]).exists()


def test_prune_with_nothing_to_delete():
    InboundEventFactory(status=Status.PROCESSED)
    result = run("jodo_prune", "--older-than", "30")
    assert result.stdout.startswith("Deleted 0 event(s)")
    assert "(none) and 0 rejected deliveries." in result.stdout
    assert InboundEvent.objects.count() == 1


@pytest.mark.parametrize(
    "args", [["--older-than", "-1"], ["--older-than", "3", "--batch-size", "0"]]
)
def test_prune_refuses_bad_arguments(args):
    InboundEventFactory(status=Status.PROCESSED, received_at=ago(10))
    run("jodo_prune", *args, fails=True)
    assert InboundEvent.objects.count() == 1


# jodo_status


def test_status_when_empty():
    result = run("jodo_status")
    lines = result.stdout.splitlines()
    by_status = "received 0, processed 0, failed 0, skipped 0, ignored 0, dismissed 0"
    assert f"Events by status: {by_status}" in lines
    assert "Last event received: none yet" in lines
    assert "Latest rejected deliveries (0 kept):" in lines
    assert not any(line.startswith("Oldest failed event") for line in lines)


def test_status_healthy_returns_normally(deliver):
    event = deliver_event(deliver, EnvelopeFactory())
    deliver_event(deliver, EnvelopeFactory(event="direct.payment.added", payload={}))
    latest = InboundEvent.objects.get(event_type="direct.payment.added")
    deliver(b"{}", signature="0" * 64, REMOTE_ADDR="192.0.2.9")

    result = run("jodo_status")
    out = result.stdout
    assert f"  {'masterdata.student.registered':<40} {'processed':<10} {1:>8}" in out
    assert f"  {'direct.payment.added':<40} {'ignored':<10} {1:>8}" in out
    assert "Events by status: received 0, processed 1, failed 0, skipped 0, ignored 1," in out
    assert f"Last event received: {latest.event_id} (direct.payment.added, ignored)" in out
    assert event.event_id not in out
    assert "Latest rejected deliveries (1 kept):" in out
    assert "192.0.2.9" in out
    assert "signature: signature mismatch" in out


def test_status_with_failures_raises():
    oldest = failed(event_type="test.flaky", received_at=ago(3), last_error="ValueError: first")
    failed(event_type="test.flaky", received_at=ago(1), last_error="ValueError: second")
    failed(event_type="test.other", received_at=ago(2))
    InboundEventFactory(event_type="test.other", status=Status.PROCESSED)
    for reason in ("header", "malformed", "address"):
        RejectedDelivery.objects.create(reason=reason, detail=f"because {reason}")

    result = run("jodo_status", fails=True)
    assert str(result.error) == (
        "3 failed event(s) waiting: see `manage.py jodo_reprocess --failed`, or dismiss in "
        "the admin those that can never succeed."
    )
    out = result.stdout.splitlines()
    assert f"  {'test.flaky':<40} {'failed':<10} {2:>8}" in out
    assert f"  {'test.other':<40} {'failed':<10} {1:>8}" in out
    assert f"  {'test.other':<40} {'processed':<10} {1:>8}" in out
    assert (
        "Events by status: received 0, processed 1, failed 3, skipped 0, ignored 0, dismissed 0"
        in out
    )
    oldest_line = next(line for line in out if line.startswith("Oldest failed event: "))
    assert oldest.event_id in oldest_line
    assert out[out.index(oldest_line) + 1] == "  ValueError: first"
    assert "Latest rejected deliveries (3 kept):" in out
    for reason in ("header", "malformed", "address"):
        assert any(line.endswith(f"{reason}: because {reason}") for line in out)


def test_status_limits_rejected_deliveries():
    for n in range(7):
        RejectedDelivery.objects.create(reason="signature", detail=f"refusal {n}")
    out = run("jodo_status").stdout
    assert "Latest rejected deliveries (7 kept):" in out
    assert sum("signature: refusal" in line for line in out.splitlines()) == 5
    out = run("jodo_status", "--rejected", "2").stdout
    assert sum("signature: refusal" in line for line in out.splitlines()) == 2
