#!/usr/bin/env python3
"""Benchmark harness: the project's Jodo receiving path against a minimal reference receiver.

    .venv/bin/python bench/run.py --scenario all --duration 20 --connections 16 \
        --workers 2 --rounds 3
    .venv/bin/python bench/run.py --smoke        # CI: a few hundred requests, checks only
    .venv/bin/python bench/run.py --scenario inline --baseline ../before   # before/after

PostgreSQL only, a fresh database per scenario; both receivers under gunicorn on 127.0.0.1,
driven by wrk. bench/README.md describes the scenarios, the checks and the report.

Exit status: 0 when every correctness check passed (timing targets are reported, never
enforced), 1 when a check failed, 2 when the harness cannot run (no wrk, no PostgreSQL).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import shutil
import signal
import sys
import time
import traceback
import urllib.parse
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
VENV = BENCH.parent / ".venv"
# Run under the project's virtualenv (psycopg, Django, gunicorn), whatever Python started us.
if (VENV / "bin" / "python").exists() and Path(sys.prefix).resolve() != VENV.resolve():
    os.execv(VENV / "bin" / "python", [str(VENV / "bin" / "python"), *sys.argv])  # noqa: S606
sys.path.insert(0, str(BENCH))

import psycopg

import report
from checks import Result
from scenarios import SCENARIOS, Harness
from servers import HarnessError, log


def run(harness: Harness) -> int:
    """Every chosen scenario, one after the other whatever happens to each; then the report."""
    args = harness.args
    env = report.environment(args.database_url)
    results = []
    for name in args.scenarios:
        result = Result(name, SCENARIOS[name].format(share=round(args.duplicate_share * 100)))
        results.append(result)
        log(f"== {name}: {result.title}")
        t0 = time.monotonic()
        try:
            getattr(harness, f"scenario_{name}")(result)
        except Exception as exc:  # reported; the other scenarios still run
            result.status, result.reason = "error", f"{type(exc).__name__}: {exc}"
            log(f"{name}: ERROR: {result.reason}")
            if not isinstance(exc, HarnessError):
                traceback.print_exc()
        finally:
            harness.stack.close()  # this scenario's servers and database
        if result.status == "skipped":
            log(f"{name}: SKIPPED: {result.reason}")
        result.summary["wall_seconds"] = round(time.monotonic() - t0, 1)
    report.write(harness.out, args, env, results)
    log(f"results in {harness.out}")
    return 1 if any(r.status in ("failed", "error") for r in results) else 0


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    add = parser.add_argument
    add("--scenario", default="all", help=f"comma-separated from {', '.join(SCENARIOS)}; or all")
    add("--duration", type=float, default=20, help="seconds per round (20)")
    add("--rounds", type=int, default=3, help="rounds per receiver (3)")
    add("--connections", type=int, default=16, help="wrk connections (16)")
    add("--wrk-threads", type=int, default=1, help="wrk threads (1)")
    add("--workers", type=int, default=2, help="gunicorn workers (2)")
    add("--worker-class", default="sync", help="gunicorn worker class (sync)")
    add("--threads", type=int, default=0, help="gunicorn --threads (unset)")
    add("--conn-max-age", type=int, default=60, help="CONN_MAX_AGE of both receivers (60)")
    add("--notes", type=int, default=3, help="notes per student (3)")
    add("--warmup", type=float, default=3, help="warm-up seconds per server (3)")
    add("--duplicate-share", type=float, default=0.2, help="share of redeliveries, dupes (0.2)")
    add("--reprocess-events", type=int, default=10_000, help="stored events, reprocess (10000)")
    add("--rss-duration", type=float, default=120, help="seconds of load, rss (120)")
    add("--profile-requests", type=int, default=500, help="requests profiled, profile (500)")
    add("--database-url", help="PostgreSQL server (default: that of $DATABASE_URL, else local)")
    add(
        "--baseline",
        type=Path,
        help="another checkout of the project (with its .venv), run beside this one as "
        "receiver 'baseline' (inline, dupes, task, profile): before/after in the same rounds",
    )
    add("--keep-db", action="store_true", help="do not drop the databases")
    add("--output", help="results folder (bench/results/<run id>)")
    add("--smoke", action="store_true", help="CI: 100 requests a round, 1 round, no timing judged")
    add("--smoke-requests", type=int, default=100, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.smoke:
        args.duration, args.rounds, args.warmup, args.rss_duration = 2, 1, 2, 3
        args.connections = min(args.connections, 4)
        args.reprocess_events = min(args.reprocess_events, 300)
        args.profile_requests = min(args.profile_requests, 100)
    url = args.database_url
    if url is None:  # the server of $DATABASE_URL, not its database
        parts = urllib.parse.urlsplit(
            os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432")
        )
        url = urllib.parse.urlunsplit(parts._replace(path=""))
    if not url.startswith(("postgres://", "postgresql://", "pgsql://")):
        parser.error(f"the benchmark runs on PostgreSQL only, not {url.split(':', 1)[0]}")
    args.database_url = url.replace("pgsql://", "postgres://", 1)
    names = list(SCENARIOS) if args.scenario == "all" else args.scenario.split(",")
    if unknown := set(names) - set(SCENARIOS):
        parser.error(
            f"unknown scenario(s) {', '.join(unknown)}; choose from {', '.join(SCENARIOS)}"
        )
    args.scenarios = [s for s in SCENARIOS if s in names]
    if args.baseline is not None:
        args.baseline = args.baseline.resolve()
        if not (args.baseline / ".venv" / "bin" / "gunicorn").exists():
            parser.error(f"--baseline {args.baseline}: no .venv there (run its bin/setup)")
    args.run_id = dt.datetime.now().strftime("%Y%m%d_%H%M%S")
    return args


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    if shutil.which("wrk") is None:
        print("bench/run.py needs wrk: apt-get update && apt-get install -y wrk", file=sys.stderr)
        return 2
    try:
        psycopg.connect(args.database_url, autocommit=True, connect_timeout=5).close()
    except psycopg.Error as exc:
        print(f"Cannot reach PostgreSQL at {args.database_url}: {exc}", file=sys.stderr)
        return 2
    harness = Harness(args)

    def on_signal(signum: int, _frame: Any) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_signal)
    try:
        return run(harness)
    except KeyboardInterrupt:
        log("interrupted")
        return 130
    finally:
        harness.stack.close()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
