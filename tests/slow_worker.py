"""A processing worker that stalls mid-transaction, for tests/test_worker_processes.py.

Run as `python -m tests.slow_worker EVENT_PK` (DATABASE_URL naming the test database): it
processes the event with `process_event`, whose receiver for `test.slow` events creates a Student
row (real, uncommitted work), prints READY and then sleeps, so the test can SIGKILL it while it
holds the event's claim and its half-done work.
"""

from __future__ import annotations

import os
import sys
import time
from typing import Any

EVENT_TYPE = "test.slow"
KILLED_STUDENT = "KILLED-WORK"
STALL_SECONDS = 60


def main(event_pk: int) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "erp_project.settings")
    import django

    django.setup()

    from jodo_webhooks.processing import process_event
    from jodo_webhooks.signals import register
    from students.models import Student

    def stall(sender: type, event: Any, event_type: str, **kwargs: Any) -> Any:
        if event_type != EVENT_TYPE:
            return None
        Student.objects.create(identifier=KILLED_STUDENT)
        print("READY", flush=True)
        time.sleep(STALL_SECONDS)
        return True

    register(stall, frozenset({EVENT_TYPE}), "tests.slow_worker.stall")
    print(f"process_event returned {process_event(event_pk)!r}", flush=True)


if __name__ == "__main__":
    main(int(sys.argv[1]))
