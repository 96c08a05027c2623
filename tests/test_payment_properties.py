"""Property test: a payment's events, delivered in any order and any number of times, end as
one row in the same state.

Hypothesis draws a history of one payment (a manual payment's added/updated/cancelled, or a Flex
instalment's debited/settled/bounced) with timestamps that may tie and amounts, modes, UTRs and
lines (with or without their own UTRs) that differ from event to event, then an arrival order:
every event at least once, some again (Jodo's retries). The same history is delivered to a
second payment in the order it happened; both payments must end identical, each as one row.

PAYMENT_HYPOTHESIS_EXAMPLES sets the number of examples per ERP (40 by default).
"""

from __future__ import annotations

import os
from itertools import count

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from jodo_webhooks.models import InboundEvent

from .helpers import signed_post, timestamp
from .payment_erps import PAYMENT_ERPS
from .payment_factories import payment_event

pytestmark = pytest.mark.django_db

PRODUCTS = {
    "direct": ["direct.payment.added", "direct.payment.updated", "direct.payment.cancelled"],
    "flex": ["flex.instalment.debited", "flex.instalment.settled", "flex.instalment.bounced"],
}
AMOUNTS = st.sampled_from([0.1, 1999.99, 2000.0, "2250", "0.01"])
LINES = st.lists(
    st.tuples(
        st.sampled_from(["TUITION_FEE", "BOOKS", "TRANSPORT"]),
        AMOUNTS,
        st.sampled_from([None, "L-UTR-1", "L-UTR-2"]),  # a line's own UTR (Pay's are per line)
    ),
    max_size=3,
    unique_by=lambda line: line[0],
)


@st.composite
def events(draw, product):
    return {
        "event": draw(st.sampled_from(PRODUCTS[product])),
        "offset": draw(st.integers(0, 3)),  # seconds: events of one second tie
        "amount": draw(AMOUNTS),
        "mode": draw(st.sampled_from([None, "cash", "upi"])),
        "settlement_utr": draw(st.sampled_from([None, "UTR-1", "UTR-2"])),
        "details": [
            {"fee_component": c, "amount": a, "settlement_utr": utr} for c, a, utr in draw(LINES)
        ],
        "transaction_id": draw(st.sampled_from([None, "TXN-1", "TXN-2"])),
    }


@st.composite
def histories(draw):
    product = draw(st.sampled_from(sorted(PRODUCTS)))
    history = draw(st.lists(events(product), min_size=1, max_size=5))
    order = draw(st.permutations(range(len(history))))
    retries = draw(st.lists(st.sampled_from(range(len(history))), max_size=3))
    arrivals = list(order)
    for retry in retries:  # a retry arrives somewhere after the first delivery
        position = draw(st.integers(arrivals.index(retry) + 1, len(arrivals)))
        arrivals.insert(position, retry)
    return history, arrivals


EXAMPLES = count()


@pytest.mark.parametrize("erp_name", list(PAYMENT_ERPS))
@settings(
    max_examples=int(os.environ.get("PAYMENT_HYPOTHESIS_EXAMPLES", "40")),
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(drawn=histories())
def test_any_arrival_order_ends_as_one_row_in_the_same_state(client, settings, erp_name, drawn):
    erp = PAYMENT_ERPS[erp_name]
    settings.JODO_WEBHOOKS = {
        **settings.JODO_WEBHOOKS,
        "STUDENT_SYNC": erp.students.sync_path,
        "PAYMENT_SYNC": erp.sync_path,
    }
    if not erp.students.count():
        erp.students.create_student("A1", jodo_student_id="J-1")
    history, arrivals = drawn
    n = next(EXAMPLES)
    base = timestamp(300)

    def body(run, index):
        spec = dict(history[index])
        return payment_event(
            spec.pop("event"),
            payment_id=f"P{n:05d}{run}",
            event_id=f"{run}{n:05d}-{index:02d}",  # the same order within each run
            timestamp=base + spec.pop("offset"),
            **spec,
        )

    for run, order in (("a", arrivals), ("b", range(len(history)))):
        for index in order:
            response = signed_post(client, body(run, index))
            assert response.status_code == 200, response.content

    statuses = set(
        InboundEvent.objects.filter(event_id__regex=rf"^[ab]{n:05d}-").values_list(
            "status", flat=True
        )
    )
    assert statuses == {"processed"}
    for run in "ab":
        assert erp.payment_model.objects.filter(**{_id_field(erp): f"P{n:05d}{run}"}).count() == 1
    assert erp.rows(f"P{n:05d}a") == erp.rows(f"P{n:05d}b")


def _id_field(erp):
    return "jodo_payment_id" if erp.name == "students" else "jodo_ref"
