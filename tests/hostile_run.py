"""A generated run of hostile requests against a real server, as issue 13's was made.

The deliveries are the property tests' (tests/test_hostile_properties.py), sent over HTTP to a
running server (gunicorn, say) that shares this environment's DATABASE_URL and first secret,
with JODO_WEBHOOK_MAX_BODY_BYTES=8192 as the property tests use. Counts every answer and every
breach, and exits 1 on any:

- a 5xx, or an answer that is not JSON;
- an answer that differs from the one the request alone decides (405, 413, 401, or 400 for
  what no database can store);
- a 2xx whose event has no row in the database.

    JODO_WEBHOOK_SECRETS=s JODO_WEBHOOK_MAX_BODY_BYTES=8192 .venv/bin/gunicorn erp_project.wsgi &
    JODO_WEBHOOK_SECRETS=s .venv/bin/python -m tests.hostile_run --requests 20000
"""

from __future__ import annotations

import argparse
import collections
import http.client
import json
import os
import sys
import time
from typing import Any
from urllib.parse import urlsplit

import django


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", default="http://127.0.0.1:8000/webhooks/jodo/")
    parser.add_argument("--requests", type=int, default=20_000, help="at least this many")
    args = parser.parse_args()

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "erp_project.settings")
    django.setup()
    from hypothesis import HealthCheck, Phase, given, settings

    from jodo_webhooks.conf import app_settings
    from jodo_webhooks.models import InboundEvent
    from jodo_webhooks.security import SIGNATURE_HEADER, sign

    from . import test_hostile_properties as properties

    secret = app_settings.secrets[0]
    url = urlsplit(args.url)
    answers: collections.Counter[str] = collections.Counter()
    breaches: collections.Counter[str] = collections.Counter()
    examples: dict[str, bytes] = {}
    sent = 0

    def send(request: Any) -> tuple[int, dict[str, str], bytes]:
        headers = {"Content-Type": "application/json"}
        if request.auth == "signed":
            headers[SIGNATURE_HEADER] = sign(request.body, secret)
        elif request.auth == "wrong":
            headers[SIGNATURE_HEADER] = "0" * 64
        elif request.auth == "other-secret":
            headers[SIGNATURE_HEADER] = sign(request.body, "not-the-secret")
        connection = http.client.HTTPConnection(url.hostname, url.port or 80, timeout=30)
        try:
            connection.request(request.method, url.path, body=request.body, headers=headers)
            response = connection.getresponse()
            return response.status, dict(response.getheaders()), response.read()
        finally:
            connection.close()

    def breach(kind: str, body: bytes) -> None:
        breaches[kind] += 1
        examples.setdefault(kind, body[:300])

    @settings(
        max_examples=args.requests,
        deadline=None,
        database=None,
        phases=[Phase.generate],  # count every breach; no shrinking
        suppress_health_check=list(HealthCheck),
    )
    @given(plan=properties.plans())
    def run(plan: Any) -> None:
        nonlocal sent
        for request in [plan.first, *plan.then]:
            status, headers, content = send(request)
            sent += 1
            answers[f"{request.method} {request.auth} {status}"] += 1
            if status >= 500:
                breach(f"{status}", request.body)
            try:
                if headers.get("Content-Type") != "application/json":
                    raise ValueError(headers.get("Content-Type"))
                if request.method != "HEAD":
                    json.loads(content)
            except ValueError:
                breach("not JSON", request.body)
            expected = properties.expected_status(request)
            if expected is not None and status != expected:
                breach(f"{status} where {expected} was due", request.body)
            if 200 <= status < 300:
                event_id = json.loads(request.body)["event_id"]
                if not InboundEvent.objects.filter(event_id=event_id).exists():
                    breach("2xx without a row", request.body)
        if sent % 1000 < 2:
            print(f"{sent} requests, {sum(breaches.values())} breaches", file=sys.stderr)

    started = time.monotonic()
    run()
    seconds = time.monotonic() - started
    print(f"{sent} requests in {seconds:.0f} s to {args.url}")
    for answer, count in sorted(answers.items()):
        print(f"  {count:6d}  {answer}")
    for kind, count in breaches.items():
        print(f"BREACH {count}x {kind}, e.g. {examples[kind]!r}")
    return 1 if breaches else 0


if __name__ == "__main__":
    sys.exit(main())
