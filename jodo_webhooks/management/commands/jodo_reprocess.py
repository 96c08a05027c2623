from __future__ import annotations

from collections import Counter
from datetime import datetime, time
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.utils.dateparse import parse_date, parse_datetime
from django.utils.timezone import get_current_timezone, is_naive, make_aware

from jodo_webhooks.models import InboundEvent
from jodo_webhooks.operations import format_counts, reprocess_events
from jodo_webhooks.processing import RETRYABLE_STATUSES

Status = InboundEvent.Status


def parse_since(value: str) -> datetime:
    """A date (midnight, local time) or an ISO datetime."""
    try:
        moment = parse_datetime(value)
        if moment is None and (day := parse_date(value)) is not None:
            moment = datetime.combine(day, time())
    except ValueError:
        moment = None
    if moment is None:
        raise CommandError(f"--since: {value!r} is not a date (YYYY-MM-DD) or an ISO datetime.")
    return make_aware(moment, get_current_timezone()) if is_naive(moment) else moment


class Command(BaseCommand):
    help = (
        "Process recorded Jodo events again: failed ones, pending ones (recorded but never "
        "processed, e.g. after a crash), dismissed ones, or chosen ones. Exits 1 when some "
        "still fail."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--failed", action="store_true", help="Events whose processing failed.")
        parser.add_argument(
            "--pending", action="store_true", help="Events recorded but never processed."
        )
        parser.add_argument(
            "--dismissed",
            action="store_true",
            help="Events an operator dismissed (failures acknowledged as hopeless); never "
            "taken otherwise, except with --force.",
        )
        parser.add_argument(
            "--event-id",
            action="append",
            default=[],
            dest="event_ids",
            metavar="ID",
            help="This event (repeatable).",
        )
        parser.add_argument("--since", help="Only events received at or after this date/time.")
        parser.add_argument("--type", dest="event_type", help="Only events of this type.")
        parser.add_argument(
            "--force",
            action="store_true",
            help="Also re-run events that already reached a final status (processed, skipped, "
            "ignored, dismissed).",
        )
        parser.add_argument("--dry-run", action="store_true", help="List, change nothing.")

    def handle(self, *args: Any, **options: Any) -> None:
        statuses = {Status.FAILED} if options["failed"] else set()
        if options["pending"]:
            statuses.add(Status.RECEIVED)
        if options["dismissed"]:
            statuses.add(Status.DISMISSED)
        if not statuses:
            statuses = set(Status) if options["force"] else set(RETRYABLE_STATUSES)
        events = InboundEvent.objects.filter(status__in=statuses)
        if options["event_ids"]:
            events = events.filter(event_id__in=options["event_ids"])
        if options["since"]:
            events = events.filter(received_at__gte=parse_since(options["since"]))
        if options["event_type"]:
            events = events.filter(event_type=options["event_type"])
        events = events.order_by("received_at", "pk")
        if options["dry_run"]:
            listing = list(events.values_list("event_id", "event_type", "status"))
            self.stdout.write(f"Would reprocess {len(listing)} event(s).")
            for event_id, event_type, status in listing:
                self.stdout.write(f"  {event_id}  {event_type}  {status}")
            return
        pks = list(events.values_list("pk", flat=True))
        total = len(pks)

        def progress(event_pk: int, outcome: str, outcomes: Counter[str]) -> None:
            done = outcomes.total()
            if done % 100 == 0 or done == total:
                self.stderr.write(f"[{done}/{total}] {format_counts(outcomes)}")

        # A dismissed event is final: only a forced run claims it.
        force = options["force"] or options["dismissed"]
        outcomes = reprocess_events(pks, force=force, progress=progress)
        summary = format_counts(outcomes) or "nothing"
        self.stdout.write(f"Reprocessed {total} event(s): {summary}.")
        if outcomes[Status.FAILED]:
            raise CommandError(f"{outcomes[Status.FAILED]} event(s) still fail.")
