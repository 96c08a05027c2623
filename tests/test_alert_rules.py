"""The example alerting rules in docs/prometheus are valid and fire when they should (promtool's
own unit tests of them, docs/prometheus/jodo-webhooks-rules.test.yml)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

RULES = Path(__file__).resolve().parent.parent / "docs" / "prometheus"

pytestmark = pytest.mark.skipif(
    shutil.which("promtool") is None, reason="needs promtool (Debian: apt-get install prometheus)"
)


@pytest.mark.parametrize(
    "command",
    [
        ["promtool", "check", "rules", "jodo-webhooks-rules.yml"],
        ["promtool", "test", "rules", "jodo-webhooks-rules.test.yml"],
    ],
)
def test_promtool_accepts_the_rules(command):
    result = subprocess.run(command, cwd=RULES, capture_output=True, text=True, check=False)  # noqa: S603

    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout
