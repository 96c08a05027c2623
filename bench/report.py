"""The run's report: summary.json (everything) and summary.md (also printed)."""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import shlex
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path
from typing import Any

import psycopg

from checks import Result
from servers import ROOT

# Project / reference: events/s at least (by scenario), p99 at most: the current budgets (issue
# 17 of the tracker). Reported, never enforced: timings on a shared machine are noisy.
RATIO_TARGETS = {"inline": 0.25, "task": 0.5}
P99_RATIO_TARGET = 3.0
PACKAGES = ("django", "djangorestframework", "gunicorn", "psycopg", "django-tasks-db")


def fmt(value: Any, digits: int = 2) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    return f"{value:,}" if isinstance(value, int) else str(value)


def table(columns: dict[str, str], rows: list[dict[str, Any]], digits: int = 2) -> list[str]:
    """A markdown table, then a blank line: a column per header, of the rows' `columns[header]`."""
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += [
        "| " + " | ".join(fmt(r.get(k), digits) for k in columns.values()) + " |" for r in rows
    ]
    return [*lines, ""]


def git_commit(root: Path) -> str:
    """The checkout's commit, and whether its code (bench/ aside) has uncommitted changes."""

    def git(*argv: str) -> str:
        return subprocess.run(["git", "-C", root, *argv], capture_output=True, text=True).stdout

    commit = git("rev-parse", "--short", "HEAD").strip()
    if git("status", "--porcelain", "--untracked-files=no", "--", ".", ":!bench"):
        commit += " with uncommitted changes"
    return commit


def environment(server_url: str) -> dict[str, Any]:
    """The machine and software, at the start of the run."""
    commit = git_commit(ROOT)
    with psycopg.connect(server_url, autocommit=True) as conn:
        pg = conn.execute("SELECT version()").fetchone()[0].split(" on ")[0]
        pg += f" (synchronous_commit={conn.execute('SHOW synchronous_commit').fetchone()[0]})"
    wrk = subprocess.run(["wrk", "-v"], capture_output=True, text=True)
    cpuinfo = Path("/proc/cpuinfo").read_text().splitlines()
    cpu = next((ln.split(":", 1)[1].strip() for ln in cpuinfo if "model name" in ln), "?")
    return {
        "date": dt.datetime.now().astimezone().isoformat(timespec="seconds"),
        "machine": f"{cpu}, {os.cpu_count()} cores, Linux {platform.release()}",
        "load_average_at_start": " ".join(Path("/proc/loadavg").read_text().split()[:3]),
        "software": f"Python {platform.python_version()}, "
        + ", ".join(f"{name} {version(name)}" for name in PACKAGES)
        + f"; {pg}; {(wrk.stdout or wrk.stderr).splitlines()[0].split(' Copyright')[0]}",
        "git_commit": commit,
    }


def write(out: Path, args: Any, env: dict[str, Any], results: list[Result]) -> None:
    data = {
        "command": shlex.join([".venv/bin/python", "bench/run.py", *sys.argv[1:]]),
        "settings": vars(args),
        "environment": env,
        "scenarios": [vars(r) for r in results],
    }
    (out / "summary.json").write_text(json.dumps(data, indent=2, default=str))
    text = "\n".join(markdown(data, args))
    (out / "summary.md").write_text(text)
    print(text)


def markdown(data: dict[str, Any], a: Any) -> list[str]:
    env = data["environment"]
    lines = [
        f"# Benchmark run {a.run_id}",
        "",
        f"Command: `{data['command']}`",
        "",
        f"{env['machine']}; load average at start {env['load_average_at_start']}. "
        f"{env['software']}; commit {env['git_commit']}; {env['date']}.",
        "",
        f"Load: wrk, {a.connections} connections, {a.wrk_threads} thread(s), {a.duration}s "
        f"rounds (warm-up {a.warmup}s), {a.rounds} round(s) each alternating project"
        + (f", baseline ({a.baseline}, commit {git_commit(a.baseline)})" if a.baseline else "")
        + f" and reference; gunicorn {a.workers} {a.worker_class} workers"
        + (f" x {a.threads} threads" if a.threads else "")
        + f"; CONN_MAX_AGE={a.conn_max_age}; {a.notes} notes per student."
        + (" SMOKE RUN: rates are meaningless." if a.smoke else ""),
        "",
    ]
    for s in data["scenarios"]:
        lines += [f"## {s['name']}: {s['title']}", ""]
        if s["status"] in ("skipped", "error"):
            lines += [f"**{s['status'].upper()}**: {s['reason']}", ""]
        if s["rounds"] and s["status"] != "error":  # an error's partial rounds: summary.json
            lines += SECTIONS[s["name"]](s)
        failed = [c for c in s["checks"] if not c["ok"]]
        passed = f"Checks: {len(s['checks']) - len(failed)}/{len(s['checks'])} passed"
        lines += [passed + ("; FAILED:" if failed else ".")]
        lines += [f"- {c['name']}: {c['detail']}" for c in failed]
        lines += [*(f"- note: {n}" for n in s["notes"]), ""]
    return lines


def columns(*pairs: str) -> dict[str, str]:
    """Table columns from "header=key" pairs."""
    return dict(pair.split("=") for pair in pairs)


ROUNDS = columns(
    "round=round",
    "receiver=receiver",
    "events/s=events_per_s",
    "p50 ms=p50_ms",
    "p95 ms=p95_ms",
    "p99 ms=p99_ms",
    "non-2xx=non_2xx",
    "socket err=socket_errors",
    "worker CPU ms/ev=worker_cpu_ms_per_event",
    "DB CPU ms/ev=db_cpu_ms_per_event",
    "ratio ev/s=ratio_events_per_s",
    "ratio p99=ratio_p99",
)
DRAIN = columns(
    "db_worker processes=workers",
    "events applied/s=events_per_s",
    "events=events_applied",
    "seconds=seconds",
)
REPROCESS = columns(
    "command=run", "events=events", "seconds=seconds", "events/s=events_per_s", "path=path"
)
PAYMENTS = columns(
    "event=event",
    "events=events",
    "statements/event=statements_per_event",
    "max=max_statements",
    "ms/event=ms_per_event",
)
PROFILE = columns(
    "receiver=receiver",
    "wall ms/request=ms_per_request",
    "CPU ms/request=cpu_ms_per_request",
    "SQL ms/request=sql_ms_per_request",
    "queries=queries_per_request",
    "Python calls/request=calls_per_request",
    "call tree=profile_text",
    "CPU profile=profile_cpu",
)


def comparison(s: dict[str, Any]) -> list[str]:
    m = s["summary"]
    ratio, p99 = m["project_median_ratio_events_per_s"], m["project_median_ratio_p99"]
    text = f"Median ratio project / reference: events/s **{fmt(ratio)}**, p99 **{fmt(p99)}**"
    if (goal := RATIO_TARGETS.get(s["name"])) and ratio and p99:
        met = {True: "met", False: "NOT met"}
        text += (
            f" (targets: events/s >= {goal}, {met[ratio >= goal]}; p99 <= {P99_RATIO_TARGET}, "
            f"{met[p99 <= P99_RATIO_TARGET]})"
        )
    text += (
        f". Medians: project {fmt(m['project_median_events_per_s'], 1)} events/s, p99 "
        f"{fmt(m['project_median_p99_ms'])} ms; reference "
        f"{fmt(m['reference_median_events_per_s'], 1)} events/s, p99 "
        f"{fmt(m['reference_median_p99_ms'])} ms."
    )
    if m.get("baseline_median_ratio_events_per_s") is not None:
        text += (
            f" Baseline (--baseline): events/s **{fmt(m['baseline_median_ratio_events_per_s'])}**"
            f", p99 **{fmt(m['baseline_median_ratio_p99'])}** of the reference; "
            f"{fmt(m['baseline_median_events_per_s'], 1)} events/s, p99 "
            f"{fmt(m['baseline_median_p99_ms'])} ms."
        )
    lines = [*table(ROUNDS, s["rounds"]), text, ""]
    return lines + (table(DRAIN, m["drain"]) if "drain" in m else [])


def rss(s: dict[str, Any]) -> list[str]:
    m = s["summary"]
    quarters = ", ".join(f"Q{n} {mib} MiB" for n, mib in enumerate(m["quarters"], 1))
    return [
        f"{m['events']:,} events over {m['seconds']}s; worker pids {m['worker_pids']}. Peak "
        f"worker RSS per quarter of the run: {quarters}; growth Q2 to Q4 "
        f"{m['growth_q2_to_q4_mib']} MiB ({'stable' if m['stable'] else 'GROWING'}).",
        "",
    ]


def profile(s: dict[str, Any]) -> list[str]:
    rounds = s["rounds"]
    receivers = [r["receiver"] for r in rounds]
    parts = dict.fromkeys(part for r in rounds for part in r["cpu_breakdown_ms"])
    by_part = [
        {"part": part} | {r["receiver"]: r["cpu_breakdown_ms"].get(part) for r in rounds}
        for part in parts
    ]
    lines = table(PROFILE, rounds)
    lines += ["CPU ms per request by part (cumulative; parts nest):", ""]
    lines += table({"part": "part"} | {r: r for r in receivers}, by_part, digits=3)
    # The project's functions that no project run called: renamed since the table was written.
    project = [set(r["not_found"]) for r in rounds if r["receiver"].startswith("project")]
    missing = set.intersection(*project) if project else set()
    if missing:
        lines += [f"Not found, so skipped: {', '.join(sorted(missing))}.", ""]
    return lines


SECTIONS = {
    "inline": comparison,
    "dupes": comparison,
    "task": comparison,
    "reprocess": lambda s: table(REPROCESS, s["rounds"]),
    "rss": rss,
    "profile": profile,
    "payments": lambda s: table(PAYMENTS, s["rounds"]),
}
