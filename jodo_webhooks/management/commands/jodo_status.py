from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.db.models import Count

from jodo_webhooks.health import problems
from jodo_webhooks.models import InboundEvent, RejectedDelivery
from jodo_webhooks.monitoring import take_snapshot
from jodo_webhooks.signals import receivers_by_event_type

Status = InboundEvent.Status


class Command(BaseCommand):
    help = (
        "Health of the Jodo webhook receiver: events by status and type, the oldest failure, "
        "the last event received and the latest rejected deliveries. Exits 1 when failed "
        "events are waiting (dismissed ones do not count). With --check, only the health "
        "verdict: one line, and exit 1 with the reasons when something needs attention."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--rejected", type=int, default=5, help="Rejected deliveries to list.")
        parser.add_argument(
            "--check",
            action="store_true",
            help="Only the health verdict (the HEALTH_* thresholds), for cron and monit.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["check"]:
            return self.check_health()
        out = self.stdout.write
        rows = (
            InboundEvent.objects.order_by()
            .values_list("event_type", "status")
            .annotate(n=Count("pk"))
            .order_by("event_type", "status")
        )
        by_status = dict.fromkeys(Status.values, 0)
        out("Events by type and status:")
        for event_type, status, n in rows:
            by_status[status] += n
            out(f"  {event_type:<40} {status:<10} {n:>8}")
        out("Events by status: " + ", ".join(f"{s} {n}" for s, n in by_status.items()))
        # Payments whose student the ERP does not know yet: applied once it is (payment sync).
        out(f"Payments waiting for their student: {by_status[Status.WAITING]}")

        handled = receivers_by_event_type()
        out("Event types with receivers (others are recorded as ignored):")
        for event_type, names in sorted(handled.items()):
            out(f"  {event_type:<40} {', '.join(names)}")
        if not handled:
            out("  none")

        last = InboundEvent.objects.order_by("-received_at").first()
        out(f"Last event received: {_describe(last) if last else 'none yet'}")
        oldest_failed = (
            InboundEvent.objects.filter(status=Status.FAILED).order_by("received_at").first()
        )
        if oldest_failed:
            out(f"Oldest failed event: {_describe(oldest_failed)}")
            out(f"  {oldest_failed.last_error}")

        rejected = RejectedDelivery.objects.order_by("-received_at")[: options["rejected"]]
        out(f"Latest rejected deliveries ({RejectedDelivery.objects.count()} kept):")
        for refusal in rejected:
            out(
                f"  {refusal.received_at:%Y-%m-%d %H:%M:%S} {refusal.remote_addr or '-':<15} "
                f"{refusal.reason}: {refusal.detail}"
            )
        if by_status[Status.FAILED]:
            raise CommandError(
                f"{by_status[Status.FAILED]} failed event(s) waiting: "
                "see `manage.py jodo_reprocess --failed`, or dismiss in the admin those that "
                "can never succeed."
            )

    def check_health(self) -> None:
        snapshot = take_snapshot()
        found = problems(snapshot)
        if found:
            raise CommandError(
                "Jodo webhooks need attention:\n" + "\n".join(f"- {p.message}" for p in found)
            )
        last = snapshot.last_received_at
        self.stdout.write(
            f"OK: {snapshot.failed.count} failed, {snapshot.waiting.count} waiting, "
            f"last event received {f'{last:%Y-%m-%d %H:%M:%S %Z}' if last else 'never'}"
        )


def _describe(event: InboundEvent) -> str:
    return (
        f"{event.event_id} ({event.event_type}, {event.status}) received "
        f"{event.received_at:%Y-%m-%d %H:%M:%S %Z}"
    )
