from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.db.models import Count
from django.utils import timezone

from jodo_webhooks.models import RejectedDelivery
from jodo_webhooks.operations import delete_in_batches, format_counts, prunable_events


class Command(BaseCommand):
    help = (
        "Delete settled Jodo events (processed, skipped, ignored, dismissed; failed ones only "
        "with --include-failed) and rejected deliveries received more than DAYS days ago."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--older-than", type=int, required=True, metavar="DAYS")
        parser.add_argument("--include-failed", action="store_true")
        parser.add_argument("--batch-size", type=int, default=1000)
        parser.add_argument("--dry-run", action="store_true", help="Count, delete nothing.")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["older_than"] < 0 or options["batch_size"] < 1:
            raise CommandError("--older-than must be >= 0 and --batch-size >= 1.")
        cutoff = timezone.now() - timedelta(days=options["older_than"])
        events = prunable_events(cutoff, include_failed=options["include_failed"])
        rejected = RejectedDelivery.objects.filter(received_at__lt=cutoff)
        by_status = dict(events.order_by().values_list("status").annotate(n=Count("pk")))
        breakdown = format_counts(by_status) or "none"
        if options["dry_run"]:
            self.stdout.write(
                f"Would delete {sum(by_status.values())} event(s) received before "
                f"{cutoff:%Y-%m-%d %H:%M} ({breakdown}) and {rejected.count()} rejected "
                "deliveries."
            )
            return
        deleted_events = delete_in_batches(events, options["batch_size"])
        deleted_rejected = delete_in_batches(rejected, options["batch_size"])
        self.stdout.write(
            f"Deleted {deleted_events} event(s) received before {cutoff:%Y-%m-%d %H:%M} "
            f"({breakdown}) and {deleted_rejected} rejected deliveries."
        )
