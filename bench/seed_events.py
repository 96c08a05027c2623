"""Store N deliveries as recorded but unprocessed events, for `jodo_reprocess --pending`.

Run by bench/run.py with the project's environment (DATABASE_URL etc.):
    .venv/bin/python bench/seed_events.py --count 10000 --notes 3 --tag x1
It goes through the app's own record_delivery, so that the rows are exactly those the view
stores, committing every 1,000 to stay quick. Prints {"events": N} as JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path[:0] = [str(BENCH.parent), str(BENCH)]
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "erp_project.settings")

import django

django.setup()

from django.db import transaction
from jodo_webhooks.recording import record_delivery

from load import encode, envelope


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, required=True)
    parser.add_argument("--notes", type=int, default=3)
    parser.add_argument("--tag", required=True)
    args = parser.parse_args()
    headers = {"Content-Type": "application/json", "Host": "127.0.0.1"}
    done = 0
    while done < args.count:
        with transaction.atomic():
            for n in range(done, min(done + 1000, args.count)):
                body = envelope(f"{args.tag}-{n:07d}", args.notes)
                record_delivery(body, encode(body).decode(), headers, "127.0.0.1")
        done = min(done + 1000, args.count)
    print(json.dumps({"events": done}))


if __name__ == "__main__":
    main()
