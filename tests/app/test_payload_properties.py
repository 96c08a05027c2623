"""Property: whatever a documented event's payload holds, `parse_event` returns its typed object
or raises InvalidPayload naming a field under `payload`, never another exception.

Hypothesis mutates each fixture: one value anywhere in the payload replaced by any JSON value
(numbers as Jodo might write them, wrong types, nesting) or removed. Each body goes through the
real endpoint; the recorded row is parsed. HYPOTHESIS_EXAMPLES sets the number of examples
(200 by default).
"""

from __future__ import annotations

import json
import os
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import event as note
from hypothesis import strategies as st

from jodo_webhooks import DOCUMENTED_EVENT_TYPES, InvalidPayload, parse_event
from jodo_webhooks.models import InboundEvent

from .payloads import RAW, body_text, fixture

pytestmark = pytest.mark.django_db

# JSON text for a number, as Jodo might write one: integers, fractions, exponents.
number_text = st.from_regex(
    r"-?(0|[1-9][0-9]{0,17})(\.[0-9]{1,4})?([eE][+-]?[0-9]{1,2})?", fullmatch=True
)
scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | st.text(max_size=12)
    | number_text  # a number in a string, as some pages send amounts
)
json_values = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3)
    ),
    max_leaves=6,
)


def paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix] if prefix else []
    if isinstance(value, dict):
        items: Any = value.items()
    else:
        items = enumerate(value) if isinstance(value, list) else ()
    for key, child in items:
        found += paths(child, (*prefix, key))
    return found


@st.composite
def mutated_bodies(draw: st.DrawFn) -> tuple[str, bytes]:
    code = draw(st.sampled_from(sorted(DOCUMENTED_EVENT_TYPES)))
    body = fixture(code)
    path = draw(st.sampled_from(paths(body["payload"])))
    parent = body["payload"]
    for key in path[:-1]:
        parent = parent[key]
    raw = None
    if isinstance(parent, dict) and draw(st.booleans()):
        del parent[path[-1]]
    elif draw(st.booleans()):
        parent[path[-1]] = RAW
        raw = draw(number_text)
    else:
        parent[path[-1]] = draw(json_values)
    return code, body_text(body, raw)


def decimals(value: Any) -> list[Decimal]:
    """Every Decimal in a parsed object's fields, nested dataclasses and tuples included."""
    if isinstance(value, Decimal):
        return [value]
    if isinstance(value, tuple | list):
        return [d for item in value for d in decimals(item)]
    if hasattr(value, "__dataclass_fields__"):
        return [
            d
            for name in value.__dataclass_fields__
            if name not in ("extra", "payload")  # kept as sent, not validated
            for d in decimals(getattr(value, name))
        ]
    return []


@settings(
    max_examples=int(os.environ.get("HYPOTHESIS_EXAMPLES", "200")),
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(case=mutated_bodies())
def test_a_payload_parses_or_fails_with_invalid_payload_naming_a_field(deliver, case) -> None:
    code, raw = case
    response = deliver(raw)
    if response.status_code != 200:  # refused at the door (e.g. a number no database stores)
        assert response.status_code == 400, response.content
        note("refused by the endpoint")
        return
    event = InboundEvent.objects.get(event_id=json.loads(raw)["event_id"])
    failure: InvalidPayload | None
    try:
        data = parse_event(event)
    except InvalidPayload as exc:
        failure = exc
    else:
        failure = None
    note("InvalidPayload" if failure else "parsed")
    if failure is not None:
        assert str(failure).startswith("Invalid payload: ")
        assert failure.errors
        # The student parser keeps DRF's nested errors; every other parser names paths.
        fields = failure.errors if isinstance(failure.errors, dict) else {}
        assert code.startswith("masterdata.") or all(f.startswith("payload") for f in fields)
        return
    assert data.event_type == code
    for amount in decimals(data):
        assert amount.is_finite()
        assert 0 <= amount < 10**16
        assert amount == amount.quantize(Decimal("0.01"))  # to the paisa
