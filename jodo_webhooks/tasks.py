"""The processing task for task mode (PROCESSING = "task"), run by any Tasks worker."""

from __future__ import annotations

from django.db import router

try:
    from django.tasks import task  # Django 6.0+
except ImportError:  # Django 5.2: the django-tasks backport
    from django_tasks import task  # type: ignore[no-redef]

from .processing import process_event


@task()
def process_event_task(event_pk: int) -> str | None:
    return process_event(event_pk)


def stores_tasks_in(db: str) -> bool:
    """Whether the task's backend keeps its queue in the database alias `db`: django-tasks-db's
    `DatabaseBackend` with its table routed there. Then the enqueue can share the INSERT's
    transaction; any other backend (Immediate, Redis...) is enqueued after the commit."""
    try:
        from django_tasks_db import DatabaseBackend
    except ImportError:  # another backend package, or none
        return False
    if not isinstance(process_event_task.get_backend(), DatabaseBackend):
        return False
    from django_tasks_db.models import DBTaskResult  # its app is installed with its backend

    return router.db_for_write(DBTaskResult) == db
