"""Processes and databases: a fresh PostgreSQL database per scenario, gunicorn, manage.py.

`Stack` owns everything a run starts; `Stack.close()` stops and drops it all, whatever happened.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
PYTHON = sys.executable
GUNICORN = str(Path(PYTHON).parent / "gunicorn")
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


class HarnessError(Exception):
    """The harness cannot go on (a server that does not start, wrk failing...)."""


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# -- /proc --------------------------------------------------------------------------------------


def _stat(pid: int) -> list[str] | None:
    """The fields of /proc/<pid>/stat after the command name (state is [0]), None if gone."""
    try:
        data = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return data[data.rfind(")") + 2 :].split()


def children(pid: int) -> list[int]:
    """Child processes of `pid` (/proc/<pid>/task/<pid>/children is not always there)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (stat := _stat(int(entry.name))) and int(stat[1]) == pid:
            found.append(int(entry.name))
    return found


def cpu_seconds(pids: list[int]) -> dict[int, float]:
    """CPU time (user + system) used so far by each process still alive."""
    return {
        pid: (int(stat[11]) + int(stat[12])) / CLOCK_TICKS
        for pid in pids
        if (stat := _stat(pid)) is not None
    }


def rss_kib(pid: int) -> int | None:
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return None


# -- PostgreSQL ---------------------------------------------------------------------------------


class Database:
    """A fresh database on the benchmark's PostgreSQL server, dropped by close()."""

    def __init__(self, server_url: str, name: str, keep: bool) -> None:
        parts = urllib.parse.urlsplit(server_url)
        self.name, self.keep = name, keep
        admin_db = parts.path.lstrip("/") or "postgres"
        self.admin_url = urllib.parse.urlunsplit(parts._replace(path=f"/{admin_db}"))
        self.url = urllib.parse.urlunsplit(parts._replace(path=f"/{name}"))
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        self.conn: psycopg.Connection | None = psycopg.connect(self.url, autocommit=True)

    def scalar(self, sql: str, params: Any = None) -> Any:
        return self.conn.execute(sql, params).fetchone()[0]

    def row(self, sql: str, params: Any = None) -> tuple:
        return self.conn.execute(sql, params).fetchone()

    def backend_pids(self) -> list[int]:
        """The server processes serving the receivers' connections to this database."""
        rows = self.conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
            "AND backend_type = 'client backend' AND pid <> pg_backend_pid()"
        )
        return [pid for (pid,) in rows]

    def close(self) -> None:
        if self.conn is None:
            return
        self.conn.close()
        self.conn = None
        if self.keep:
            log(f"kept database {self.name}")
            return
        with (
            contextlib.suppress(psycopg.Error),
            psycopg.connect(self.admin_url, autocommit=True) as conn,
        ):
            conn.execute(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')


# -- Processes ----------------------------------------------------------------------------------


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

    def errors(self) -> int:
        """Tracebacks and errors in the gunicorn log."""
        text = self.log_path.read_text(errors="replace")
        return len(re.findall(r"Traceback|\[ERROR\]| ERROR ", text))


class Stack:
    """The processes and databases of one run, all started with the same signing secret."""

    def __init__(self, args: Any, out: Path, secret: str, run_name: str) -> None:
        self.args, self.out, self.secret, self.run_name = args, out, secret, run_name
        self.procs: list[subprocess.Popen] = []
        self.databases: list[Database] = []
        (out / "logs").mkdir(parents=True, exist_ok=True)

    def env(self, db: Database, processing: str = "inline") -> dict[str, str]:
        """The project's settings, each one the harness relies on set explicitly (over .env)."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("JODO_WEBHOOK_")}
        env.pop("DJANGO_SETTINGS_MODULE", None)
        return env | {
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

    def run(self, argv: list[str], env: dict[str, str], log_name: str, timeout: float = 3600):
        """Run a command to its end, its output in logs/<log_name>.log."""
        done = subprocess.run(
            argv, env=env, cwd=ROOT, capture_output=True, text=True, timeout=timeout
        )
        self.log_path(log_name).write_text(
            f"$ {shlex.join(argv)}\n[exit {done.returncode}]\n{done.stdout}\n{done.stderr}"
        )
        return done

    def manage(self, db: Database, *argv: str, log_name: str, processing: str = "inline"):
        return self.run([PYTHON, "manage.py", *argv], self.env(db, processing), log_name)

    def script(self, name: str, *argv: str, env: dict[str, str], python: str = PYTHON) -> Any:
        """Run one of bench/'s scripts in the project's environment: the JSON it prints last."""
        done = self.run([python, str(BENCH / name), *argv], env, name.removesuffix(".py"))
        if done.returncode != 0:
            raise HarnessError(f"{name} failed:\n{done.stderr[-3000:]}")
        return json.loads(done.stdout.strip().splitlines()[-1])

    def database(self, scenario: str) -> Database:
        """A fresh, migrated database, with the reference receiver's table."""
        db = Database(self.args.database_url, f"{self.run_name}_{scenario}", self.args.keep_db)
        self.databases.append(db)
        if self.manage(db, "migrate", "--no-input", log_name=f"{scenario}-migrate").returncode:
            raise HarnessError(f"migrate failed: see {self.out}/logs/{scenario}-migrate.log")
        db.conn.execute("CREATE TABLE ref_event (event_id text PRIMARY KEY, body jsonb NOT NULL)")
        return db

    def log_path(self, name: str) -> Path:
        return self.out / "logs" / f"{name}.log"

    def root(self, name: str) -> Path:
        """The checkout whose code receiver `name` runs: --baseline's for "baseline"."""
        return self.args.baseline if name == "baseline" else ROOT

    def start(
        self, argv: list[str], env: dict[str, str], log_name: str, cwd: Path = ROOT
    ) -> subprocess.Popen:
        with self.log_path(log_name).open("ab") as out:
            proc = subprocess.Popen(
                argv,
                env=env,
                cwd=cwd,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        self.procs.append(proc)
        return proc

    def stop(self, proc: subprocess.Popen) -> None:
        if proc.poll() is None:
            workers = children(proc.pid)
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                for pid in [proc.pid, *workers]:
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, signal.SIGKILL)
                proc.wait(5)
        self.procs.remove(proc)

    def gunicorn(self, name: str, db: Database, processing: str = "inline") -> Server:
        """`name` ("project", "baseline" or "reference") under gunicorn on a free port, once it
        answers. "baseline" is the --baseline checkout's code, under its own virtualenv."""
        a, port, root = self.args, free_port(), self.root(name)
        gunicorn = str(root / ".venv" / "bin" / "gunicorn") if name == "baseline" else GUNICORN
        argv = [gunicorn, "--workers", str(a.workers), "--worker-class", a.worker_class]
        argv += ["--bind", f"127.0.0.1:{port}", "--backlog", "2048", "--timeout", "60"]
        argv += ["--graceful-timeout", "5", "--log-level", "warning"]
        # Two masters would share gunicorn's control socket path.
        argv += ["--no-control-socket", *(["--threads", str(a.threads)] if a.threads else [])]
        env = self.env(db, processing)
        if name == "reference":
            argv += ["--pythonpath", str(BENCH), "reference.wsgi:application"]
            env["DJANGO_SETTINGS_MODULE"] = "reference.settings"
        else:
            argv += ["erp_project.wsgi:application"]
        log_name = f"gunicorn-{name}-{processing}-{port}"
        proc = self.start(argv, env, log_name, cwd=root)
        server = Server(name, proc, port, self.log_path(log_name))
        deadline = time.monotonic() + 30
        while True:
            if server.proc.poll() is not None:
                raise HarnessError(f"gunicorn ({name}) exited; see {server.log_path}")
            try:
                urllib.request.urlopen(server.url, timeout=2)  # noqa: S310 - our own loopback
                break
            except urllib.error.HTTPError:
                break  # any HTTP answer (405 for GET) means it serves
            except OSError:
                if time.monotonic() > deadline:
                    raise HarnessError(f"gunicorn ({name}) silent; see {server.log_path}") from None
                time.sleep(0.2)
        while len(server.workers()) < a.workers and time.monotonic() < deadline:
            time.sleep(0.1)
        return server

    def close(self) -> None:
        for proc in list(self.procs):
            with contextlib.suppress(Exception):
                self.stop(proc)
        for db in self.databases:
            db.close()
        self.databases.clear()
