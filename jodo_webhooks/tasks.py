"""The processing task for task mode (PROCESSING = "task"), run by any Tasks worker."""

try:
    from django.tasks import task  # Django 6.0+
except ImportError:  # Django 5.2: the django-tasks backport
    from django_tasks import task  # type: ignore[no-redef]

from .processing import process_event


@task()
def process_event_task(event_pk: int) -> str | None:
    return process_event(event_pk)
