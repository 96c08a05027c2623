"""Request text in log lines: escaped, so that a sender cannot start a line of its own."""

from __future__ import annotations

import re

# C0 and C1 controls (line feeds, carriage returns, escapes), DEL, Unicode's line and paragraph
# separators, and lone surrogates (which a UTF-8 log handler could not even write).
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff]")


def _escape(match: re.Match[str]) -> str:
    return match.group().encode("unicode_escape").decode("ascii")


def log_safe(value: object) -> str:
    """`value` as text for a log line: control characters escaped (a line feed becomes `\\n`)."""
    return _UNSAFE.sub(_escape, str(value))
