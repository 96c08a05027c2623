"""The scenarios: what each one starts, sends, measures and checks (bench/README.md)."""

from __future__ import annotations

import os
import secrets
import statistics
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

from checks import EVENTS, Result, check_all_applied, check_enqueued, check_round, check_tasks_done
from load import Load
from servers import BENCH, PYTHON, Database, Server, Stack, log, rss_kib

SCENARIOS = {
    "inline": "Inline mode: record and apply in the request",
    "dupes": "Inline mode, {share}% duplicate deliveries",
    "task": "Task mode: record and enqueue (ingest), worker drain rate",
    "reprocess": "jodo_reprocess over stored events",
    "rss": "Gunicorn worker RSS over a long run (inline)",
    "profile": "In-process profile of the request path (pyinstrument)",
    "payments": "Payment events in-process: SQL statements per event",
}
TOOLS = BENCH / ".tools"  # pyinstrument, kept out of the locked .venv (`uv sync` strips it)


def median(values: list[float | None]) -> float | None:
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


class Harness:
    def __init__(self, args: Any) -> None:
        self.args = args
        self.out = Path(args.output or BENCH / "results" / args.run_id)
        self.short = secrets.token_hex(2)  # in this run's database names and student ids
        self.runs = 0  # wrk runs so far: each sends students of its own
        secret = secrets.token_hex(32)
        self.stack = Stack(args, self.out, secret, f"bench_{args.run_id}_{self.short}")
        self.load = Load(args, secret)

    def wrk(self, result: Result, server: Server, db: Database, label: str, mode: str, **kw):
        """One checked wrk run against `server`: its measurements."""
        self.runs += 1
        directory = self.out / result.name / f"{label.replace(' ', '')}-{server.name}"
        tag = f"{self.short}-{self.runs}"
        measured, sent, ok_ids = self.load.run(server, db, directory, tag=tag, **kw)
        check_round(result, db, label, measured, sent, ok_ids, mode=mode)
        log(
            f"{result.name}: {label} {server.name}: {measured['events_per_s']} events/s, p50 "
            f"{measured['p50_ms']} ms, p99 {measured['p99_ms']} ms, non-2xx {measured['non_2xx']}"
        )
        if measured["exhausted"]:
            result.notes.append(f"{label} {server.name} ran out of bodies: events/s too low")
        return measured

    # -- project against reference ----------------------------------------------------------

    def compare(self, result: Result, processing: str, dupes: float = 0.0) -> Database:
        """Warm-up, then rounds alternating project and reference, on one fresh database."""
        a = self.args
        db = self.stack.database(result.name)
        names = ["project", *(["baseline"] if a.baseline else []), "reference"]
        servers = [self.stack.gunicorn(name, db, processing) for name in names]
        modes = dict.fromkeys(names, processing) | {"reference": "reference"}
        for server in servers:
            self.wrk(result, server, db, "warm-up", modes[server.name], seconds=a.warmup)
        for n in range(1, a.rounds + 1):
            *measured, r = (
                self.wrk(
                    result, s, db, f"round {n}", modes[s.name], seconds=a.duration, dupes=dupes
                )
                for s in servers
            )
            for p in measured:  # the project (and the baseline) against this round's reference
                if r["events_per_s"] and r["p99_ms"]:
                    p["ratio_events_per_s"] = round(p["events_per_s"] / r["events_per_s"], 3)
                    p["ratio_p99"] = round(p["p99_ms"] / r["p99_ms"], 3)
            result.rounds += [m | {"round": n} for m in (*measured, r)]
        for server in servers:
            result.check(f"{server.name}: no error in the gunicorn log", server.errors() == 0)
            self.stack.stop(server.proc)
        if a.rounds < 3 and not a.smoke:
            result.notes.append("fewer than 3 rounds per receiver: indicative only")
        for name in names:
            rows = [r for r in result.rounds if r["receiver"] == name]
            for key in ("ratio_events_per_s", "ratio_p99", "events_per_s", "p99_ms"):
                result.summary[f"{name}_median_{key}"] = median([r.get(key) for r in rows])
        return db

    def scenario_inline(self, result: Result) -> None:
        db = self.compare(result, "inline")
        check_all_applied(result, db, self.args.notes)

    def scenario_dupes(self, result: Result) -> None:
        db = self.compare(result, "inline", dupes=self.args.duplicate_share)
        check_all_applied(result, db, self.args.notes)

    def scenario_task(self, result: Result) -> None:
        db = self.compare(result, "task")
        check_enqueued(result, db)
        self.drain(result, db)
        check_tasks_done(result, db)
        check_all_applied(result, db, self.args.notes)

    def drain(self, result: Result, db: Database) -> None:
        """Events applied per second by 1 db_worker (a third of the backlog), then by 2 (the rest).

        After ANALYZE, as a deployment runs: without statistics on the fresh task table,
        PostgreSQL sorts every ready task on each claim. The workers run with --batch (and the
        first with --max-tasks) and stop by themselves: a SIGTERM between a claim and the task's
        start would leave it RUNNING. The rate runs from the first poll that saw progress to the
        first that saw the final count, so start-up is not counted.
        """
        db.conn.execute("ANALYZE")
        processed = f"SELECT count(*) FROM {EVENTS} WHERE status <> 'received'"
        backlog = db.scalar(f"SELECT count(*) FROM {EVENTS} WHERE status = 'received'")
        deadline = time.monotonic() + 900
        result.summary["drain"] = []
        for count, extra in ((1, ["--max-tasks", str(max(1, backlog // 3))]), (2, [])):
            before = db.scalar(processed)
            argv = [PYTHON, "manage.py", "db_worker", "--no-startup-delay", "--batch", *extra]
            env = self.stack.env(db, "task")
            workers = [self.stack.start(argv, env, f"db_worker-{count}-{n}") for n in range(count)]
            polls = []
            while any(w.poll() is None for w in workers) and time.monotonic() < deadline:
                time.sleep(0.25)
                polls.append((time.monotonic(), db.scalar(processed)))
            for worker in workers:
                self.stack.stop(worker)
            row = {"workers": count, "events_applied": db.scalar(processed) - before}
            row |= {"seconds": None, "events_per_s": None}
            moving = [p for p in polls if p[1] > before]
            if moving:
                first, last = moving[0], next(p for p in moving if p[1] == moving[-1][1])
                if last[0] > first[0]:
                    row["seconds"] = round(last[0] - first[0], 2)
                    row["events_per_s"] = round((last[1] - first[1]) / row["seconds"], 1)
            result.summary["drain"].append(row)
            log(f"task: drain with {count} worker(s): {row['events_per_s']} events/s")
            result.check(f"drain with {count} worker(s) applied events", row["events_applied"] > 0)

    # -- the other scenarios ------------------------------------------------------------------

    def scenario_reprocess(self, result: Result) -> None:
        """jodo_reprocess --pending over stored, never processed events; then --force."""
        db, count = self.stack.database(result.name), self.args.reprocess_events
        log(f"reprocess: storing {count} unprocessed events")
        argv = [f"--count={count}", f"--notes={self.args.notes}", f"--tag={self.short}rp"]
        self.stack.script("seed_events.py", *argv, env=self.stack.env(db))
        db.conn.execute(f"VACUUM ANALYZE {EVENTS}")
        for flag, attempts, path in (("--pending", 1, "new students"), ("--force", 2, "updates")):
            db.conn.execute("CHECKPOINT")
            t0 = time.monotonic()
            done = self.stack.manage(db, "jodo_reprocess", flag, log_name=f"reprocess{flag}")
            seconds = round(time.monotonic() - t0, 2)
            result.check(f"jodo_reprocess {flag} exits 0", done.returncode == 0, done.stderr[-300:])
            row = {"run": f"jodo_reprocess {flag}", "events": count, "path": path}
            result.rounds.append(
                row | {"seconds": seconds, "events_per_s": round(count / seconds, 1)}
            )
            log(f"reprocess: {row['run']}: {count / seconds:.1f} events/s ({seconds}s)")
            check_all_applied(result, db, self.args.notes, attempts=attempts)

    def scenario_rss(self, result: Result) -> None:
        """The project alone under load for --rss-duration seconds, worker RSS every 0.5 s."""
        a = self.args
        db = self.stack.database(result.name)
        server = self.stack.gunicorn("project", db)
        self.wrk(result, server, db, "warm-up", "inline", seconds=a.warmup)
        samples: list[tuple[float, int, int]] = []  # (time, worker pid, RSS KiB)
        stop = threading.Event()

        def sample() -> None:
            while not stop.wait(0.5):
                now = time.monotonic()
                samples.extend((now, pid, rss_kib(pid) or 0) for pid in server.workers())

        threading.Thread(target=sample, daemon=True).start()
        start = time.monotonic()
        while (left := a.rss_duration - (time.monotonic() - start)) > 0:
            label = f"segment {len(result.rounds) + 1}"
            result.rounds.append(
                self.wrk(result, server, db, label, "inline", seconds=min(30, max(1, left)))
            )
        end = time.monotonic()
        stop.set()
        self.stack.stop(server.proc)
        quarters = [0.0] * 4  # peak worker RSS (MiB) in each quarter of the run
        for t, _, kib in samples:
            q = min(3, max(0, int(4 * (t - start) / (end - start))))
            quarters[q] = max(quarters[q], round(kib / 1024, 1))
        pids = sorted({pid for _, pid, _ in samples})
        growth = round(quarters[3] - quarters[1], 1)
        stable = growth <= max(2.0, 0.03 * quarters[1])
        result.summary |= {
            "seconds": round(end - start, 1),
            "events": sum(r["ok_2xx"] for r in result.rounds),
            "worker_pids": pids,
            "quarters": quarters,
            "growth_q2_to_q4_mib": growth,
            "stable": stable,
        }
        result.check("gunicorn workers were not replaced", len(pids) == a.workers, pids)
        check_all_applied(result, db, a.notes)
        if not a.smoke:
            result.check(
                "worker peak RSS does not keep growing (Q4 within max(2 MiB, 3%) of Q2)",
                stable,
                f"Q2 {quarters[1]} MiB, Q4 {quarters[3]} MiB",
            )

    def scenario_profile(self, result: Result) -> None:
        """In-process: the project inline, its task-mode ingest, and the reference."""
        probe = subprocess.run(
            [PYTHON, "-c", "import pyinstrument"], env=os.environ | {"PYTHONPATH": str(TOOLS)}
        )
        if probe.returncode != 0:
            result.status = "skipped"
            result.reason = (
                "pyinstrument is not installed (not a project dependency): python3 -m uv pip "
                "install --python .venv/bin/python --target bench/.tools pyinstrument"
            )
            return
        db = self.stack.database(result.name)
        runs = [("project", "inline", []), ("project-task-ingest", "task", [])]
        if self.args.baseline:  # the --baseline checkout's code, under its own virtualenv
            runs += [("baseline", "inline", []), ("baseline-task-ingest", "task", [])]
        for receiver, processing, flags in [*runs, ("reference", "inline", ["--reference"])]:
            argv = [f"--label={receiver}", *flags, f"--requests={self.args.profile_requests}"]
            argv += [f"--notes={self.args.notes}", f"--tag={self.short}p{len(result.rounds)}"]
            argv += [f"--out={self.out / f'profile-{receiver}'}"]
            env = self.stack.env(db, processing) | {"PYTHONPATH": str(TOOLS)}
            python = PYTHON
            if receiver.startswith("baseline"):
                env["BENCH_PROJECT_ROOT"] = str(self.args.baseline)
                python = str(self.args.baseline / ".venv" / "bin" / "python")
            data = self.stack.script("profile_request.py", *argv, env=env, python=python)
            result.rounds.append(data)
            log(f"profile: {receiver}: {data['ms_per_request']} ms/request in-process")

    def scenario_payments(self, result: Result) -> None:
        """Statements and time per payment event (bench/payment_statements.py)."""
        db = self.stack.database(result.name)
        count = 20 if self.args.smoke else 200
        argv = [f"--payments={count}", f"--tag={self.short}pay"]
        data = self.stack.script("payment_statements.py", *argv, env=self.stack.env(db))
        result.rounds += data["rounds"]
        result.check("every payment event applied, one row per payment", data["ok"], data["detail"])
        for row in data["rounds"]:
            log(f"payments: {row['event']}: {row['statements_per_event']} statements per event")
