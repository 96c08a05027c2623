"""Signed `masterdata.student.registered` deliveries for the benchmark (standard library only).

Every delivery is a new student (identifier derived from a per-round tag, so that rounds never
share a student) with `notes` notes, a fresh UUID event_id and the current timestamp, laid out
as tests/factories.py's EnvelopeFactory lays them out.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import random
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

EVENT = "masterdata.student.registered"


def sign(raw: bytes, secret: str) -> str:
    """X-Jodo-Signature: lower-case hex HMAC-SHA256 of the raw body."""
    return hmac.new(secret.encode(), raw, hashlib.sha256).hexdigest()


def envelope(
    identifier: str,
    notes: int,
    *,
    event_id: str | None = None,
    timestamp: int | None = None,
) -> dict[str, Any]:
    return {
        "event": EVENT,
        "event_id": event_id or str(uuid.uuid4()),
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


@dataclass(frozen=True, slots=True)
class Event:
    event_id: str
    identifier: str


def write_deliveries(
    directory: Path,
    *,
    tag: str,
    count: int,
    notes: int,
    secret: str,
    threads: int = 1,
    duplicate_share: float = 0.0,
    seed: int = 0,
) -> list[Event]:
    """Write `count` signed deliveries, one line each, round-robin into bodies.<thread> files.

    With `duplicate_share`, that share of the lines repeats, byte for byte, a delivery sent
    50 to 5,000 lines earlier (a redelivery; never one still likely in flight). Returns the
    distinct events written.
    """
    directory.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    files = [(directory / f"bodies.{n}").open("wb") for n in range(threads)]
    events: list[Event] = []
    lines: list[bytes] = []
    every = round(1 / duplicate_share) if duplicate_share > 0 else 0
    try:
        for position in range(count):
            if every and position % every == every - 1 and position >= 100:
                line = lines[rng.randint(max(0, position - 5000), position - 50)]
            else:
                identifier = f"{tag}-{len(events):07d}"
                body = envelope(identifier, notes)
                raw = encode(body)
                line = sign(raw, secret).encode() + b" " + raw + b"\n"
                events.append(Event(body["event_id"], identifier))
            lines.append(line)
            files[position % threads].write(line)
    finally:
        for file in files:
            file.close()
    return events
