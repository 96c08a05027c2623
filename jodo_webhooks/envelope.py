"""Jodo's delivery envelope: parsing the raw body, validating its fields, and its digest."""

from __future__ import annotations

import hashlib
import json
import math
import re
from typing import Any

from rest_framework import serializers

# How deep the body may nest, counting the envelope object as level 1. MariaDB's JSON check
# refuses a document nested 32 levels deep, and the payload (level 2) is stored as one; so
# with the body at most 32 levels deep, the stored payload is at most 31, on every database.
MAX_DEPTH = 32
# JSON numbers that every supported database stores as they came: signed 64-bit integers
# (MySQL's JSON type keeps an integer beyond 64 bits only as a rounded double), and floats short
# of infinity (1e400 parses to infinity, which no JSON column can hold).
MIN_INTEGER = -(2**63)
MAX_INTEGER = 2**63 - 1
# Longer digit strings are not converted (Python refuses to, by default): out of range anyway.
_LONGEST_INTEGER_TEXT = 4300

# Text that no supported database can store: NUL (PostgreSQL) and lone surrogates (not
# Unicode, so not UTF-8). In valid UTF-8 JSON text they can only come from \u escapes.
UNSTORABLE_CHARACTER = re.compile("[\x00\ud800-\udfff]")
_UNSTORABLE_ESCAPE = re.compile(r"\\u(?:0000|[dD][89abcdefABCDEF])")
_PLAIN_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,39}")


class InvalidBody(ValueError):
    """The body is not UTF-8 JSON; the message says why and is safe to answer."""


class _HugeInteger:
    """A JSON integer too long to be in range, left unconverted."""

    __slots__ = ("digits",)

    def __init__(self, digits: int) -> None:
        self.digits = digits


def _parse_int(text: str) -> int | _HugeInteger:
    if len(text) > _LONGEST_INTEGER_TEXT:
        return _HugeInteger(len(text.lstrip("-")))
    return int(text)


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def parse_body(body: bytes) -> tuple[str, Any]:
    """The body as text and as parsed JSON; raises InvalidBody."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidBody(f"Body is not valid UTF-8 (byte {exc.start}).") from exc
    try:
        return text, json.loads(text, parse_constant=_reject_constant, parse_int=_parse_int)
    except RecursionError as exc:
        raise InvalidBody(
            f"Body is nested too deeply: at most {MAX_DEPTH} levels are allowed."
        ) from exc
    except ValueError as exc:
        raise InvalidBody(f"Body is not valid JSON: {exc}") from exc


class StrictCharField(serializers.CharField):
    """A CharField that refuses numbers instead of turning them into strings."""

    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


class StrictIntegerField(serializers.IntegerField):
    """An IntegerField that only takes JSON integers: no strings, floats or booleans."""

    default_error_messages = {"invalid": "A JSON integer is required."}

    def to_internal_value(self, data: Any) -> int:
        if isinstance(data, bool) or not isinstance(data, int):
            self.fail("invalid")
        return super().to_internal_value(data)


class EnvelopeSerializer(serializers.Serializer[dict[str, Any]]):
    """The fields every Jodo delivery carries; unknown extra fields are allowed and kept."""

    event_id = StrictCharField(max_length=255, trim_whitespace=False)
    event = StrictCharField(max_length=100, trim_whitespace=False)
    # Unix seconds; bounded so that it converts to a datetime on every database.
    timestamp = StrictIntegerField(min_value=0, max_value=253402300799)
    version = StrictCharField(max_length=20, allow_blank=True, trim_whitespace=False)
    payload = serializers.DictField()


# DRF deep-copies a serializer's whole field tree whenever one is instantiated, while validating
# keeps no state on the instance: one shared instance per process validates ~5x faster.
_ENVELOPE = EnvelopeSerializer()


def validate_envelope(data: Any, raw_text: str | None = None) -> dict[str, Any]:
    """The validated envelope; raises serializers.ValidationError whose detail maps fields to
    errors. `raw_text`, the JSON text `data` was parsed from, lets the common case skip looking
    at every string."""
    if not isinstance(data, dict):
        message = _ENVELOPE.error_messages["invalid"].format(datatype=type(data).__name__)
        raise serializers.ValidationError({"non_field_errors": [message]})
    problems = unstorable_values(data, raw_text)
    try:
        validated: dict[str, Any] = _ENVELOPE.run_validation(data)
    except serializers.ValidationError as exc:
        errors: dict[str, Any] = exc.detail if isinstance(exc.detail, dict) else {}
        for field, message in problems.items():
            errors.setdefault(field, [message])  # the field's own error says enough
        raise serializers.ValidationError(errors) from exc
    if problems:
        raise serializers.ValidationError({field: [msg] for field, msg in problems.items()})
    return validated


def unstorable_values(body: dict[str, Any], raw_text: str | None = None) -> dict[str, str]:
    """What in the body no supported database could store, by envelope field.

    Anywhere in the body: nesting deeper than MAX_DEPTH, a NUL character or a lone surrogate
    (in a key or a string), an integer outside 64 bits, a number that overflows to infinity.
    Extra top-level fields are reported under `non_field_errors`. The walk is iterative, so no
    depth the JSON parser accepted can exhaust the stack.
    """
    check_text = raw_text is None or _UNSTORABLE_ESCAPE.search(raw_text) is not None
    problems: dict[str, str] = {}
    for key, value in body.items():
        field = key if key in _ENVELOPE.fields else "non_field_errors"
        if field in problems:
            continue
        found: tuple[tuple[Any, ...], str] | None
        if check_text and (problem := _text_problem(key)):
            found = ((key,), f"a key with {problem}")
        else:
            found = _first_problem(key, value, check_text)
        if found is not None:
            path, problem = found
            problems[field] = f"{_path_text(path)}: {problem}."
    return problems


def _first_problem(key: str, value: Any, check_text: bool) -> tuple[tuple[Any, ...], str] | None:
    problem = _scalar_problem(value, check_text)
    if problem:
        return (key,), problem
    # The envelope is level 1; a container in one of its fields is level 2.
    stack: list[tuple[Any, int, tuple[Any, ...]]] = [(value, 2, (key,))]
    while stack:
        node, depth, path = stack.pop()
        if not isinstance(node, dict | list):
            continue
        if depth > MAX_DEPTH:
            return path, f"nested deeper than {MAX_DEPTH} levels (the envelope is level 1)"
        items = node.items() if isinstance(node, dict) else enumerate(node)
        for name, child in items:
            if check_text and isinstance(name, str) and (problem := _text_problem(name)):
                return (*path, name), f"a key with {problem}"
            if isinstance(child, dict | list):
                stack.append((child, depth + 1, (*path, name)))
            elif problem := _scalar_problem(child, check_text):
                return (*path, name), problem
    return None


def _scalar_problem(value: Any, check_text: bool) -> str | None:
    if isinstance(value, str):
        return _text_problem(value) if check_text else None
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        if MIN_INTEGER <= value <= MAX_INTEGER:
            return None
        return "an integer outside the 64-bit range (-2**63 to 2**63-1)"
    if isinstance(value, _HugeInteger):
        return f"an integer of {value.digits} digits, outside the 64-bit range (-2**63 to 2**63-1)"
    if isinstance(value, float) and math.isinf(value):
        return "a number too large to store (it overflows to infinity)"
    return None


def _text_problem(text: str) -> str | None:
    found = UNSTORABLE_CHARACTER.search(text)
    if found is None:
        return None
    if found.group() == "\x00":
        return "a NUL character (\\u0000), which cannot be stored"
    return f"a lone surrogate (U+{ord(found.group()):04X}), which is not Unicode text"


def _path_text(path: tuple[Any, ...], limit: int = 200) -> str:
    """The location of a value, for messages: ASCII only, whatever the keys hold."""
    parts = []
    for name in path:
        if isinstance(name, int):
            parts.append(f"[{name}]")
        elif _PLAIN_KEY.fullmatch(name):
            parts.append(f".{name}" if parts else name)
        else:
            parts.append(f"[{json.dumps(name[:40])}]")
    text = "".join(parts)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def canonical_digest(body: dict[str, Any]) -> str:
    """SHA-256 of the event's content in canonical JSON, so re-serialising it is no mismatch.

    Covers event, timestamp, version and payload: extra envelope fields may describe the
    delivery rather than the event, and the event_id is the key itself.
    """
    content = {key: body.get(key) for key in ("event", "timestamp", "version", "payload")}
    canonical = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    # surrogatepass: the digest of any parsed body, even one validation would refuse.
    return hashlib.sha256(canonical.encode("utf-8", "surrogatepass")).hexdigest()
