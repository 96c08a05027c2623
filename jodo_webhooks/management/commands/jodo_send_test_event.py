from __future__ import annotations

import json
import re
import time
import urllib.error
import urllib.request
import uuid
from decimal import Decimal
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from jodo_webhooks.conf import app_settings
from jodo_webhooks.security import SIGNATURE_HEADER, sign


class Command(BaseCommand):
    help = (
        "Sign a JSON event file with the configured secret and POST it to a Jodo webhook URL, "
        "printing the answer: an end-to-end check of a deployment."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("file", type=Path, help="A JSON event, e.g. fixtures/*.json.")
        parser.add_argument(
            "--url", default="http://127.0.0.1:8000/webhooks/jodo/", help="Endpoint to POST to."
        )
        parser.add_argument(
            "--event-id", help='Replace the event_id; "new" generates a fresh UUID.'
        )
        parser.add_argument(
            "--timestamp", help='Replace the timestamp (Unix seconds); "now" uses the current time.'
        )
        parser.add_argument("--timeout", type=float, default=10.0)

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            body = options["file"].read_bytes()
        except OSError as exc:
            raise CommandError(f"Cannot read {options['file']}: {exc}") from exc
        if options["event_id"] or options["timestamp"]:
            body = self._rewrite(body, options["event_id"], options["timestamp"])

        headers = {"Content-Type": "application/json"}
        if app_settings.secrets:
            headers[SIGNATURE_HEADER] = sign(body, app_settings.secrets[0])
        if app_settings.header_check_enabled:
            headers[app_settings.HEADER_NAME] = app_settings.HEADER_VALUE
        request = urllib.request.Request(options["url"], data=body, headers=headers, method="POST")  # noqa: S310
        try:
            with urllib.request.urlopen(request, timeout=options["timeout"]) as response:  # noqa: S310
                status, answer = response.status, response.read()
        except urllib.error.HTTPError as exc:
            status, answer = exc.code, exc.read()
        except (urllib.error.URLError, OSError) as exc:
            raise CommandError(f"Could not reach {options['url']}: {exc}") from exc
        self.stdout.write(f"{status} {answer.decode('utf-8', errors='replace')}")
        if not 200 <= status < 300:
            raise CommandError(f"The endpoint answered {status}.")

    def _rewrite(self, body: bytes, event_id: str | None, timestamp: str | None) -> bytes:
        # Numbers with a fraction are kept as the file wrote them (0.10 stays 0.10, never a
        # float): each becomes a marker while dumping, then its text again.
        numbers: list[str] = []
        token = uuid.uuid4().hex  # so that no string in the file can look like a marker

        def marker(value: Any) -> str:
            if not isinstance(value, Decimal):
                raise TypeError(f"{type(value).__name__} is not JSON")
            numbers.append(str(value))
            return f"__exact_number_{token}_{len(numbers) - 1}__"

        try:
            event = json.loads(body, parse_float=Decimal)
        except ValueError as exc:
            raise CommandError(f"The file is not valid JSON: {exc}") from exc
        if event_id:
            event["event_id"] = str(uuid.uuid4()) if event_id == "new" else event_id
        if timestamp:
            event["timestamp"] = int(time.time()) if timestamp == "now" else int(timestamp)
        text = json.dumps(event, indent=2, default=marker)
        text = re.sub(
            rf'"__exact_number_{token}_(\d+)__"', lambda found: numbers[int(found[1])], text
        )
        return text.encode()
