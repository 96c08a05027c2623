"""SQL statements per payment event, through the real endpoint: at most 10, and not one more
for 20 fee-component lines than for 1. Counted as tests/test_statement_counts.py counts them
(BEGIN, COMMIT and savepoints included), with real commits."""

from __future__ import annotations

import pytest

from students.models import FeePayment

from .helpers import statements_for
from .payment_factories import payment_event
from .students_support import StudentFactory, timestamp

pytestmark = pytest.mark.django_db(transaction=True)

# A new payment: the look for a known event_id, then one transaction that inserts the event
# with its outcome, looks for the payment (none), finds the student, inserts the payment and
# upserts its lines in one statement. Measured 8 on PostgreSQL (bench --scenario payments).
PAYMENT_EVENT_MAX_STATEMENTS = 10


def lines(n: int) -> list[dict]:
    return [{"fee_component": f"C{i:02d}", "amount": "10.00"} for i in range(n)]


@pytest.fixture
def student():
    return StudentFactory(identifier="A1", jodo_student_id="J-1")


def test_a_new_payment_takes_the_same_few_statements_for_1_or_20_lines(deliver, student):
    one = payment_event(payment_id="one", amount="10.00", details=lines(1))
    twenty = payment_event(payment_id="twenty", amount="200.00", details=lines(20))

    with_one, with_twenty = statements_for(deliver, one), statements_for(deliver, twenty)

    assert FeePayment.objects.get(jodo_payment_id="twenty").lines.count() == 20
    listing = "\n".join(with_twenty)
    assert len(with_one) == len(with_twenty), listing
    assert len(with_twenty) <= PAYMENT_EVENT_MAX_STATEMENTS, listing


def test_a_known_payment_with_new_lines_takes_few_statements(deliver, student):
    first = payment_event(timestamp=timestamp(20), amount="200.00", details=lines(20))
    statements_for(deliver, first)
    update = payment_event(
        "direct.payment.updated", timestamp=timestamp(10), amount="190.00", details=lines(19)
    )

    run = statements_for(deliver, update)

    assert FeePayment.objects.get().lines.count() == 19  # the line no longer listed is gone
    assert len(run) <= PAYMENT_EVENT_MAX_STATEMENTS, "\n".join(run)


def test_a_payment_event_that_changes_nothing_writes_nothing_to_the_payment(deliver, student):
    first = payment_event(timestamp=timestamp(10), amount="10.00", details=lines(1))
    statements_for(deliver, first)
    older = payment_event(
        "direct.payment.updated", timestamp=timestamp(20), amount="5.00", details=lines(1)
    )

    run = statements_for(deliver, older)

    assert FeePayment.objects.get().amount == 10
    assert not [sql for sql in run if sql.startswith('UPDATE "students_feepayment"')], run
