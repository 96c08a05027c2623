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
