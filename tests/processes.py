"""Helpers for tests that involve other processes or a failing network.

- `database_url()`: a DATABASE_URL naming the *test* database, for subprocesses.
- `start_manage_py()` / `start_python_module()`: run this project's code in a subprocess wrapped
  in `Subprocess`, whose every wait is bounded.
- `wait_until()`: poll a condition with a timeout instead of sleeping blindly.
- `TcpProxy`: a tiny threaded TCP proxy in front of the database server that can cut every
  connection (and refuse new ones) on demand, then let traffic through again.
"""

from __future__ import annotations

import os
import queue
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping
from contextlib import suppress
from pathlib import Path
from typing import Any
from urllib.parse import quote

from django.db import connection, connections
from django.test import Client

from .helpers import TEST_SECRET

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_PORTS = {"postgresql": 5432, "mysql": 3306}


def database_vendor(settings_dict: Mapping[str, Any] | None = None) -> str:
    """ "postgresql" or "mysql" (MariaDB too), from the connection's ENGINE."""
    engine = (settings_dict or connection.settings_dict)["ENGINE"]
    vendor = engine.rsplit(".", 1)[-1]
    if vendor not in DEFAULT_PORTS:
        raise ValueError(f"No DATABASE_URL for {engine}: these tests need PostgreSQL or MariaDB")
    return vendor


def database_address(settings_dict: Mapping[str, Any] | None = None) -> tuple[str, int]:
    settings_dict = settings_dict or connection.settings_dict
    host = settings_dict.get("HOST") or "127.0.0.1"
    port = settings_dict.get("PORT") or DEFAULT_PORTS[database_vendor(settings_dict)]
    return host, int(port)


def database_url(settings_dict: Mapping[str, Any] | None = None) -> str:
    """A DATABASE_URL (django-environ syntax) for the database the test process is using.

    Built from `connection.settings_dict`, whose NAME is the test database's once pytest-django
    has set it up, so a subprocess started with it sees the rows the test wrote.
    """
    settings_dict = settings_dict or connection.settings_dict
    vendor = database_vendor(settings_dict)
    credentials = quote(settings_dict.get("USER") or "", safe="")
    if settings_dict.get("PASSWORD"):
        credentials += ":" + quote(settings_dict["PASSWORD"], safe="")
    host, port = database_address(settings_dict)
    if ":" in host:  # an IPv6 address
        host = f"[{host}]"
    name = quote(settings_dict["NAME"], safe="")
    if vendor == "postgresql":
        return f"postgres://{credentials}@{host}:{port}/{name}"
    return f"mysql://{credentials}@{host}:{port}/{name}?charset=utf8mb4"


def subprocess_environment(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment of a process running this project against the test database."""
    env = dict(os.environ)
    env.update(
        DJANGO_SETTINGS_MODULE="erp_project.settings",
        DATABASE_URL=database_url(),
        JODO_WEBHOOK_SECRETS=TEST_SECRET,
        SECRET_KEY="test-subprocess-secret-key-not-for-production",
        DEBUG="false",
        PYTHONUNBUFFERED="1",
    )
    env.update(extra or {})
    return env


class Subprocess:
    """A child process whose output (stdout and stderr merged) is collected line by line.

    Every wait is bounded; `stop()` (also called on leaving the `with` block) terminates it
    politely, then kills it.
    """

    def __init__(self, args: list[str], env: Mapping[str, str]) -> None:
        self.args = args
        self.lines: list[str] = []
        self._new_lines: queue.SimpleQueue[str | None] = queue.SimpleQueue()
        self.process = subprocess.Popen(  # noqa: S603 - our own interpreter and scripts
            args,
            cwd=REPO_ROOT,
            env=dict(env),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            errors="replace",
        )
        self._reader = threading.Thread(target=self._read, name="subprocess-output", daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line.rstrip("\n"))
            self._new_lines.put(line)
        self._new_lines.put(None)  # end of output

    @property
    def output(self) -> str:
        return "\n".join(self.lines)

    def describe(self) -> str:
        return f"{' '.join(self.args[1:])} (exit {self.process.poll()}); output:\n{self.output}"

    def wait_for_line(self, text: str, timeout: float) -> bool:
        """True once a line containing `text` is printed; False on timeout or exit."""
        deadline = time.monotonic() + timeout
        if any(text in line for line in self.lines):
            return True
        while (remaining := deadline - time.monotonic()) > 0:
            try:
                line = self._new_lines.get(timeout=remaining)
            except queue.Empty:
                return False
            if line is None:
                return False
            if text in line:
                return True
        return False

    def signal(self, signum: int) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signum)

    def wait(self, timeout: float) -> int:
        """The exit code; raises subprocess.TimeoutExpired when still running after `timeout`."""
        code = self.process.wait(timeout=timeout)
        self._reader.join(timeout=5)
        return code

    def kill(self, timeout: float = 10) -> int:
        self.signal(signal.SIGKILL)
        return self.wait(timeout)

    def stop(self, timeout: float = 10) -> int:
        """SIGTERM, then SIGKILL if it does not exit within `timeout` seconds."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                return self.wait(timeout)
            except subprocess.TimeoutExpired:
                pass
        return self.kill()

    def __enter__(self) -> Subprocess:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
        if self.process.stdout is not None:
            self.process.stdout.close()


def start_python(args: list[str], env: Mapping[str, str] | None = None) -> Subprocess:
    """`python ARGS` with this interpreter, from the repository root, on the test database."""
    return Subprocess([sys.executable, *args], subprocess_environment(env))


def start_manage_py(*args: str, env: Mapping[str, str] | None = None) -> Subprocess:
    """`python manage.py ARGS` on the test database (e.g. a `db_worker`)."""
    return start_python([str(REPO_ROOT / "manage.py"), *args], env)


def start_python_module(module: str, *args: str, env: Mapping[str, str] | None = None):
    """`python -m MODULE ARGS` (e.g. `tests.slow_worker`) on the test database."""
    return start_python(["-m", module, *args], env)


def wait_until(
    condition: Callable[[], Any], *, timeout: float, interval: float = 0.1, message: str = ""
) -> Any:
    """Poll `condition` until it returns something truthy (returned); AssertionError on timeout."""
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() >= deadline:
            raise AssertionError(f"Timed out after {timeout} s: {message or condition}")
        time.sleep(interval)


def _abort(sock: socket.socket) -> None:
    """Close `sock` at once with a TCP reset, waking any thread blocked on it."""
    with suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    with suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    sock.close()


class TcpProxy:
    """Forwards connections on 127.0.0.1:`port` to `target`, until told to cut them.

    `cut()` resets every open connection and, until `restore()`, resets new ones as soon as
    they are accepted: to a client this looks like a database server that went away.
    """

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.1)  # lets the accept loop notice close()
        self.host, self.port = self._listener.getsockname()[:2]
        self._lock = threading.Lock()
        self._open: set[socket.socket] = set()
        self._refusing = False
        self._closed = False
        self.refused = 0
        self._threads: list[threading.Thread] = []
        self._accept_thread = threading.Thread(
            target=self._accept_loop, name="tcp-proxy-accept", daemon=True
        )

    def start(self) -> TcpProxy:
        self._accept_thread.start()
        return self

    def _accept_loop(self) -> None:
        while not self._closed:
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return  # the listener was closed
            client.settimeout(None)
            with self._lock:
                refusing = self._refusing or self._closed
            if refusing:
                self.refused += 1
                _abort(client)
                continue
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                _abort(client)
                continue
            upstream.settimeout(None)
            with self._lock:
                if self._refusing or self._closed:  # cut while we were connecting
                    _abort(client)
                    _abort(upstream)
                    continue
                self._open.update((client, upstream))
            for source, sink in ((client, upstream), (upstream, client)):
                pump = threading.Thread(
                    target=self._pump, args=(source, sink), name="tcp-proxy-pump", daemon=True
                )
                self._threads.append(pump)
                pump.start()

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            with self._lock:
                self._open.discard(source)
                self._open.discard(sink)
            # Either side closing ends the whole connection.
            for sock in (source, sink):
                with suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                sock.close()

    def cut(self) -> None:
        """Reset every open connection; refuse new ones until `restore()`."""
        with self._lock:
            self._refusing = True
            doomed = list(self._open)
            self._open.clear()
        for sock in doomed:
            _abort(sock)

    def restore(self) -> None:
        with self._lock:
            self._refusing = False

    def close(self) -> None:
        self._closed = True
        self.cut()
        self._listener.close()
        self._accept_thread.join(timeout=5)
        for thread in self._threads:
            thread.join(timeout=5)

    def __enter__(self) -> TcpProxy:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.close()


THREAD_TIMEOUT = 60  # seconds for a whole batch of threads; far above the expected second


def run_concurrently(
    jobs: list[Callable[[Client], Any]], *, timeout: float = THREAD_TIMEOUT
) -> list[Any]:
    """Run each job in its own thread with its own Client, all released at once.

    Returns the jobs' results in order; re-raises the first job's exception. Every thread
    closes its database connections when done. Bounded: fails (never hangs) after `timeout`.
    """
    barrier = threading.Barrier(len(jobs), timeout=timeout)
    results: list[Any] = [None] * len(jobs)
    errors: list[BaseException] = []

    def work(index: int, job: Callable[[Client], Any]) -> None:
        try:
            client = Client()
            barrier.wait()
            results[index] = job(client)
        except BaseException as exc:
            errors.append(exc)
            barrier.abort()  # nobody waits forever for a thread that died before the barrier
        finally:
            connections.close_all()  # every alias the job used (a router may use several)

    threads = [
        threading.Thread(target=work, args=(i, job), name=f"delivery-{i}", daemon=True)
        for i, job in enumerate(jobs)
    ]
    deadline = time.monotonic() + timeout
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=max(0.0, deadline - time.monotonic()))
    stuck = [thread.name for thread in threads if thread.is_alive()]
    assert not stuck, f"threads still running after {timeout} s: {stuck}"
    if errors:
        raise errors[0]
    return results
