"""factory-boy factories for Jodo's student-linked payment events, with fresh ids.

Amounts are given as Jodo sends them: JSON numbers (a Python float is written with its shortest
text, so 1999.99 arrives as `1999.99`) or strings ("2250").
"""

from __future__ import annotations

import time
import uuid

import factory

from .factories import StudentBodyFactory


class PaymentLineBodyFactory(factory.DictFactory):
    """One `payment.details[]` row."""

    fee_component = factory.Sequence(lambda n: f"COMPONENT_{n}")
    amount = "1000.00"


class PaymentBodyFactory(factory.DictFactory):
    """`payload.payment` of a payment event."""

    id = factory.Sequence(lambda n: f"pay_{n:06d}")
    amount = 1000.0
    mode = "cash"
    transaction_id = factory.LazyAttribute(lambda o: f"txn_{o.id}")
    reference_id = None
    settlement_utr = None
    paid_at = "2026-06-01T10:00:00Z"
    notes = "paid at the school office"
    details = factory.LazyAttribute(
        lambda o: [{"fee_component": "TUITION_FEE", "amount": str(o.amount)}]
    )


class PaymentPayloadFactory(factory.DictFactory):
    jodo_student_id = factory.LazyAttribute(lambda o: f"student_{o.student['identifier']}")
    student = factory.SubFactory(StudentBodyFactory, notes=[])
    payment = factory.SubFactory(PaymentBodyFactory)


class PaymentEnvelopeFactory(factory.DictFactory):
    """A whole payment event body with a fresh event_id and a current timestamp."""

    event = "direct.payment.added"
    event_id = factory.LazyFunction(lambda: str(uuid.uuid4()))
    version = "1.0"
    timestamp = factory.LazyFunction(lambda: int(time.time()))
    payload = factory.SubFactory(PaymentPayloadFactory)


def payment_event(
    event: str = "direct.payment.added",
    *,
    payment_id: str = "pay_1",
    student: str = "A1",
    jodo_student_id: str | None = "J-1",
    timestamp: int | None = None,
    event_id: str | None = None,
    **payment: object,
) -> dict:
    """A payment event for `payment_id` of the student whose identifier is `student`;
    `payment` sets fields of `payload.payment`."""
    extra: dict[str, object] = {} if event_id is None else {"event_id": event_id}
    if timestamp is not None:
        extra["timestamp"] = timestamp
    return PaymentEnvelopeFactory(
        event=event,
        payload__jodo_student_id=jodo_student_id,
        payload__student__identifier=student,
        payload__student__custom_identifier=f"cust_{student}",
        payload__payment__id=payment_id,
        **{f"payload__payment__{name}": value for name, value in payment.items()},
        **extra,
    )
