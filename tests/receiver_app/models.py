"""The tiny receiver app of the app's own tests: a row a test receiver writes as its "work", to
show that work is committed with the outcome, or rolled back with a failed attempt."""

from django.db import models


class Work(models.Model):
    name = models.CharField(max_length=255, unique=True)
    label = models.CharField(max_length=255, blank=True)  # not unique: for the E007 checks
    done_at = models.DateTimeField(null=True)

    def __str__(self) -> str:
        return self.name
