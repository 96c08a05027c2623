"""SQL statements per payment event, through the real endpoint, on both payment ERPs: at most 10,
and not one more for 20 fee-component lines than for 1. Counted as tests/test_statement_counts.py
counts them (BEGIN, COMMIT and savepoints included), with real commits."""

from __future__ import annotations

import pytest

from .helpers import statements_for, timestamp
from .payment_erps import PAYMENT_ERPS, use_payment_erp
from .payment_factories import payment_event

pytestmark = pytest.mark.django_db(transaction=True)

# A new payment: the look for a known event_id, then one transaction that inserts the event
# with its outcome, looks for the payment (none), finds the student, inserts the payment and
# upserts its lines in one statement. Measured 8 on PostgreSQL (bench --scenario payments).
PAYMENT_EVENT_MAX_STATEMENTS = 10


def lines(n: int) -> list[dict]:
    return [{"fee_component": f"C{i:02d}", "amount": "10.00"} for i in range(n)]


@pytest.fixture(params=list(PAYMENT_ERPS))
def erp(request, settings, jodo_settings):
    return use_payment_erp(settings, request.param)


@pytest.fixture
def student(erp):
    erp.students.create_student("A1", jodo_student_id="J-1")


def test_a_new_payment_takes_the_same_few_statements_for_1_or_20_lines(deliver, erp, student):
    one = payment_event(payment_id="one", amount="10.00", details=lines(1))
    twenty = payment_event(payment_id="twenty", amount="200.00", details=lines(20))

    with_one, with_twenty = statements_for(deliver, one), statements_for(deliver, twenty)

    assert len(erp.payment("twenty")["lines"]) == 20
    listing = "\n".join(with_twenty)
    assert len(with_one) == len(with_twenty), listing
    assert len(with_twenty) <= PAYMENT_EVENT_MAX_STATEMENTS, listing


def test_a_known_payment_takes_the_same_few_statements_for_1_or_20_lines(deliver, erp, student):
    runs = {}
    for count in (1, 20):
        payment_id = f"known-{count}"
        first = payment_event(
            payment_id=payment_id,
            timestamp=timestamp(20),
            details=lines(count + 1),
            amount=f"{10 * (count + 1)}.00",
        )
        statements_for(deliver, first)
        update = payment_event(
            "direct.payment.updated",
            payment_id=payment_id,
            timestamp=timestamp(10),
            amount=f"{10 * count}.00",
            details=lines(count),
        )
        runs[count] = statements_for(deliver, update)
        # The line no longer listed is gone.
        assert len(erp.payment(payment_id)["lines"]) == count

    listing = "\n".join(runs[20])
    assert len(runs[1]) == len(runs[20]), listing
    assert len(runs[20]) <= PAYMENT_EVENT_MAX_STATEMENTS, listing


def test_a_payment_event_that_changes_nothing_writes_nothing_to_the_payment(deliver, erp, student):
    first = payment_event(timestamp=timestamp(10), amount="10.00", details=lines(1))
    statements_for(deliver, first)
    older = payment_event(
        "direct.payment.updated", timestamp=timestamp(20), amount="5.00", details=lines(1)
    )

    run = statements_for(deliver, older)

    assert erp.payment("pay_1")["amount"] == 10
    table = erp.payment_model._meta.db_table
    assert not [sql for sql in run if sql.startswith("UPDATE") and table in sql.split()[1]], run
