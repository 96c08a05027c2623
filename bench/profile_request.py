"""Profile the request path in-process: the WSGI application called as gunicorn calls it.

Run by bench/run.py (scenario "profile") with the project's environment, or by hand:
    .venv/bin/python bench/profile_request.py --requests 2000 --out bench/results/profile
    .venv/bin/python bench/profile_request.py --reference ...
Needs pyinstrument, which is not a project dependency; install it apart (PYTHONPATH=bench/.tools):
    python3 -m uv pip install --python .venv/bin/python --target bench/.tools pyinstrument
Writes <out>.txt (call tree) and <out>.html, and prints a JSON summary: mean wall time per
request and the share of it spent in SQL (Django's own per-query timings).
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import pstats
import sys
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
# The project's code: this checkout's, or another's (bench/run.py --baseline).
PROJECT = Path(os.environ.get("BENCH_PROJECT_ROOT") or BENCH.parent)
sys.path[:0] = [str(PROJECT), str(BENCH)]

parser = argparse.ArgumentParser()
parser.add_argument("--reference", action="store_true")
parser.add_argument("--label", help="receiver name in the summary")
parser.add_argument("--requests", type=int, default=2000)
parser.add_argument("--notes", type=int, default=3)
parser.add_argument("--tag", default=f"p{int(time.time())}")
parser.add_argument("--out", type=Path, required=True)
parser.add_argument("--interval", type=float, default=0.001)
args = parser.parse_args()
if args.reference:
    os.environ["DJANGO_SETTINGS_MODULE"] = "reference.settings"
else:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "erp_project.settings")

from pyinstrument import Profiler

from load import encode, envelope, sign

if args.reference:
    from reference.wsgi import application
else:
    from erp_project.wsgi import application

from django.db import connection

SECRET = os.environ["JODO_WEBHOOK_SECRETS"].split(",")[0]


def request(raw: bytes) -> int:
    environ = {
        "REQUEST_METHOD": "POST",
        "SCRIPT_NAME": "",
        "PATH_INFO": "/webhooks/jodo/",
        "QUERY_STRING": "",
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "8000",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1",
        "HTTP_HOST": "127.0.0.1:8000",
        "HTTP_USER_AGENT": "bench",
        "CONTENT_TYPE": "application/json",
        "CONTENT_LENGTH": str(len(raw)),
        "HTTP_X_JODO_SIGNATURE": sign(raw, SECRET),
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(raw),
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": False,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
    }
    status: list[str] = []
    result = application(environ, lambda s, h, exc_info=None: status.append(s))
    try:
        for _ in result:
            pass
    finally:
        if hasattr(result, "close"):
            result.close()
    return int(status[0].split()[0])


def raws(prefix: str, count: int) -> list[bytes]:
    return [encode(envelope(f"{args.tag}-{prefix}{n:06d}", args.notes)) for n in range(count)]


for raw in raws("w", 50):  # warm-up: imports, URL resolver, connection
    assert request(raw) < 300

# Timing without the profiler, and SQL time from Django's debug cursor.
timed = raws("t", max(100, args.requests // 4))
connection.force_debug_cursor = True
sql_seconds = 0.0
queries = 0
cpu_before = time.process_time()
start = time.perf_counter()
for raw in timed:
    connection.queries_log.clear()
    assert request(raw) < 300
    sql_seconds += sum(float(q["time"]) for q in connection.queries)
    queries += len(connection.queries)
wall = time.perf_counter() - start
cpu = time.process_time() - cpu_before
connection.force_debug_cursor = False

profiled = raws("p", args.requests)
profiler = Profiler(interval=args.interval)
profiler.start()
for raw in profiled:
    request(raw)
profiler.stop()

args.out.parent.mkdir(parents=True, exist_ok=True)
text = profiler.output_text(unicode=False, color=False, show_all=False)
Path(f"{args.out}.txt").write_text(text)
Path(f"{args.out}.html").write_text(profiler.output_html())

# CPU time only (cProfile timed by process_time): where the interpreter works, whatever the
# machine's load does to waits. Cumulative CPU ms per request of the request path's parts.
cpu_raws = raws("c", max(100, args.requests // 2))
cpu_profile = cProfile.Profile(time.process_time)
cpu_start = time.process_time()
cpu_profile.enable()
for raw in cpu_raws:
    request(raw)
cpu_profile.disable()
cpu_total = time.process_time() - cpu_start
stats = pstats.Stats(cpu_profile)
# (label, file, function): cumulative CPU of each function, found by file and name. A row whose
# function is not in the profile is skipped; the project's own are noted (renamed, or not called).
PARTS = [
    ("whole request (WSGIHandler.__call__)", "django/core/handlers/wsgi.py", "__call__"),
    ("middleware + view (get_response)", "django/core/handlers/base.py", "get_response"),
    ("DRF APIView.dispatch", "rest_framework/views.py", "dispatch"),
    ("view body (JodoWebhookView.post)", "jodo_webhooks/views.py", "post"),
    ("reference view (receive)", "reference/views.py", "receive"),
    ("read_body", "jodo_webhooks/views.py", "read_body"),
    ("check_before_body", "jodo_webhooks/security.py", "check_before_body"),
    ("check_signature (HMAC)", "jodo_webhooks/security.py", "check_signature"),
    ("redacted_headers", "jodo_webhooks/security.py", "redacted_headers"),
    ("parse_body (json)", "jodo_webhooks/envelope.py", "parse_body"),
    ("validate_envelope", "jodo_webhooks/envelope.py", "validate_envelope"),
    ("canonical_digest", "jodo_webhooks/envelope.py", "canonical_digest"),
    ("DRF Serializer.is_valid (all)", "rest_framework/serializers.py", "is_valid"),
    ("insert_event", "jodo_webhooks/recording.py", "insert_event"),
    (
        "counted_redelivery (the look for a known event)",
        "jodo_webhooks/recording.py",
        "counted_redelivery",
    ),
    ("receive_envelope", "jodo_webhooks/receiving.py", "receive_envelope"),
    ("process_new_event (inline)", "jodo_webhooks/processing.py", "process_new_event"),
    ("run_receivers", "jodo_webhooks/processing.py", "run_receivers"),
    ("enqueue (task mode)", "jodo_webhooks/receiving.py", "_enqueue_or_raise"),
    ("process_event", "jodo_webhooks/processing.py", "process_event"),
    ("parse_student_event", "jodo_webhooks/student_payload.py", "parse_student_event"),
    ("apply (student sync)", "jodo_webhooks/student_sync.py", "apply"),
    ("find the student (locked)", "jodo_webhooks/student_sync.py", "_find"),
    ("replace the Jodo notes", "jodo_webhooks/student_sync.py", "_replace_jodo_notes"),
    ("Model.save", "django/db/models/base.py", "save"),
    ("QuerySet.update", "django/db/models/query.py", "update"),
    ("SQL compile (SQLCompiler.as_sql, all)", "django/db/models/sql/compiler.py", "as_sql"),
    ("SQL execute (CursorWrapper.execute, all)", "django/db/backends/utils.py", "execute"),
    ("psycopg wait for the server (all)", "psycopg/connection.py", "wait"),
    ("transaction.atomic enter (all)", "django/db/transaction.py", "__enter__"),
    ("transaction.atomic exit (all)", "django/db/transaction.py", "__exit__"),
    ("DRF Response rendering", "rest_framework/response.py", "rendered_content"),
]
breakdown, not_found = [], []
for label, path, name in PARTS:
    cumulative = [
        value[3]
        for (filename, _, function), value in stats.stats.items()
        if filename.endswith(path) and function == name
    ]
    if cumulative:  # the largest entry: nested calls of the same function are inside it
        breakdown.append((label, max(cumulative) * 1000 / len(cpu_raws)))
    elif path.startswith("jodo_webhooks/") and not args.reference:
        not_found.append(f"{path}:{name}")
lines = [f"CPU ms per request (cProfile, process_time), {len(cpu_raws)} requests", ""]
lines += [f"{ms:8.3f}  {label}" for label, ms in breakdown]
lines += [f"     n/a  {missing} (not in the profile: skipped)" for missing in not_found]
lines += ["", "Top functions by own CPU time:", ""]
Path(f"{args.out}.cpu.txt").write_text("\n".join(lines) + "\n")
with open(f"{args.out}.cpu.txt", "a") as file:
    pstats.Stats(cpu_profile, stream=file).sort_stats("tottime").print_stats(40)
    pstats.Stats(cpu_profile, stream=file).sort_stats("cumulative").print_stats(60)
print(
    json.dumps(
        {
            "receiver": args.label or ("reference" if args.reference else "project"),
            "requests_timed": len(timed),
            "ms_per_request": round(wall / len(timed) * 1000, 3),
            "cpu_ms_per_request": round(cpu / len(timed) * 1000, 3),
            "sql_ms_per_request": round(sql_seconds / len(timed) * 1000, 3),
            "queries_per_request": round(queries / len(timed), 2),
            "requests_profiled": len(profiled),
            "cpu_ms_per_request_profiled": round(cpu_total * 1000 / len(cpu_raws), 3),
            # Python function calls per request: the work done, whatever the machine's load.
            "calls_per_request": round(stats.total_calls / len(cpu_raws)),
            "cpu_breakdown_ms": {label: round(ms, 3) for label, ms in breakdown},
            "not_found": not_found,
            "profile_text": f"{args.out}.txt",
            "profile_cpu": f"{args.out}.cpu.txt",
            "profile_html": f"{args.out}.html",
        }
    )
)
