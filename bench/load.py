"""Load: signed Jodo deliveries written to files, and wrk runs that send them (deliveries.lua).

seed_events.py and profile_request.py build their bodies with `envelope`, `encode` and `sign`.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import random
import shlex
import shutil
import subprocess
import time
import uuid
from pathlib import Path
from typing import Any

from servers import HarnessError, cpu_seconds

BENCH = Path(__file__).resolve().parent
RATE_GUESS = 2500  # events/s assumed before a server was measured, to size its first bodies
SOCKET_ERRORS = ("connect", "read", "write", "timeout")


def sign(raw: bytes, secret: str) -> str:
    """X-Jodo-Signature: lower-case hex HMAC-SHA256 of the raw body."""
    return hmac.new(secret.encode(), raw, hashlib.sha256).hexdigest()


def envelope(identifier: str, notes: int, *, timestamp: int | None = None) -> dict[str, Any]:
    """A `masterdata.student.registered` delivery for a new student, laid out as
    tests/factories.py's EnvelopeFactory lays it out, with a fresh event_id."""
    return {
        "event": "masterdata.student.registered",
        "event_id": str(uuid.uuid4()),
        "version": "1.0",
        "timestamp": int(time.time()) if timestamp is None else timestamp,
        "payload": {
            "jodo_student_id": f"student_{identifier}",
            "student": {
                "identifier": identifier,
                "custom_identifier": f"cust_{identifier}",
                "collector_code": None,
                "grade": {"code": "M1BLUE", "name": "Montessori 1"},
                "academic_year_start": 2026,
                "academic_year_end": 2027,
                "primary_contact_number": "9876543210",
                "primary_contact_email": f"parent.{identifier}@example.com",
                "notes": [
                    {"key": f"note_{n}", "value": f"value {n} of {identifier}"}
                    for n in range(notes)
                ],
            },
        },
    }


def encode(body: dict[str, Any]) -> bytes:
    return json.dumps(body).encode()


def write_deliveries(
    directory: Path, *, tag: str, count: int, notes: int, secret: str, threads: int, dupes: float
) -> list[str]:
    """`count` signed deliveries, one a line, round-robin into bodies.<thread>; each a new
    student whose identifier starts with `tag`. With `dupes`, that share of the lines repeats,
    byte for byte, one written 50 to 5,000 lines earlier (a redelivery, not one likely still in
    flight). Returns the event ids written."""
    directory.mkdir(parents=True, exist_ok=True)
    rng = random.Random(0)
    files = [(directory / f"bodies.{n}").open("wb") for n in range(threads)]
    events: list[str] = []
    lines: list[bytes] = []
    every = round(1 / dupes) if dupes > 0 else 0
    for position in range(count):
        if every and position % every == every - 1 and position >= 100:
            line = lines[rng.randint(max(0, position - 5000), position - 50)]
        else:
            body = envelope(f"{tag}-{len(events):07d}", notes)
            raw = encode(body)
            line = sign(raw, secret).encode() + b" " + raw + b"\n"
            events.append(body["event_id"])
        lines.append(line)
        files[position % threads].write(line)
    for file in files:
        file.close()
    return events


class Load:
    """wrk runs; each server's bodies sized from the fastest rate it was seen to take."""

    def __init__(self, args: Any, secret: str) -> None:
        self.args, self.secret = args, secret
        self.rate_seen: dict[int, float] = {}  # by server port

    def run(
        self, server: Any, db: Any, directory: Path, *, tag: str, seconds: float, dupes: float = 0
    ) -> tuple[dict[str, Any], list[str], list[str]]:
        """One wrk run against `server`: (measurements, event ids sent, event ids answered 2xx).

        `tag` must be new for every run (it names the students). Bodies are sized for twice the
        fastest rate seen, and deleted after the run (tens of MB); the event ids are kept.
        """
        a = self.args
        threads = min(a.wrk_threads, a.connections)
        seen = self.rate_seen.get(server.port, 0)
        count = a.smoke_requests if a.smoke else int((seen or RATE_GUESS) * seconds * 2) + 500
        shutil.rmtree(directory, ignore_errors=True)
        events = write_deliveries(
            directory,
            tag=tag,
            count=count,
            notes=a.notes,
            secret=self.secret,
            threads=threads,
            dupes=dupes,
        )
        db.conn.execute("CHECKPOINT")  # not in the middle of the round
        workers, backends = server.workers(), db.backend_pids()
        cpu0, db0 = cpu_seconds(workers), cpu_seconds(backends)
        argv = ["wrk", f"-t{threads}", f"-c{a.connections}", f"-d{max(1, round(seconds))}s"]
        argv += ["--timeout=10s", "-s", str(BENCH / "deliveries.lua"), server.url]
        env = os.environ | {"BENCH_DIR": str(directory)}
        wrk = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=seconds + 120)
        (directory / "wrk.txt").write_text(f"$ {shlex.join(argv)}\n{wrk.stdout}\n{wrk.stderr}")
        line = next((ln for ln in wrk.stdout.splitlines() if ln.startswith("BENCH_JSON ")), None)
        if wrk.returncode != 0 or line is None:
            raise HarnessError(f"wrk failed (exit {wrk.returncode}); see {directory}/wrk.txt")
        data = json.loads(line.removeprefix("BENCH_JSON "))
        time.sleep(0.5 if a.smoke else 1.0)  # let requests wrk abandoned finish
        cpu1, db1 = cpu_seconds(workers), cpu_seconds(db.backend_pids())
        ok_ids = [i for path in directory.glob("ok.*") for i in path.read_text().split()]
        for path in directory.glob("bodies.*"):
            path.unlink()

        ok, run_seconds = data["ok"], data["duration_us"] / 1e6

        def ms_per_event(before: dict[int, float], after: dict[int, float]) -> float | None:
            # Processes alive at the end, whole if they started meanwhile (PostgreSQL backends
            # come and go with CONN_MAX_AGE).
            used = sum(after[pid] - before.get(pid, 0) for pid in after)
            return round(used * 1000 / ok, 2) if ok else None

        if data["exhausted"] and not a.smoke:
            seen = max(seen, 2 * ok / run_seconds)  # events/s below is then too low
        self.rate_seen[server.port] = max(seen, ok / run_seconds)
        return (
            {
                "receiver": server.name,
                "seconds": round(run_seconds, 2),
                "requests": data["requests"],
                "ok_2xx": ok,
                "non_2xx": data["non2xx"],
                "statuses": data["statuses"],
                "socket_errors": sum(data[f"errors_{k}"] for k in SOCKET_ERRORS),
                "exhausted": bool(data["exhausted"]) and not a.smoke,
                "events_per_s": round(ok / run_seconds, 1),
                **{f"{p}_ms": data[f"latency_{p}_us"] / 1000 for p in ("p50", "p95", "p99", "max")},
                "worker_cpu_ms_per_event": ms_per_event(cpu0, cpu1),
                "db_cpu_ms_per_event": ms_per_event(db0, db1),
            },
            events,
            ok_ids,
        )
