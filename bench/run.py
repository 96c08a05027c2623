#!/usr/bin/env python3
"""Benchmark harness: the project's Jodo receiving path against a minimal reference receiver.

    .venv/bin/python bench/run.py --scenario all --duration 20 --connections 16 \
        --workers 2 --rounds 3
    .venv/bin/python bench/run.py --smoke        # CI: a few hundred requests, checks only

Everything runs against PostgreSQL, a fresh database per scenario (created and dropped here),
with both receivers under the same gunicorn on 127.0.0.1, driven by wrk (bench/deliveries.lua).
See bench/README.md for the scenarios, the checks and what is reported. Standard library plus
psycopg (a project dependency); run it with the project's .venv Python.

Exit status: 0 when every correctness check passed (targets are reported, never enforced unless
--fail-on-targets), 1 when a check failed, 2 when the harness could not run (no wrk, no server).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import platform
import re
import secrets
import shlex
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
VENV_PYTHON = ROOT / ".venv" / "bin" / "python"

# Run under the project's virtualenv (psycopg, Django, gunicorn), whatever Python started us.
if VENV_PYTHON.exists() and Path(sys.prefix).resolve() != (ROOT / ".venv").resolve():
    os.execv(str(VENV_PYTHON), [str(VENV_PYTHON), *sys.argv])  # noqa: S606

sys.path.insert(0, str(BENCH))

import bodies

try:
    import psycopg
except ImportError:  # pragma: no cover - only without the venv
    sys.exit("bench/run.py needs psycopg: run bin/setup, then .venv/bin/python bench/run.py")

PYTHON = sys.executable
GUNICORN = str(Path(PYTHON).parent / "gunicorn")
EVENTS = "jodo_webhooks_inboundevent"
STUDENTS = "students_student"
NOTES = "students_studentnote"
SCENARIOS = ["inline", "dupes", "task", "reprocess", "rss", "profile"]
TARGETS = {
    "inline_ratio": 0.6,
    "task_ratio": 0.9,
    "p99_ratio": 2.0,
}
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


class HarnessError(Exception):
    """The harness cannot go on (missing tool, server that does not start...)."""


# --------------------------------------------------------------------------------------------
# Small helpers


def log(message: str) -> None:
    stamp = time.strftime("%H:%M:%S")
    print(f"[{stamp}] {message}", file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def median(values: list[float]) -> float | None:
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def md_table(headers: list[str], rows: list[list[Any]]) -> list[str]:
    """A markdown table followed by a blank line."""
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return [*lines, ""]


def fmt(value: Any, digits: int = 1) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


@dataclass
class Check:
    name: str
    ok: bool
    detail: str = ""


@dataclass
class ScenarioResult:
    name: str
    title: str
    status: str = "ok"  # ok | skipped | failed | error
    reason: str = ""
    rounds: list[dict[str, Any]] = field(default_factory=list)
    summary: dict[str, Any] = field(default_factory=dict)
    checks: list[Check] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def check(self, name: str, ok: bool, detail: str = "") -> None:
        self.checks.append(Check(name, bool(ok), detail))
        if not ok:
            log(f"CHECK FAILED [{self.name}] {name}: {detail}")
            if self.status == "ok":
                self.status = "failed"


# --------------------------------------------------------------------------------------------
# /proc: RSS and CPU of gunicorn workers and PostgreSQL backends


def proc_stat(pid: int) -> tuple[int, int] | None:
    """(ppid, utime+stime in clock ticks) of a process, None when it is gone."""
    try:
        data = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    rest = data[data.rfind(")") + 2 :].split()
    return int(rest[1]), int(rest[11]) + int(rest[12])


def proc_rss_kib(pid: int) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def children(pid: int) -> list[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
        return [int(p) for p in text.split()]
    except OSError:
        found = []
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                stat = proc_stat(int(entry.name))
                if stat and stat[0] == pid:
                    found.append(int(entry.name))
        return found


def cpu_ticks(pids: list[int]) -> dict[int, int]:
    out = {}
    for pid in pids:
        stat = proc_stat(pid)
        if stat:
            out[pid] = stat[1]
    return out


def cpu_delta_seconds(before: dict[int, int], after: dict[int, int]) -> float:
    """CPU used between two snapshots by the processes alive at the second. A process that
    started in between counts whole; one that ended in between is missed (CONN_MAX_AGE
    recycles PostgreSQL backends, so their pids change over a run)."""
    return sum(after[p] - before.get(p, 0) for p in after) / CLOCK_TICKS


def machine_busy() -> tuple[int, int]:
    """(busy, total) jiffies of the whole machine."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]
    return sum(fields) - idle, sum(fields)


# --------------------------------------------------------------------------------------------
# PostgreSQL


class Database:
    """A fresh database on the benchmark's PostgreSQL server, dropped by close()."""

    def __init__(self, server_url: str, name: str, keep: bool) -> None:
        parts = urllib.parse.urlsplit(server_url)
        self.name = name
        self.keep = keep
        self.closed = False
        admin_db = parts.path.lstrip("/") or "postgres"
        self.admin_url = urllib.parse.urlunsplit(parts._replace(path=f"/{admin_db}"))
        self.url = urllib.parse.urlunsplit(parts._replace(path=f"/{name}"))
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
            conn.execute(f'CREATE DATABASE "{name}"')
        self.conn = psycopg.connect(self.url, autocommit=True)

    def scalar(self, sql: str, params: Any = None) -> Any:
        row = self.conn.execute(sql, params).fetchone()
        return row[0] if row else None

    def rows(self, sql: str, params: Any = None) -> list[tuple]:
        return self.conn.execute(sql, params).fetchall()

    def table_exists(self, table: str) -> bool:
        return bool(self.scalar("SELECT to_regclass(%s) IS NOT NULL", [table]))

    def checkpoint(self) -> None:
        with contextlib.suppress(psycopg.Error):
            self.conn.execute("CHECKPOINT")

    def backend_pids(self) -> list[int]:
        return [
            pid
            for (pid,) in self.rows(
                "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
                "AND backend_type = 'client backend' AND pid <> pg_backend_pid()"
            )
        ]

    def load_ids(self, table: str, columns: tuple[str, ...], values: Iterator[tuple]) -> None:
        """(Re)create a temporary table of text columns and COPY `values` into it."""
        cols = ", ".join(f"{c} text" for c in columns)
        self.conn.execute(f"DROP TABLE IF EXISTS {table}")
        self.conn.execute(f"CREATE TEMP TABLE {table} ({cols})")
        with (
            self.conn.cursor() as cur,
            cur.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy,
        ):
            for row in values:
                copy.write_row(row)
        self.conn.execute(f"ANALYZE {table}")

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        with contextlib.suppress(Exception):
            self.conn.close()
        if self.keep:
            log(f"kept database {self.name}")
            return
        with (
            contextlib.suppress(psycopg.Error),
            psycopg.connect(self.admin_url, autocommit=True) as conn,
        ):
            conn.execute(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')


# --------------------------------------------------------------------------------------------
# Processes


class Processes:
    """Every process the harness starts, so that all are stopped whatever happens."""

    def __init__(self) -> None:
        self.procs: list[subprocess.Popen] = []

    def start(self, cmd: list[str], *, env: dict[str, str], log_path: Path, **kw: Any):
        log_path.parent.mkdir(parents=True, exist_ok=True)
        out = log_path.open("ab")
        proc = subprocess.Popen(
            cmd,
            env=env,
            cwd=kw.pop("cwd", ROOT),
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            **kw,
        )
        out.close()
        self.procs.append(proc)
        return proc

    def stop(self, proc: subprocess.Popen, timeout: float = 15) -> None:
        if proc.poll() is None:
            workers = children(proc.pid)
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                for pid in [proc.pid, *workers]:
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, signal.SIGKILL)
                proc.wait(5)
        if proc in self.procs:
            self.procs.remove(proc)

    def stop_all(self) -> None:
        for proc in list(self.procs):
            with contextlib.suppress(Exception):
                self.stop(proc, timeout=10)


@dataclass
class Server:
    name: str  # "project" or "reference"
    proc: subprocess.Popen
    port: int
    log_path: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/webhooks/jodo/"

    def workers(self) -> list[int]:
        return children(self.proc.pid)


class RssSampler(threading.Thread):
    """Samples the RSS of every registered server's gunicorn workers."""

    def __init__(self, interval: float = 0.5) -> None:
        super().__init__(daemon=True)
        self.interval = interval
        self.servers: dict[str, Server] = {}
        self.samples: list[tuple[float, str, int, int]] = []  # (t, server, pid, rss KiB)
        self.stopping = threading.Event()
        self.lock = threading.Lock()

    def run(self) -> None:
        while not self.stopping.wait(self.interval):
            now = time.monotonic()
            with self.lock:
                servers = list(self.servers.values())
            for server in servers:
                for pid in server.workers():
                    rss = proc_rss_kib(pid)
                    if rss is not None:
                        self.samples.append((now, server.name, pid, rss))

    def window(self, name: str, t0: float, t1: float) -> dict[str, Any]:
        mine = [s for s in self.samples if s[1] == name and t0 <= s[0] <= t1]
        if not mine:
            return {"peak_worker_rss_mib": None, "peak_total_rss_mib": None, "worker_pids": []}
        by_time: dict[float, int] = {}
        for t, _, _, rss in mine:
            by_time[t] = by_time.get(t, 0) + rss
        return {
            "peak_worker_rss_mib": round(max(s[3] for s in mine) / 1024, 1),
            "peak_total_rss_mib": round(max(by_time.values()) / 1024, 1),
            "worker_pids": sorted({s[2] for s in mine}),
        }


# --------------------------------------------------------------------------------------------
# The harness


class Harness:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.run_id = dt.datetime.now().strftime("%Y%m%d_%H%M%S")
        self.short = secrets.token_hex(2)
        self.out = Path(args.output or BENCH / "results" / self.run_id)
        self.out.mkdir(parents=True, exist_ok=True)
        self.secret = secrets.token_hex(32)
        self.procs = Processes()
        self.sampler = RssSampler()
        self.sampler.start()
        self.results: list[ScenarioResult] = []
        self.rate_seen: dict[str, float] = {}
        self.server_url = args.database_url
        self.databases: list[Database] = []
        self.task_table = "django_tasks_database_dbtaskresult"
        gunicorn_help = subprocess.run([GUNICORN, "--help"], capture_output=True, text=True)
        self.no_control_socket = "--no-control-socket" in gunicorn_help.stdout
        self.load_at_start = " ".join(Path("/proc/loadavg").read_text().split()[:3])
        self.commit_at_start = self.git_commit()

    # -- environment --------------------------------------------------------------------

    def env(self, db: Database, processing: str = "inline") -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("JODO_WEBHOOK_")}
        env.pop("DJANGO_SETTINGS_MODULE", None)
        env.update(
            {
                "DATABASE_URL": db.url,
                "SECRET_KEY": f"bench-{self.secret[:16]}-not-for-production",
                "DEBUG": "false",
                "ALLOWED_HOSTS": "127.0.0.1,localhost",
                "CONN_MAX_AGE": str(self.args.conn_max_age),
                "JODO_WEBHOOK_SECRETS": self.secret,
                "JODO_WEBHOOK_HEADER_NAME": "",
                "JODO_WEBHOOK_HEADER_VALUE": "",
                "JODO_WEBHOOK_ALLOWED_IPS": "",
                "JODO_WEBHOOK_TRUSTED_PROXIES": "0",
                "JODO_WEBHOOK_ALLOW_UNAUTHENTICATED": "false",
                "JODO_WEBHOOK_MAX_EVENT_AGE_DAYS": "0",
                "JODO_WEBHOOK_PROCESSING": processing,
                "PYTHONDONTWRITEBYTECODE": "1",
            }
        )
        return env

    def manage(
        self, db: Database, *argv: str, processing: str = "inline", log_name: str, timeout=900
    ) -> subprocess.CompletedProcess:
        cmd = [PYTHON, "manage.py", *argv]
        result = subprocess.run(
            cmd,
            env=self.env(db, processing),
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        (self.out / "logs").mkdir(exist_ok=True)
        (self.out / "logs" / f"{log_name}.log").write_text(
            f"$ {shlex.join(cmd)}\n[exit {result.returncode}]\n{result.stdout}\n{result.stderr}"
        )
        return result

    def bench_script(self, script: str, *argv: str, env: dict[str, str]) -> Any:
        """Run one of bench/'s scripts in the project's environment; the JSON of its last line."""
        proc = subprocess.run(
            [PYTHON, str(BENCH / script), *argv],
            env=env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=900,
        )
        if proc.returncode != 0:
            raise HarnessError(f"{script} failed:\n{proc.stderr[-3000:]}")
        return json.loads(proc.stdout.strip().splitlines()[-1])

    def new_database(self, scenario: str) -> Database:
        name = f"bench_{self.run_id}_{self.short}_{scenario}"
        db = Database(self.server_url, name, keep=self.args.keep_db)
        self.databases.append(db)
        result = self.manage(db, "migrate", "--no-input", log_name=f"{scenario}-migrate")
        if result.returncode != 0:
            db.close()
            raise HarnessError(f"migrate failed: see {self.out}/logs/{scenario}-migrate.log")
        db.conn.execute("CREATE TABLE ref_event (event_id text PRIMARY KEY, body jsonb NOT NULL)")
        return db

    # -- servers ------------------------------------------------------------------------

    def start_server(self, name: str, db: Database, processing: str = "inline") -> Server:
        port = free_port()
        log_path = self.out / "logs" / f"gunicorn-{name}-{processing}-{port}.log"
        cmd = [
            GUNICORN,
            "--workers",
            str(self.args.workers),
            "--worker-class",
            self.args.worker_class,
            "--bind",
            f"127.0.0.1:{port}",
            "--backlog",
            "2048",
            "--timeout",
            "60",
            "--graceful-timeout",
            "5",
            "--log-level",
            "warning",
        ]
        if self.args.threads:
            cmd += ["--threads", str(self.args.threads)]
        if self.no_control_socket:
            cmd += ["--no-control-socket"]  # gunicorn 25+: two masters would share one path
        if name == "reference":
            cmd += ["--pythonpath", str(BENCH), "reference.wsgi:application"]
        else:
            cmd += ["erp_project.wsgi:application"]
        env = self.env(db, processing)
        if name == "reference":
            env["DJANGO_SETTINGS_MODULE"] = "reference.settings"
        proc = self.procs.start(cmd, env=env, log_path=log_path)
        server = Server(name, proc, port, log_path)
        deadline = time.monotonic() + 30
        while True:
            if proc.poll() is not None:
                raise HarnessError(f"gunicorn ({name}) exited; see {log_path}")
            try:
                urllib.request.urlopen(server.url, timeout=2)  # noqa: S310 - our own loopback
                break
            except urllib.error.HTTPError:
                break  # any HTTP answer (405 for GET) means it serves
            except OSError:
                if time.monotonic() > deadline:
                    raise HarnessError(
                        f"gunicorn ({name}) did not answer; see {log_path}"
                    ) from None
                time.sleep(0.2)
        while len(server.workers()) < self.args.workers and time.monotonic() < deadline:
            time.sleep(0.1)
        with self.sampler.lock:
            self.sampler.servers[name] = server
        return server

    def stop_server(self, server: Server) -> None:
        with self.sampler.lock:
            if self.sampler.servers.get(server.name) is server:
                del self.sampler.servers[server.name]
        self.procs.stop(server.proc)

    def server_errors(self, server: Server) -> int:
        try:
            text = server.log_path.read_text(errors="replace")
        except OSError:
            return 0
        return len(re.findall(r"Traceback|\[ERROR\]| ERROR ", text))

    # -- one wrk run --------------------------------------------------------------------

    def budget(self, key: str, seconds: float) -> int:
        """How many distinct deliveries to generate for `seconds` of load."""
        if self.args.smoke:
            return self.args.smoke_requests
        rate = self.rate_seen.get(key, self.args.rate_guess)
        return int(rate * seconds * 2.0) + 500

    def wrk(
        self,
        server: Server,
        *,
        directory: Path,
        tag: str,
        seconds: float,
        budget_key: str,
        duplicate_share: float = 0.0,
        db: Database | None = None,
        retry: bool = True,
    ) -> tuple[dict[str, Any], list[bodies.Event]]:
        threads = min(self.args.wrk_threads, self.args.connections)
        count = self.budget(budget_key, seconds)
        shutil.rmtree(directory, ignore_errors=True)
        events = bodies.write_deliveries(
            directory,
            tag=tag,
            count=count,
            notes=self.args.notes,
            secret=self.secret,
            threads=threads,
            duplicate_share=duplicate_share,
        )
        if db is not None:
            db.checkpoint()
        workers = server.workers()
        backends = db.backend_pids() if db is not None else []
        cpu0, db0, busy0 = cpu_ticks(workers), cpu_ticks(backends), machine_busy()
        t0 = time.monotonic()
        cmd = [
            "wrk",
            f"-t{threads}",
            f"-c{self.args.connections}",
            f"-d{max(1, round(seconds))}s",
            f"--timeout={self.args.wrk_timeout}s",
            "-s",
            str(BENCH / "deliveries.lua"),
            server.url,
        ]
        proc = subprocess.run(
            cmd,
            env={**os.environ, "BENCH_DIR": str(directory)},
            capture_output=True,
            text=True,
            timeout=seconds + 120,
        )
        t1 = time.monotonic()
        (directory / "wrk.txt").write_text(f"$ {shlex.join(cmd)}\n{proc.stdout}\n{proc.stderr}")
        line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("BENCH_JSON ")), None)
        if proc.returncode != 0 or line is None:
            raise HarnessError(f"wrk failed (exit {proc.returncode}); see {directory}/wrk.txt")
        data = json.loads(line.removeprefix("BENCH_JSON "))
        time.sleep(0.5 if self.args.smoke else 1.0)  # let requests wrk abandoned finish
        backends = db.backend_pids() if db is not None else []
        cpu1, db1, busy1 = cpu_ticks(workers), cpu_ticks(backends), machine_busy()

        ok_ids: list[str] = []
        for path in sorted(directory.glob("ok.*")):
            ok_ids += path.read_text().split()
        if not self.args.keep_bodies:
            for path in directory.glob("bodies.*"):
                path.unlink()  # tens of MB per round; the harness keeps the event ids it needs
        seconds_run = data["duration_us"] / 1e6
        result = {
            "receiver": server.name,
            "seconds": round(seconds_run, 2),
            "requests": data["requests"],
            "ok_2xx": data["ok"],
            "non_2xx": data["non2xx"],
            "statuses": data["statuses"],
            "socket_errors": data["errors_connect"]
            + data["errors_read"]
            + data["errors_write"]
            + data["errors_timeout"],
            "timeouts": data["errors_timeout"],
            "events_per_s": round(data["ok"] / seconds_run, 1) if seconds_run else None,
            "p50_ms": data["latency_p50_us"] / 1000,
            "p95_ms": data["latency_p95_us"] / 1000,
            "p99_ms": data["latency_p99_us"] / 1000,
            "max_ms": data["latency_max_us"] / 1000,
            "mean_ms": round(data["latency_mean_us"] / 1000, 3),
            "distinct_bodies": len(events),
            "bodies_generated": count,
            "exhausted": data["exhausted"],
            "worker_cpu_ms_per_event": round(cpu_delta_seconds(cpu0, cpu1) * 1000 / data["ok"], 3)
            if data["ok"]
            else None,
            "db_cpu_ms_per_event": round(cpu_delta_seconds(db0, db1) * 1000 / data["ok"], 3)
            if data["ok"] and db is not None
            else None,
            "machine_busy_pct": round(100 * (busy1[0] - busy0[0]) / max(1, busy1[1] - busy0[1]))
            if busy1[1] > busy0[1]
            else None,
            **self.sampler.window(server.name, t0, t1),
            "ok_event_ids": ok_ids,  # removed before the summary is written
        }
        if data["exhausted"] and not self.args.smoke and retry:
            log(f"{server.name}: ran out of bodies ({count}); running the round again with more")
            self.rate_seen[budget_key] = max(
                self.rate_seen.get(budget_key, 0), 2 * data["ok"] / max(seconds_run, 0.1)
            )
            return self.wrk(
                server,
                directory=directory,
                tag=tag + "x",
                seconds=seconds,
                budget_key=budget_key,
                duplicate_share=duplicate_share,
                db=db,
                retry=False,
            )
        if result["events_per_s"]:
            self.rate_seen[budget_key] = max(
                self.rate_seen.get(budget_key, 0), result["events_per_s"]
            )
        return result, events

    # -- per-round correctness checks ---------------------------------------------------

    def check_round(
        self,
        result: ScenarioResult,
        db: Database,
        label: str,
        measured: dict[str, Any],
        events: list[bodies.Event],
        *,
        mode: str,  # "inline" | "task" | "reference"
    ) -> None:
        ok_ids = measured.pop("ok_event_ids")
        db.load_ids("bench_ok", ("event_id",), ((i,) for i in ok_ids))
        db.load_ids("bench_sent", ("event_id", "identifier"), (astuple(e) for e in events))
        prefix = f"{label}: "
        if not label.startswith("warm-up"):
            result.check(prefix + "answered some deliveries", measured["ok_2xx"] > 0)
        sock = measured["socket_errors"]
        result.check(
            prefix + "no non-2xx answer and no socket error",
            measured["non_2xx"] == 0 and sock == 0,
            f"{measured['non_2xx']} non-2xx ({measured['statuses']}), {sock} socket errors",
        )
        result.check(
            prefix + "every 2xx names an event id",
            len(ok_ids) == measured["ok_2xx"],
            f"{len(ok_ids)} ids for {measured['ok_2xx']} 2xx answers",
        )
        if mode == "reference":
            missing = db.scalar(
                "SELECT count(*) FROM bench_ok o LEFT JOIN ref_event r USING (event_id) "
                "WHERE r.event_id IS NULL"
            )
            result.check(prefix + "every 2xx has its row", missing == 0, f"{missing} missing")
            return
        missing = db.scalar(
            f"SELECT count(*) FROM bench_ok o LEFT JOIN {EVENTS} e USING (event_id) "
            "WHERE e.id IS NULL"
        )
        result.check(prefix + "every 2xx has its row", missing == 0, f"{missing} missing")
        recorded, deliveries, mismatches = db.rows(
            f"SELECT count(*), coalesce(sum(delivery_count), 0), "
            f"coalesce(sum(digest_mismatches), 0) FROM bench_sent s JOIN {EVENTS} e "
            "USING (event_id)"
        )[0]
        measured["events_recorded"] = recorded
        result.check(
            prefix + "deliveries counted (sum of delivery_count >= 2xx answers)",
            deliveries >= len(ok_ids) and mismatches == 0,
            f"{deliveries} counted for {len(ok_ids)} 2xx answers, {mismatches} mismatches",
        )
        if mode == "inline":
            applied_once = db.scalar(
                f"SELECT count(*) FROM bench_sent s JOIN {EVENTS} e USING (event_id) "
                "WHERE e.status = 'processed' AND e.attempts = 1"
            )
            students, notes = db.rows(
                f"SELECT count(DISTINCT st.id), count(n.id) FROM bench_sent s "
                f"JOIN {EVENTS} e USING (event_id) "
                f"JOIN {STUDENTS} st ON st.identifier = s.identifier "
                f"LEFT JOIN {NOTES} n ON n.student_id = st.id AND n.source = 'jodo'"
            )[0]
            want_notes = recorded * self.args.notes
            result.check(
                prefix + "every recorded event applied exactly once",
                applied_once == recorded == students and notes == want_notes,
                f"{recorded} recorded, {applied_once} processed with 1 attempt, "
                f"{students} students, {notes}/{want_notes} notes",
            )
        else:  # task mode ingest: recorded and enqueued, not processed yet
            pending = db.scalar(
                f"SELECT count(*) FROM bench_sent s JOIN {EVENTS} e USING (event_id) "
                "WHERE e.status = 'received' AND e.attempts = 0"
            )
            result.check(
                prefix + "every recorded event left for the workers (status received)",
                pending == recorded,
                f"{pending} of {recorded}",
            )

    # -- comparison scenarios -------------------------------------------------------------

    def compare(
        self, result: ScenarioResult, *, processing: str, duplicate_share: float = 0.0
    ) -> Database:
        args = self.args
        db = self.new_database(result.name)
        servers = {
            "project": self.start_server("project", db, processing),
            "reference": self.start_server("reference", db),
        }
        modes = {"project": processing, "reference": "reference"}
        base = self.out / result.name

        def run_checked(name: str, label: str, key: str, seconds: float, share: float) -> dict:
            """One wrk run against `name`'s server, checked in the database afterwards."""
            measured, events = self.wrk(
                servers[name],
                directory=base / f"{label.replace(' ', '')}-{name}",
                tag=f"{self.short}{result.name[0]}{key}{name[0]}",
                seconds=seconds,
                budget_key=f"{result.name}:{name}",
                duplicate_share=share,
                db=db,
            )
            self.check_round(result, db, f"{label} {name}", measured, events, mode=modes[name])
            return measured

        try:
            for name in servers:
                warm = run_checked(name, "warm-up", "w", args.warmup, 0.0)
                log(f"{result.name}: warm-up {name}: {fmt(warm['events_per_s'])} events/s")
            for n in range(1, args.rounds + 1):
                pair = {}
                for name in servers:
                    share = duplicate_share
                    measured = run_checked(name, f"round {n}", str(n), args.duration, share)
                    measured["round"] = n
                    result.rounds.append(measured)
                    pair[name] = measured
                    log(
                        f"{result.name}: round {n} {name}: {fmt(measured['events_per_s'])} "
                        f"events/s, p50 {fmt(measured['p50_ms'], 2)} ms, "
                        f"p99 {fmt(measured['p99_ms'], 2)} ms, non-2xx {measured['non_2xx']}"
                    )
                p, r = pair["project"], pair["reference"]
                if p["events_per_s"] and r["events_per_s"]:
                    p["ratio_events_per_s"] = round(p["events_per_s"] / r["events_per_s"], 3)
                if p["p99_ms"] and r["p99_ms"]:
                    p["ratio_p99"] = round(p["p99_ms"] / r["p99_ms"], 3)
            for name, server in servers.items():
                errors = self.server_errors(server)
                result.check(f"{name}: no error in the gunicorn log", errors == 0, f"{errors}")
        finally:
            for server in servers.values():
                self.stop_server(server)
        project = [r for r in result.rounds if r["receiver"] == "project"]
        reference = [r for r in result.rounds if r["receiver"] == "reference"]
        if args.rounds < 3 and not args.smoke:
            result.notes.append("fewer than 3 rounds per receiver: indicative only")
        result.summary.update(
            {
                "median_ratio_events_per_s": median([r.get("ratio_events_per_s") for r in project]),
                "median_ratio_p99": median([r.get("ratio_p99") for r in project]),
                "project_median_events_per_s": median([r["events_per_s"] for r in project]),
                "reference_median_events_per_s": median([r["events_per_s"] for r in reference]),
                "project_median_p99_ms": median([r["p99_ms"] for r in project]),
                "reference_median_p99_ms": median([r["p99_ms"] for r in reference]),
                "project_peak_worker_rss_mib": max(
                    (r["peak_worker_rss_mib"] or 0 for r in project), default=None
                ),
            }
        )
        return db

    def scenario_inline(self, result: ScenarioResult) -> None:
        db = self.compare(result, processing="inline")
        try:
            self.check_all_applied(result, db)
        finally:
            db.close()

    def scenario_dupes(self, result: ScenarioResult) -> None:
        db = self.compare(result, processing="inline", duplicate_share=self.args.duplicate_share)
        try:
            self.check_all_applied(result, db)
        finally:
            db.close()

    def check_all_applied(self, result: ScenarioResult, db: Database, attempts: int = 1) -> None:
        """Over the whole database: every event processed exactly `attempts` times."""
        total, good = db.rows(
            f"SELECT count(*), count(*) FILTER (WHERE status = 'processed' "
            f"AND attempts = %s) FROM {EVENTS}",
            [attempts],
        )[0]
        students = db.scalar(f"SELECT count(*) FROM {STUDENTS}")
        notes = db.scalar(f"SELECT count(*) FROM {NOTES} WHERE source = 'jodo'")
        result.check(
            f"all events in the database applied exactly once (attempts = {attempts})",
            total == good == students and notes == students * self.args.notes,
            f"{total} events, {good} processed with {attempts} attempt(s), {students} students, "
            f"{notes} notes",
        )
        result.summary["events_total"] = total

    # -- task mode ------------------------------------------------------------------------

    def task_mode_missing(self, db: Database) -> str | None:
        """Why task mode cannot be measured, or None; finds the task table's name."""
        probe = self.manage(
            db,
            "shell",
            "-c",
            "from jodo_webhooks.conf import app_settings; print(app_settings.PROCESSING); "
            "from django_tasks_db.models import DBTaskResult; print(DBTaskResult._meta.db_table)",
            processing="task",
            log_name="task-probe",
        )
        lines = probe.stdout.strip().splitlines()
        if probe.returncode != 0 or len(lines) < 2 or lines[-2] != "task":
            return (
                "task mode is not available (JODO_WEBHOOK_PROCESSING=task not understood, or "
                "django-tasks-db missing); see logs/task-probe.log"
            )
        self.task_table = lines[-1]
        worker = self.manage(db, "help", "db_worker", log_name="task-probe-worker")
        if worker.returncode != 0:
            return "`manage.py db_worker` is not available (django-tasks-db not installed)"
        if not db.table_exists(self.task_table):
            return f"the task table {self.task_table} does not exist after migrate"
        return None

    def scenario_task(self, result: ScenarioResult) -> None:
        probe_db = self.new_database("taskprobe")
        try:
            missing = self.task_mode_missing(probe_db)
        finally:
            probe_db.close()
        if missing:
            result.status, result.reason = "skipped", missing
            log(f"task: SKIPPED: {missing}")
            return
        db = self.compare(result, processing="task")
        try:
            events, tasks, distinct = db.rows(
                f"SELECT (SELECT count(*) FROM {EVENTS}), count(*), "
                f"count(DISTINCT args_kwargs->'args'->>0) FROM {self.task_table}"
            )[0]
            result.check(
                "every recorded event enqueued",
                events == distinct,
                f"{events} events, {distinct} of them with a task",
            )
            result.summary["tasks_enqueued"] = tasks
            if tasks != distinct:
                result.notes.append(
                    f"{tasks - distinct} extra tasks: redeliveries of events still pending "
                    "enqueue again (the worker's claim makes them no-ops)"
                )
            self.drain(result, db)
        finally:
            db.close()

    def processed(self, db: Database) -> int:
        return db.scalar(f"SELECT count(*) FROM {EVENTS} WHERE status <> 'received'")

    def start_workers(self, db: Database, count: int, label: str, *extra: str) -> list:
        env = self.env(db, "task")
        return [
            self.procs.start(
                [PYTHON, "manage.py", "db_worker", "--no-startup-delay", *extra],
                env=env,
                log_path=self.out / "logs" / f"db_worker-{label}-{n}.log",
            )
            for n in range(count)
        ]

    def drain(self, result: ScenarioResult, db: Database) -> None:
        """Events applied per second by 1, then by 2 db_worker processes, draining everything.

        The workers run with --batch (and the first with --max-tasks), so they stop by
        themselves: a SIGTERM between a worker's claim of a task and its start would leave
        that task RUNNING for good. The rate is taken between the first poll that saw progress
        and the first that saw the phase's final count, so start-up is not counted.

        The backlog was written seconds ago, into a task table with no statistics yet: until
        autovacuum analyzes it (within a minute or so), PostgreSQL sorts every ready task on
        each claim. The drain is measured after ANALYZE, as a deployment runs it.
        """
        db.conn.execute("ANALYZE")
        backlog = db.scalar(f"SELECT count(*) FROM {EVENTS} WHERE status = 'received'")
        phases = [(1, ["--max-tasks", str(max(1, backlog // 3))]), (2, [])]
        drains = []
        deadline = time.monotonic() + self.args.drain_timeout
        for count, extra in phases:
            before = self.processed(db)
            workers = self.start_workers(db, count, f"drain{count}", "--batch", *extra)
            polls: list[tuple[float, int]] = []
            while True:
                time.sleep(0.25)
                polls.append((time.monotonic(), self.processed(db)))
                if all(w.poll() is not None for w in workers):
                    break
                if time.monotonic() > deadline:
                    log(f"task: drain timed out after {self.args.drain_timeout}s")
                    break
            for worker in workers:
                self.procs.stop(worker)
            final = self.processed(db)
            moving = [p for p in polls if p[1] > before]
            row: dict[str, Any] = {
                "workers": count,
                "events_applied": final - before,
                "seconds": None,
                "events_per_s": None,
                "backlog_before": backlog - before,
            }
            if len(moving) >= 2:
                first = moving[0]
                last = next(p for p in moving if p[1] == moving[-1][1])
                if last[0] > first[0]:
                    row["seconds"] = round(last[0] - first[0], 2)
                    row["events_per_s"] = round((last[1] - first[1]) / (last[0] - first[0]), 1)
            drains.append(row)
            log(f"task: drain with {count} worker(s): {fmt(row['events_per_s'])} events/s")
            result.check(
                f"drain with {count} worker(s) applied events",
                row["events_applied"] > 0,
                json.dumps(row),
            )
        result.summary["drain"] = drains
        statuses = dict(db.rows(f"SELECT status, count(*) FROM {self.task_table} GROUP BY status"))
        result.summary["task_statuses"] = statuses
        result.check(
            "every task finished successfully",
            set(statuses) <= {"SUCCESSFUL"},
            json.dumps(statuses),
        )
        self.check_all_applied(result, db)

    # -- jodo_reprocess ----------------------------------------------------------------------

    def scenario_reprocess(self, result: ScenarioResult) -> None:
        db = self.new_database(result.name)
        try:
            help_text = self.manage(db, "help", "jodo_reprocess", log_name="reprocess-help")
            if help_text.returncode != 0 or "--pending" not in help_text.stdout:
                result.status = "skipped"
                result.reason = "`manage.py jodo_reprocess --pending` is not available yet"
                log(f"reprocess: SKIPPED: {result.reason}")
                return
            count = self.args.reprocess_events
            log(f"reprocess: storing {count} unprocessed events")
            self.bench_script(
                "seed_events.py",
                f"--count={count}",
                f"--notes={self.args.notes}",
                f"--tag={self.short}rp",
                env=self.env(db),
            )
            db.conn.execute(f"VACUUM ANALYZE {EVENTS}")
            runs = [("pending", ["--pending"], 1)]
            if "--force" in help_text.stdout:
                runs.append(("force", ["--force"], 2))
            for label, flags, attempts in runs:
                db.checkpoint()
                t0 = time.monotonic()
                done = self.manage(
                    db, "jodo_reprocess", *flags, log_name=f"reprocess-{label}", timeout=3600
                )
                seconds = time.monotonic() - t0
                result.check(
                    f"jodo_reprocess {' '.join(flags)} exits 0",
                    done.returncode == 0,
                    (done.stdout + done.stderr)[-300:],
                )
                t0 = time.monotonic()
                self.manage(
                    db,
                    "jodo_reprocess",
                    "--pending",
                    "--event-id=none",
                    log_name=f"reprocess-{label}-startup",
                )
                startup = time.monotonic() - t0
                row = {
                    "run": f"jodo_reprocess {' '.join(flags)}",
                    "events": count,
                    "seconds": round(seconds, 2),
                    "events_per_s": round(count / seconds, 1),
                    "startup_seconds": round(startup, 2),
                    "events_per_s_excluding_startup": round(
                        count / max(seconds - startup, 1e-3), 1
                    ),
                    "path": "new students" if attempts == 1 else "existing students (update)",
                }
                result.rounds.append(row)
                log(f"reprocess: {row['run']}: {row['events_per_s']} events/s ({seconds:.1f}s)")
                self.check_all_applied(result, db, attempts=attempts)
        finally:
            db.close()

    # -- RSS over a long run -------------------------------------------------------------------

    def scenario_rss(self, result: ScenarioResult) -> None:
        db = self.new_database(result.name)
        server = self.start_server("project", db, "inline")
        total = self.args.rss_duration
        segment = min(total, 30)
        try:
            self.wrk(
                server,
                directory=self.out / "rss" / "warmup",
                tag=f"{self.short}sw",
                seconds=self.args.warmup,
                budget_key="rss",
                db=db,
            )
            t_start = time.monotonic()
            elapsed, n = 0.0, 0
            while elapsed < total:
                n += 1
                measured, events = self.wrk(
                    server,
                    directory=self.out / "rss" / f"segment{n}",
                    tag=f"{self.short}s{n}",
                    seconds=min(segment, max(1, total - elapsed)),
                    budget_key="rss",
                    db=db,
                )
                self.check_round(result, db, f"segment {n}", measured, events, mode="inline")
                measured["segment"] = n
                result.rounds.append(measured)
                elapsed = time.monotonic() - t_start
                shutil.rmtree(self.out / "rss" / f"segment{n}", ignore_errors=True)
            t_end = time.monotonic()
        finally:
            self.stop_server(server)
        samples = [
            s for s in self.sampler.samples if s[1] == "project" and t_start <= s[0] <= t_end
        ]
        pids = sorted({s[2] for s in samples})
        quarters: list[dict[str, Any]] = []
        span = (t_end - t_start) / 4
        for q in range(4):
            lo, hi = t_start + q * span, t_start + (q + 1) * span
            window = [s for s in samples if lo <= s[0] <= hi]
            quarters.append(
                {
                    "quarter": q + 1,
                    "peak_worker_rss_mib": round(max((s[3] for s in window), default=0) / 1024, 1),
                }
            )
        series = [{"t": round(s[0] - t_start, 1), "pid": s[2], "rss_kib": s[3]} for s in samples]
        (self.out / "rss_series.json").write_text(json.dumps(series))
        second, last = quarters[1]["peak_worker_rss_mib"], quarters[3]["peak_worker_rss_mib"]
        growth = round(last - second, 1)
        stable = growth <= max(2.0, 0.03 * second)
        result.summary.update(
            {
                "seconds": round(t_end - t_start, 1),
                "events": sum(r["ok_2xx"] for r in result.rounds),
                "worker_pids": pids,
                "quarters": quarters,
                "growth_q2_to_q4_mib": growth,
                "stable": stable,
            }
        )
        result.check(
            "gunicorn workers were not replaced during the run",
            len(pids) == self.args.workers,
            f"pids seen: {pids}",
        )
        if not self.args.smoke:
            result.check(
                "worker peak RSS does not keep growing (Q4 peak within max(2 MiB, 3%) of Q2)",
                stable,
                f"Q2 {second} MiB, Q4 {last} MiB",
            )
        db.close()

    # -- profile ---------------------------------------------------------------------------------

    def scenario_profile(self, result: ScenarioResult) -> None:
        # pyinstrument is no project dependency: the venv's, or bench/.tools (kept apart from
        # the locked .venv, which `uv sync` would strip of it).
        env_extra = {}
        for path in (None, BENCH / ".tools"):
            extra = {"PYTHONPATH": str(path)} if path else {}
            probe = subprocess.run(
                [PYTHON, "-c", "import pyinstrument"],
                capture_output=True,
                env={**os.environ, **extra},
            )
            if probe.returncode == 0:
                env_extra = extra
                break
        else:
            result.status = "skipped"
            result.reason = (
                "pyinstrument is not installed (not a project dependency); install it ad hoc: "
                "python3 -m uv pip install --python .venv/bin/python --target bench/.tools "
                "pyinstrument"
            )
            log(f"profile: SKIPPED: {result.reason}")
            return
        db = self.new_database(result.name)
        try:
            receivers = [("project", [], "inline"), ("reference", ["--reference"], "inline")]
            if self.task_mode_missing(db) is None:
                receivers.insert(1, ("project-task-ingest", [], "task"))
            for receiver, flags, processing in receivers:
                data = self.bench_script(
                    "profile_request.py",
                    f"--label={receiver}",
                    *flags,
                    f"--requests={self.args.profile_requests}",
                    f"--notes={self.args.notes}",
                    f"--tag={self.short}pr{receiver[0]}{processing[0]}",
                    f"--out={self.out / f'profile-{receiver}'}",
                    env={**self.env(db, processing), **env_extra},
                )
                result.rounds.append(data)
                log(f"profile: {receiver}: {data['ms_per_request']} ms/request in-process")
        finally:
            db.close()

    # -- driver ----------------------------------------------------------------------------------

    TITLES = {
        "inline": "Inline mode: record and apply in the request",
        "dupes": "Inline mode, {share}% duplicate deliveries",
        "task": "Task mode: record and enqueue (ingest), worker drain rate",
        "reprocess": "jodo_reprocess over stored events",
        "rss": "Gunicorn worker RSS over a long run (inline)",
        "profile": "In-process profile of the request path (pyinstrument)",
    }

    def run(self, scenarios: list[str]) -> int:
        for name in scenarios:
            title = self.TITLES[name].format(share=round(self.args.duplicate_share * 100))
            result = ScenarioResult(name, title)
            self.results.append(result)
            log(f"== {name}: {title}")
            t0 = time.monotonic()
            try:
                getattr(self, f"scenario_{name}")(result)
            except HarnessError as exc:
                result.status, result.reason = "error", str(exc)
                log(f"{name}: ERROR: {exc}")
            except Exception as exc:  # keep going with the other scenarios
                result.status, result.reason = "error", f"{type(exc).__name__}: {exc}"
                log(f"{name}: ERROR: {type(exc).__name__}: {exc}")
                import traceback

                traceback.print_exc()
            result.summary["wall_seconds"] = round(time.monotonic() - t0, 1)
        self.write_reports()
        failed = [r for r in self.results if r.status in ("failed", "error")]
        if failed:
            return 1
        if self.args.fail_on_targets and any(not t["met"] for t in self.targets()):
            return 1
        return 0

    def close(self) -> None:
        self.sampler.stopping.set()
        self.procs.stop_all()
        for db in self.databases:
            db.close()

    # -- reports ---------------------------------------------------------------------------------

    def by_name(self, name: str) -> ScenarioResult | None:
        return next((r for r in self.results if r.name == name and r.status != "skipped"), None)

    def targets(self) -> list[dict[str, Any]]:
        out = []

        def add(what: str, value: Any, target: str, met: bool | None) -> None:
            out.append({"target": what, "measured": value, "goal": target, "met": met})

        inline, task, rss = (self.by_name(n) for n in ("inline", "task", "rss"))
        for label, result, ratio_target in (
            ("inline", inline, "inline_ratio"),
            ("task-mode ingest", task, "task_ratio"),
        ):
            if not result or result.summary.get("median_ratio_events_per_s") is None:
                continue
            ratio = result.summary["median_ratio_events_per_s"]
            goal = TARGETS[ratio_target]
            add(f"{label} events/s vs reference", ratio, f">= {goal}x", ratio >= goal)
            p99 = result.summary["median_ratio_p99"]
            p99_goal = TARGETS["p99_ratio"]
            add(
                f"{label} p99 vs reference",
                p99,
                f"<= {p99_goal}x",
                p99 is not None and p99 <= p99_goal,
            )
        if rss and "stable" in rss.summary and not self.args.smoke:
            add(
                "worker peak RSS growth, Q2 -> Q4 of the long run",
                f"{rss.summary['growth_q2_to_q4_mib']} MiB",
                "not growing",
                rss.summary["stable"],
            )
        return out

    def git_commit(self) -> str:
        def git(*argv: str) -> str:
            try:
                run = subprocess.run(
                    ["git", "-C", str(ROOT), *argv], capture_output=True, text=True
                )
            except OSError:
                return ""
            return run.stdout.strip()

        commit = git("rev-parse", "--short", "HEAD") or "?"
        if git("status", "--porcelain", "--untracked-files=no", "--", ".", ":!bench"):
            commit += " with uncommitted changes"
        return commit

    def environment(self) -> dict[str, Any]:
        def version(cmd: list[str]) -> str:
            try:
                out = subprocess.run(cmd, capture_output=True, text=True, timeout=20)
                return (out.stdout or out.stderr).strip().splitlines()[0]
            except Exception:
                return "?"

        cpu = "?"
        with contextlib.suppress(OSError):
            for line in Path("/proc/cpuinfo").read_text().splitlines():
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
        mem = "?"
        with contextlib.suppress(OSError):
            kib = int(Path("/proc/meminfo").read_text().split()[1])
            mem = f"{kib / 1024 / 1024:.1f} GiB"
        packages = {}
        for dist in ("django", "djangorestframework", "gunicorn", "psycopg", "django-tasks-db"):
            with contextlib.suppress(Exception):
                from importlib.metadata import version as pkg_version

                packages[dist] = pkg_version(dist)
        pg = "?"
        with (
            contextlib.suppress(Exception),
            psycopg.connect(self.server_url, autocommit=True) as conn,
        ):
            pg = conn.execute("SHOW server_version").fetchone()[0]
            sync = conn.execute("SHOW synchronous_commit").fetchone()[0]
            pg += f" (synchronous_commit={sync})"
        commit = self.commit_at_start
        if self.git_commit() != commit:
            commit += f" (the code changed during the run: now {self.git_commit()})"
        return {
            "date": dt.datetime.now().astimezone().isoformat(timespec="seconds"),
            "cpu": cpu,
            "cores": os.cpu_count(),
            "memory": mem,
            "kernel": platform.release(),
            "python": platform.python_version(),
            "packages": packages,
            "postgresql": pg,
            "wrk": version(["wrk", "-v"]),
            "git_commit": commit,
            "load_average_at_start": self.load_at_start,
        }

    def write_reports(self) -> None:
        env = self.environment()
        command = shlex.join(["bench/run.py", *sys.argv[1:]])
        data = {
            "run_id": self.run_id,
            "command": f".venv/bin/python {command}",
            "settings": {k: v for k, v in vars(self.args).items()},
            "environment": env,
            "targets": self.targets(),
            "scenarios": [
                {
                    "name": r.name,
                    "title": r.title,
                    "status": r.status,
                    "reason": r.reason,
                    "summary": r.summary,
                    "rounds": r.rounds,
                    "checks": [vars(c) for c in r.checks],
                    "notes": r.notes,
                }
                for r in self.results
            ],
        }
        (self.out / "summary.json").write_text(json.dumps(data, indent=2, default=str))
        markdown = self.markdown(data)
        (self.out / "summary.md").write_text(markdown)
        print(markdown)
        log(f"results in {self.out}")

    def markdown(self, data: dict[str, Any]) -> str:
        env = data["environment"]
        a = self.args
        lines = [
            f"# Benchmark run {data['run_id']}",
            "",
            f"Command: `{data['command']}`",
            "",
            f"Machine: {env['cpu']}, {env['cores']} cores, {env['memory']}, Linux "
            f"{env['kernel']}; load average at start {env['load_average_at_start']}. "
            f"Python {env['python']}, "
            + ", ".join(f"{k} {v}" for k, v in env["packages"].items())
            + f"; PostgreSQL {env['postgresql']}; {env['wrk']}; commit {env['git_commit']}; "
            f"{env['date']}.",
            "",
            f"Load: wrk, {a.connections} connections, {a.wrk_threads} thread(s), {a.duration}s "
            f"rounds (warm-up {a.warmup}s), {a.rounds} round(s) each alternating project and "
            f"reference; gunicorn {a.workers} {a.worker_class} workers"
            + (f" x {a.threads} threads" if a.threads else "")
            + f"; CONN_MAX_AGE={a.conn_max_age}; {a.notes} notes per student."
            + (" SMOKE RUN: rates are meaningless." if a.smoke else ""),
            "",
        ]
        targets = data["targets"]
        if targets:
            heading = "## Targets"
            if self.args.smoke:
                heading += " (smoke run: timing targets are not meaningful)"
            lines += [heading, "", "| target | measured | goal | met |", "|---|---|---|---|"]
            for t in targets:
                met = "yes" if t["met"] else "NO"
                lines.append(f"| {t['target']} | {fmt(t['measured'], 2)} | {t['goal']} | {met} |")
            lines.append("")
        for s in data["scenarios"]:
            lines += [f"## {s['name']}: {s['title']}", ""]
            if s["status"] in ("skipped", "error"):
                lines += [f"**{s['status'].upper()}**: {s['reason']}", ""]
                if s["status"] == "skipped":
                    continue
            summary = s["summary"]
            if s["name"] in ("inline", "dupes", "task") and s["rounds"]:
                lines += [
                    "| round | receiver | events/s | p50 ms | p95 ms | p99 ms | non-2xx | "
                    "socket err | worker CPU ms/ev | DB CPU ms/ev | machine busy % | "
                    "peak worker RSS MiB | ratio ev/s | ratio p99 |",
                    "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
                ]
                for r in s["rounds"]:
                    lines.append(
                        f"| {r['round']} | {r['receiver']} | {fmt(r['events_per_s'])} | "
                        f"{fmt(r['p50_ms'], 2)} | {fmt(r['p95_ms'], 2)} | {fmt(r['p99_ms'], 2)} | "
                        f"{r['non_2xx']} | {r['socket_errors']} | "
                        f"{fmt(r['worker_cpu_ms_per_event'], 2)} | "
                        f"{fmt(r['db_cpu_ms_per_event'], 2)} | {fmt(r['machine_busy_pct'])} | "
                        f"{fmt(r['peak_worker_rss_mib'])} | "
                        f"{fmt(r.get('ratio_events_per_s'), 2)} | "
                        f"{fmt(r.get('ratio_p99'), 2)} |"
                    )
                lines += [
                    "",
                    f"Median ratio project / reference: events/s "
                    f"**{fmt(summary.get('median_ratio_events_per_s'), 2)}**, p99 "
                    f"**{fmt(summary.get('median_ratio_p99'), 2)}** (medians: project "
                    f"{fmt(summary.get('project_median_events_per_s'))} events/s, p99 "
                    f"{fmt(summary.get('project_median_p99_ms'), 2)} ms; reference "
                    f"{fmt(summary.get('reference_median_events_per_s'))} events/s, p99 "
                    f"{fmt(summary.get('reference_median_p99_ms'), 2)} ms).",
                    "",
                ]
            if s["name"] == "task" and summary.get("drain"):
                lines += md_table(
                    ["db_worker processes", "events applied/s", "events", "seconds"],
                    [
                        [
                            d["workers"],
                            fmt(d["events_per_s"]),
                            d["events_applied"],
                            fmt(d["seconds"], 1),
                        ]
                        for d in summary["drain"]
                    ],
                )
            if s["name"] == "reprocess" and s["rounds"]:
                lines += md_table(
                    ["command", "events", "seconds", "events/s", "excl. startup", "path"],
                    [
                        [
                            f"`{r['run']}`",
                            f"{r['events']:,}",
                            r["seconds"],
                            fmt(r["events_per_s"]),
                            fmt(r["events_per_s_excluding_startup"]),
                            r["path"],
                        ]
                        for r in s["rounds"]
                    ],
                )
            if s["name"] == "rss" and summary.get("quarters"):
                lines += [
                    f"{summary['events']:,} events over {summary['seconds']}s; worker pids "
                    f"{summary['worker_pids']}. Peak worker RSS per quarter of the run: "
                    + ", ".join(
                        f"Q{q['quarter']} {q['peak_worker_rss_mib']} MiB"
                        for q in summary["quarters"]
                    )
                    + f"; growth Q2 to Q4 {summary['growth_q2_to_q4_mib']} MiB "
                    f"({'stable' if summary['stable'] else 'GROWING'}).",
                    "",
                ]
            if s["name"] == "profile" and s["rounds"]:
                lines += [
                    "| receiver | wall ms/request | CPU ms/request | SQL ms/request | queries "
                    "| call tree | CPU profile |",
                    "|---|---|---|---|---|---|---|",
                ]
                for r in s["rounds"]:
                    lines.append(
                        f"| {r['receiver']} | {r['ms_per_request']} | {r['cpu_ms_per_request']} | "
                        f"{r['sql_ms_per_request']} | {r['queries_per_request']} | "
                        f"{r['profile_text']} | {r['profile_cpu']} |"
                    )
                lines += ["", "CPU ms per request by part (cumulative; parts nest):", ""]
                lines += ["| part | " + " | ".join(r["receiver"] for r in s["rounds"]) + " |"]
                lines += ["|---|" + "---|" * len(s["rounds"])]
                labels: list[str] = []
                for r in s["rounds"]:
                    labels += [k for k in r["cpu_breakdown_ms"] if k not in labels]
                for label in labels:
                    cells = [fmt(r["cpu_breakdown_ms"].get(label), 3) for r in s["rounds"]]
                    lines.append(f"| {label} | " + " | ".join(cells) + " |")
                lines.append("")
            failed = [c for c in s["checks"] if not c["ok"]]
            lines.append(
                f"Checks: {len(s['checks']) - len(failed)}/{len(s['checks'])} passed"
                + ("." if not failed else "; FAILED:")
            )
            lines += [f"- {c['name']}: {c['detail']}" for c in failed]
            lines += [f"- note: {n}" for n in s["notes"]]
            lines.append("")
        return "\n".join(lines)


def astuple(event: bodies.Event) -> tuple[str, str]:
    return (event.event_id, event.identifier)


# --------------------------------------------------------------------------------------------
# Command line


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--scenario",
        default="all",
        help=f"comma-separated, from: {', '.join(SCENARIOS)}; or 'all' (default)",
    )
    parser.add_argument("--duration", type=float, default=20, help="seconds per round (20)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds per receiver (3)")
    parser.add_argument("--connections", type=int, default=16, help="wrk connections (16)")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers (2)")
    parser.add_argument("--worker-class", default="sync", help="gunicorn worker class (sync)")
    parser.add_argument("--threads", type=int, default=0, help="gunicorn --threads (unset)")
    parser.add_argument("--notes", type=int, default=3, help="notes per student (3)")
    parser.add_argument("--wrk-threads", type=int, default=1, help="wrk threads (1)")
    parser.add_argument("--wrk-timeout", type=int, default=10, help="wrk request timeout, s")
    parser.add_argument("--warmup", type=float, default=3, help="warm-up seconds per server (3)")
    parser.add_argument("--duplicate-share", type=float, default=0.2, help="dupes scenario (0.2)")
    parser.add_argument("--conn-max-age", type=int, default=60, help="CONN_MAX_AGE, both (60)")
    parser.add_argument(
        "--drain-timeout", type=float, default=900, help="max seconds to drain the task backlog"
    )
    parser.add_argument("--reprocess-events", type=int, default=10_000, help="(10000)")
    parser.add_argument("--rss-duration", type=float, default=120, help="long run, s (120)")
    parser.add_argument("--profile-requests", type=int, default=500, help="(500)")
    parser.add_argument(
        "--rate-guess",
        type=float,
        default=2500,
        help="events/s assumed before a server was measured, to size the bodies (2500)",
    )
    parser.add_argument(
        "--database-url",
        default=None,
        help="PostgreSQL server, e.g. postgres://postgres@127.0.0.1:5432 (default: the server "
        "of $DATABASE_URL, else that one); each scenario gets a fresh database on it",
    )
    parser.add_argument("--keep-db", action="store_true", help="do not drop the databases")
    parser.add_argument(
        "--keep-bodies", action="store_true", help="keep the generated bodies in the results"
    )
    parser.add_argument("--output", help="results folder (bench/results/<run id>)")
    parser.add_argument(
        "--fail-on-targets", action="store_true", help="exit 1 when a target is missed"
    )
    parser.add_argument(
        "--smoke",
        action="store_true",
        help="CI: a few hundred requests, 1 round of 2s, no timing judged",
    )
    parser.add_argument("--smoke-requests", type=int, default=100, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.smoke:
        args.duration, args.rounds, args.warmup = 2, 1, 2
        args.connections = min(args.connections, 4)
        args.reprocess_events = min(args.reprocess_events, 300)
        args.rss_duration = 3
        args.profile_requests = min(args.profile_requests, 100)
    url = (
        args.database_url or os.environ.get("DATABASE_URL") or "postgres://postgres@127.0.0.1:5432"
    )
    if not url.startswith(("postgres://", "postgresql://", "pgsql://")):
        parser.error(f"the benchmark runs on PostgreSQL only; got {url.split(':', 1)[0]}://")
    if args.database_url is None and os.environ.get("DATABASE_URL"):
        url = urllib.parse.urlunsplit(urllib.parse.urlsplit(url)._replace(path="/postgres"))
    args.database_url = url.replace("pgsql://", "postgres://", 1)
    names = SCENARIOS if args.scenario == "all" else [s.strip() for s in args.scenario.split(",")]
    unknown = [s for s in names if s not in SCENARIOS]
    if unknown:
        parser.error(f"unknown scenario(s): {', '.join(unknown)}; choose from {SCENARIOS}")
    args.scenarios = [s for s in SCENARIOS if s in names]
    return args


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    if shutil.which("wrk") is None:
        print(
            "bench/run.py needs wrk (Debian package wrk): apt-get update && apt-get install -y wrk",
            file=sys.stderr,
        )
        return 2
    try:
        with psycopg.connect(args.database_url, autocommit=True, connect_timeout=5) as conn:
            conn.execute("SELECT 1")
    except psycopg.Error as exc:
        print(f"Cannot reach PostgreSQL at {args.database_url}: {exc}", file=sys.stderr)
        return 2
    if (ROOT / ".env").exists():
        log("note: .env exists; the harness sets every setting it relies on explicitly")
    harness = Harness(args)

    def on_signal(signum: int, _frame: Any) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_signal)
    try:
        return harness.run(args.scenarios)
    except KeyboardInterrupt:
        log("interrupted")
        return 130
    finally:
        harness.close()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
