"""Correctness checks in the database: every 2xx has its row, every event applied exactly once.

A failed check fails the scenario (and the run's exit status); timings are never judged here.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from servers import Database, log

EVENTS = "jodo_webhooks_inboundevent"
STUDENTS = "students_student"
NOTES = "students_studentnote"
TASKS = "django_tasks_database_dbtaskresult"


@dataclass
class Result:
    """One scenario's outcome: measurements for the report, and its checks."""

    name: str
    title: str
    status: str = "ok"  # ok | skipped | failed | error
    reason: str = ""
    rounds: list[dict[str, Any]] = field(default_factory=list)
    summary: dict[str, Any] = field(default_factory=dict)
    checks: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def check(self, name: str, ok: bool, detail: Any = "") -> None:
        self.checks.append({"name": name, "ok": bool(ok), "detail": str(detail)})
        if not ok:
            log(f"CHECK FAILED [{self.name}] {name}: {detail}")
            if self.status == "ok":
                self.status = "failed"


def check_round(
    result: Result,
    db: Database,
    label: str,
    measured: dict[str, Any],
    sent: list[str],
    ok_ids: list[str],
    *,
    mode: str,  # "inline" | "task" | "reference"
) -> None:
    """After one wrk run: its answers, and the rows of the events it sent (`sent`, by event_id)
    and of those answered 2xx (`ok_ids`). Inline application: check_all_applied."""
    if not label.startswith("warm-up"):
        result.check(f"{label}: answered some deliveries", measured["ok_2xx"] > 0)
    result.check(
        f"{label}: no non-2xx answer and no socket error",
        measured["non_2xx"] == 0 and measured["socket_errors"] == 0,
        f"{measured['non_2xx']} non-2xx ({measured['statuses']}), "
        f"{measured['socket_errors']} socket errors",
    )
    result.check(
        f"{label}: every 2xx names an event id",
        len(ok_ids) == measured["ok_2xx"],
        f"{len(ok_ids)} ids for {measured['ok_2xx']} 2xx answers",
    )
    table = "ref_event" if mode == "reference" else EVENTS
    missing = db.scalar(
        f"SELECT count(*) FROM unnest(%s::text[]) AS o(event_id) "
        f"WHERE NOT EXISTS (SELECT FROM {table} e WHERE e.event_id = o.event_id)",
        [ok_ids],
    )
    result.check(f"{label}: every 2xx has its row", missing == 0, f"{missing} missing")
    if mode == "reference":
        return
    recorded, deliveries, mismatches, pending = db.row(
        f"SELECT count(*), coalesce(sum(delivery_count), 0), coalesce(sum(digest_mismatches), 0), "
        f"count(*) FILTER (WHERE status = 'received' AND attempts = 0) "
        f"FROM {EVENTS} WHERE event_id = ANY(%s)",
        [sent],
    )
    result.check(
        f"{label}: deliveries counted (sum of delivery_count >= 2xx answers)",
        deliveries >= len(ok_ids) and mismatches == 0,
        f"{deliveries} counted for {len(ok_ids)} 2xx answers, {mismatches} mismatches",
    )
    if mode == "task":
        result.check(
            f"{label}: every recorded event left for the workers (status received)",
            pending == recorded,
            f"{pending} of {recorded}",
        )


def check_all_applied(result: Result, db: Database, notes: int, attempts: int = 1) -> None:
    """Over the whole database: every event processed, `attempts` times, one student each."""
    total, good = db.row(
        f"SELECT count(*), count(*) FILTER (WHERE status = 'processed' AND attempts = %s) "
        f"FROM {EVENTS}",
        [attempts],
    )
    students = db.scalar(f"SELECT count(*) FROM {STUDENTS}")
    note_rows = db.scalar(f"SELECT count(*) FROM {NOTES} WHERE source = 'jodo'")
    result.check(
        f"all events in the database applied exactly once (attempts = {attempts})",
        total == good == students and note_rows == students * notes,
        f"{total} events, {good} processed with {attempts} attempt(s), {students} students, "
        f"{note_rows} notes",
    )
    result.summary["events_total"] = total


def check_enqueued(result: Result, db: Database) -> None:
    """Task mode, before the drain: a task for every recorded event."""
    events, tasks, distinct = db.row(
        f"SELECT (SELECT count(*) FROM {EVENTS}), count(*), "
        f"count(DISTINCT args_kwargs->'args'->>0) FROM {TASKS}"
    )
    result.check("every recorded event enqueued", events == distinct, f"{distinct} of {events}")
    result.summary["tasks_enqueued"] = tasks
    if tasks != distinct:
        result.notes.append(
            f"{tasks - distinct} extra tasks: redeliveries of events still pending enqueue "
            "again (the worker's claim makes them no-ops)"
        )


def check_tasks_done(result: Result, db: Database) -> None:
    """Task mode, after the drain: every task successful."""
    statuses = dict(db.conn.execute(f"SELECT status, count(*) FROM {TASKS} GROUP BY status"))
    result.summary["task_statuses"] = statuses
    result.check(
        "every task finished successfully", set(statuses) <= {"SUCCESSFUL"}, json.dumps(statuses)
    )
