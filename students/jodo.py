"""How the reference ERP's models hold Jodo's students and their fee payments: the whole
integration is these two mappings.

Named in settings as JODO_WEBHOOKS["STUDENT_SYNC"] = "students.jodo.STUDENT_SYNC" and
JODO_WEBHOOKS["PAYMENT_SYNC"] = "students.jodo.PAYMENT_SYNC".
"""

from jodo_webhooks import (
    PAYMENT_FIELDS,
    PROFILE_FIELDS,
    Notes,
    PaymentLines,
    PaymentState,
    PaymentSync,
    StudentStatus,
    StudentSync,
)

from .models import FeePayment, FeePaymentLine, Student, StudentNote

STUDENT_SYNC = StudentSync(
    model=Student,
    jodo_student_id="jodo_student_id",
    identifier="identifier",
    custom_identifier="custom_identifier",
    jodo_updated_at="jodo_updated_at",
    status=StudentStatus("status", active=Student.Status.ACTIVE, dropped=Student.Status.DROPPED),
    # Our fields carry Jodo's names: grade_code, academic_year_start, collector_code, ...
    fields={name: name for name in PROFILE_FIELDS},
    notes=Notes(
        StudentNote,
        student="student",
        key="key",
        value="value",
        source="source",
        jodo=StudentNote.Source.JODO,
    ),
)

PAYMENT_SYNC = PaymentSync(
    model=FeePayment,
    jodo_payment_id="jodo_payment_id",
    student="student",
    amount="amount",  # a DecimalField: rupees
    state=PaymentState(
        "state",
        received=FeePayment.State.RECEIVED,
        settled=FeePayment.State.SETTLED,
        bounced=FeePayment.State.BOUNCED,
        cancelled=FeePayment.State.CANCELLED,
    ),
    jodo_updated_at="jodo_updated_at",
    jodo_versions="jodo_versions",
    # Again Jodo's names: product, mode, transaction_id, settlement_utr, paid_at, ...
    fields={name: name for name in PAYMENT_FIELDS},
    lines=PaymentLines(
        FeePaymentLine,
        payment="payment",
        component="component",
        amount="amount",
        fields={"settlement_utr": "settlement_utr", "settled_at": "settled_at"},
    ),
    difference="lines_difference",
    state_changed_at="state_changed_at",
)
