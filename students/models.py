from django.db import models

from jodo_webhooks.fields import ExactCharField


class Student(models.Model):
    class Status(models.TextChoices):
        ACTIVE = "active", "Active"
        DROPPED = "dropped", "Dropped"

    # The ids compare exactly on every database, as Jodo's do: "S1", "s1" and "S1 " are three
    # students (MariaDB's and MySQL's default collations would make them one).
    identifier = ExactCharField(max_length=255, unique=True)
    # NULL when absent: NULLs never collide, so "unique when present" holds on every database.
    custom_identifier = ExactCharField(max_length=255, unique=True, null=True, blank=True)
    jodo_student_id = ExactCharField(max_length=255, unique=True, null=True, blank=True)
    # Jodo sends null when no collector is configured, distinct from an empty code.
    collector_code = models.CharField(max_length=100, null=True, blank=True)  # noqa: DJ001
    grade_code = models.CharField(max_length=100, blank=True)
    grade_name = models.CharField(max_length=255, blank=True)
    academic_year_start = models.PositiveSmallIntegerField(null=True, blank=True)
    academic_year_end = models.PositiveSmallIntegerField(null=True, blank=True)
    primary_contact_number = models.CharField(max_length=32, blank=True)
    primary_contact_email = models.CharField(max_length=254, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.ACTIVE)
    # Jodo's timestamp of the newest event applied to this student; older events are stale.
    jodo_updated_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["identifier"]

    def __str__(self) -> str:
        return self.identifier


class StudentNote(models.Model):
    class Source(models.TextChoices):
        JODO = "jodo", "Jodo"
        ERP = "erp", "ERP"

    student = models.ForeignKey(Student, on_delete=models.CASCADE, related_name="notes")
    # Exact like the ids: Jodo's "Reg" and "reg" are two notes on every database.
    key = ExactCharField(max_length=255)
    value = models.TextField(blank=True)
    source = models.CharField(max_length=10, choices=Source.choices, default=Source.ERP)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["key"]
        constraints = [
            models.UniqueConstraint(fields=["student", "key"], name="student_note_unique_key")
        ]

    def __str__(self) -> str:
        return f"{self.key}={self.value}"


class FeePayment(models.Model):
    """A fee payment Jodo reported for a student: one row per Jodo payment id, never deleted.

    Every field but `created_at`/`updated_at` is Jodo's, written by the payment sync
    (students/jodo.py); a cancelled or bounced payment keeps its row, amounts and timestamps.
    """

    class State(models.TextChoices):
        RECEIVED = "received", "Received"
        SETTLED = "settled", "Settled"
        BOUNCED = "bounced", "Bounced"
        CANCELLED = "cancelled", "Cancelled"

    class Product(models.TextChoices):
        DIRECT = "direct", "Manual payment"
        FLEX_DOWNPAYMENT = "flex_downpayment", "Flex down payment"
        FLEX_INSTALMENT = "flex_instalment", "Flex instalment"
        PAY = "pay", "Pay"

    jodo_payment_id = ExactCharField(max_length=255, unique=True)
    # PROTECT: a student with payments cannot be deleted, so no payment is lost with it.
    student = models.ForeignKey(Student, on_delete=models.PROTECT, related_name="payments")
    product = models.CharField(max_length=20, choices=Product.choices)
    state = models.CharField(max_length=10, choices=State.choices)
    # Rupees to the paisa: up to 16 digits before the point, as Jodo's amounts.
    amount = models.DecimalField(max_digits=18, decimal_places=2)
    # amount minus the sum of the lines: 0 when they add up, NULL without lines.
    lines_difference = models.DecimalField(max_digits=18, decimal_places=2, null=True, blank=True)
    mode = models.CharField(max_length=255, blank=True)
    transaction_id = ExactCharField(max_length=255, blank=True)
    reference_id = models.CharField(max_length=255, blank=True)
    settlement_utr = ExactCharField(max_length=255, blank=True)
    notes = models.TextField(blank=True)
    subscription_id = models.CharField(max_length=255, blank=True)
    paid_at = models.DateTimeField(null=True, blank=True)
    settled_at = models.DateTimeField(null=True, blank=True)
    # When the event that set the current state happened (e.g. the cancellation).
    state_changed_at = models.DateTimeField(null=True, blank=True)
    # Jodo's timestamp of the newest event applied to this payment.
    jodo_updated_at = models.DateTimeField(null=True, blank=True)
    # The payment sync's own bookkeeping: which event each value came from.
    jodo_versions = models.JSONField(default=dict, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-paid_at", "-pk"]

    def __str__(self) -> str:
        return f"{self.jodo_payment_id} ({self.amount})"


class FeePaymentLine(models.Model):
    """One fee component of a payment (tuition, transport, ...), as Jodo splits it."""

    payment = models.ForeignKey(FeePayment, on_delete=models.PROTECT, related_name="lines")
    component = ExactCharField(max_length=255)
    amount = models.DecimalField(max_digits=18, decimal_places=2)
    settlement_utr = models.CharField(max_length=255, blank=True)
    settled_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["component"]
        constraints = [
            models.UniqueConstraint(
                fields=["payment", "component"], name="fee_payment_line_unique_component"
            )
        ]

    def __str__(self) -> str:
        return f"{self.component}: {self.amount}"
