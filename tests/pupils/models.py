"""A second ERP for the tests, whose names differ from Jodo's and from the reference ERP's:
a boolean status, notes with no source field (every note is Jodo's), and a default manager that
hides dropped pupils."""

from __future__ import annotations

from django.db import models


class EnrolledPupils(models.Manager["Pupil"]):
    """Enrolled pupils only, as a soft-delete or "current students" manager shows them."""

    def get_queryset(self) -> models.QuerySet[Pupil]:
        return super().get_queryset().filter(enrolled=True)


class Pupil(models.Model):
    admission_no = models.CharField(max_length=255, unique=True)
    alt_admission_no = models.CharField(max_length=255, unique=True, null=True, blank=True)
    jodo_ref = models.CharField(max_length=255, unique=True, null=True, blank=True)
    class_code = models.CharField(max_length=100, blank=True)
    class_name = models.CharField(max_length=255, blank=True)
    session_from = models.PositiveSmallIntegerField(null=True)
    session_to = models.PositiveSmallIntegerField(null=True)
    guardian_email = models.CharField(max_length=254, blank=True)
    branch = models.CharField(max_length=100, blank=True)  # Jodo's collector code; "" for null
    enrolled = models.BooleanField(default=True)
    jodo_synced_at = models.DateTimeField(null=True)
    # Set by the mapping's before_save hook: something a field mapping cannot express.
    display_name = models.CharField(max_length=300, blank=True)

    # The default manager (the first) filters rows: the sync must not depend on it.
    objects = EnrolledPupils()
    every_pupil = models.Manager()  # noqa: DJ012 - a manager, not a field

    def __str__(self) -> str:
        return self.admission_no


class PupilTag(models.Model):
    pupil = models.ForeignKey(Pupil, on_delete=models.CASCADE, related_name="tags")
    label = models.CharField(max_length=255)
    text = models.TextField(blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["pupil", "label"], name="pupil_tag_label")]

    def __str__(self) -> str:
        return f"{self.label}={self.text}"


class Receipt(models.Model):
    """A fee receipt: this ERP's name for a Jodo payment, its amounts in integer paise and its
    state a number."""

    RECEIVED, SETTLED, BOUNCED, CANCELLED = 1, 2, 3, 4

    jodo_ref = models.CharField(max_length=255, unique=True)
    pupil = models.ForeignKey(Pupil, on_delete=models.PROTECT, related_name="receipts")
    paise = models.BigIntegerField()
    stage = models.PositiveSmallIntegerField()
    method = models.CharField(max_length=255, blank=True)
    utr = models.CharField(max_length=255, blank=True)
    cleared_on = models.DateTimeField(null=True)
    shortfall_paise = models.BigIntegerField(null=True)
    jodo_synced_at = models.DateTimeField(null=True)
    jodo_versions = models.JSONField(default=dict)

    def __str__(self) -> str:
        return self.jodo_ref


class ReceiptHead(models.Model):
    receipt = models.ForeignKey(Receipt, on_delete=models.PROTECT, related_name="heads")
    head = models.CharField(max_length=255)
    paise = models.BigIntegerField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["receipt", "head"], name="receipt_head")]

    def __str__(self) -> str:
        return f"{self.head}={self.paise}"
