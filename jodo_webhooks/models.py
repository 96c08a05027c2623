from __future__ import annotations

from django.db import models
from django.utils import timezone

from .fields import ExactCharField


class InboundEvent(models.Model):
    """One Jodo event, recorded once per `event_id` however often it is delivered."""

    class Status(models.TextChoices):
        RECEIVED = "received", "Received"  # recorded, not yet processed (or rolled back mid-way)
        PROCESSED = "processed", "Processed"  # a receiver applied it
        FAILED = "failed", "Failed"  # a receiver raised; see last_error
        SKIPPED = "skipped", "Skipped"  # deliberately not applied; see status_reason
        IGNORED = "ignored", "Ignored"  # no receiver handles this event type
        # A failure an operator acknowledged (it can never succeed): no longer counted as
        # one, still reprocessable on request. Who and why are in the admin log.
        DISMISSED = "dismissed", "Dismissed"

    # Compared byte for byte on every database: ids differing in case or spacing are two events.
    event_id = ExactCharField(max_length=255, unique=True)
    event_type = models.CharField(max_length=100, db_index=True)
    version = models.CharField(max_length=20)
    occurred_at = models.DateTimeField(help_text="Jodo's `timestamp`: when the event originated.")
    # Jodo's id of the student the event is about, when the payload names one (admin search).
    jodo_student_id = models.CharField(max_length=255, blank=True, db_index=True)
    # The school's own identifier of that student (`payload.student.identifier`), for search.
    student_identifier = models.CharField(max_length=255, blank=True)
    payload = models.JSONField()
    raw_body = models.TextField(help_text="The request body exactly as received.")
    payload_digest = models.CharField(
        max_length=64, help_text="SHA-256 of the envelope in canonical JSON form."
    )
    headers = models.JSONField(default=dict, help_text="Request headers, secrets removed.")
    remote_addr = models.GenericIPAddressField(null=True, blank=True)
    received_at = models.DateTimeField(default=timezone.now, db_index=True)

    status = models.CharField(max_length=20, choices=Status.choices, default=Status.RECEIVED)
    status_reason = models.TextField(blank=True)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)
    last_error_traceback = models.TextField(blank=True)
    # The records the last error names (an exception's `records`), as [model label, pk] pairs.
    error_records = models.JSONField(default=list, blank=True)
    processed_at = models.DateTimeField(null=True, blank=True)

    delivery_count = models.PositiveIntegerField(default=1)
    last_delivered_at = models.DateTimeField(default=timezone.now)
    digest_mismatches = models.PositiveIntegerField(
        default=0, help_text="Deliveries that reused this event_id with different content."
    )

    class Meta:
        ordering = ["-received_at"]
        indexes = [
            models.Index(fields=["status", "received_at"], name="jodo_event_status_received"),
            # Exact search only: unlike db_index, no second (pattern-ops) index on PostgreSQL.
            # The admin's event id prefix search uses the one Django adds for event_id.
            models.Index(fields=["student_identifier"], name="jodo_event_student_identifier"),
        ]
        permissions = [
            ("reprocess_inboundevent", "Can reprocess inbound events"),
            ("dismiss_inboundevent", "Can dismiss failed inbound events"),
        ]

    def __str__(self) -> str:
        return f"{self.event_type} {self.event_id}"


class RejectedDelivery(models.Model):
    """A request refused before an event was recorded, kept so operators can see why.

    Bounded: only the newest `REJECTED_DELIVERY_LIMIT` rows are kept (see rejections.py).
    """

    class Reason(models.TextChoices):
        SIGNATURE = "signature", "Signature"
        HEADER = "header", "Custom header"
        ADDRESS = "address", "Source address"
        NOT_CONFIGURED = "not_configured", "No authentication configured"
        TOO_LARGE = "too_large", "Body too large"
        MALFORMED = "malformed", "Malformed envelope"
        DIGEST_MISMATCH = "digest_mismatch", "Known event_id, different content"

    received_at = models.DateTimeField(default=timezone.now, db_index=True)
    remote_addr = models.GenericIPAddressField(null=True, blank=True)
    reason = models.CharField(max_length=20, choices=Reason.choices)
    detail = models.TextField(blank=True)
    event_id = models.CharField(max_length=255, blank=True)
    headers = models.JSONField(default=dict, help_text="Request headers, secrets removed.")
    body_prefix = models.TextField(blank=True, help_text="At most the first 4 KiB of the body.")
    hint = models.TextField(
        blank=True, help_text="What helps find the cause (e.g. a wrong secret), never a secret."
    )

    class Meta:
        ordering = ["-received_at"]
        verbose_name_plural = "rejected deliveries"

    def __str__(self) -> str:
        return f"{self.get_reason_display()} from {self.remote_addr or 'unknown'}"

    @property
    def event_id_verified(self) -> bool:
        """Whether the request passed authentication, so its event id is Jodo's own word.

        Before that (a signature, header or address refusal) the id is only what the body
        claims.
        """
        return self.reason in (self.Reason.MALFORMED, self.Reason.DIGEST_MISMATCH)
