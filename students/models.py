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
