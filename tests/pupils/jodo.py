"""The whole integration of the second test ERP: declarations only."""

from jodo_webhooks import (
    Amount,
    Notes,
    PaymentLines,
    PaymentState,
    PaymentSync,
    StudentStatus,
    StudentSync,
)

PUPIL_SYNC = StudentSync(
    model="pupils.Pupil",
    jodo_student_id="jodo_ref",
    identifier="admission_no",
    custom_identifier="alt_admission_no",
    jodo_updated_at="jodo_synced_at",
    status=StudentStatus("enrolled", active=True, dropped=False),
    fields={
        "grade_code": "class_code",
        "grade_name": "class_name",
        "academic_year_start": "session_from",
        "academic_year_end": "session_to",
        "primary_contact_email": "guardian_email",
        "collector_code": "branch",
    },
    notes=Notes("pupils.PupilTag", student="pupil", key="label", value="text"),
    before_save=lambda pupil, data: setattr(
        pupil, "display_name", f"{data.identifier} ({data.grade_name})"
    ),
)

# Payments onto other names: receipts and their heads, amounts in integer paise, a numeric stage.
RECEIPT_SYNC = PaymentSync(
    model="pupils.Receipt",
    jodo_payment_id="jodo_ref",
    student="pupil",
    amount=Amount("paise", unit="paise"),
    state=PaymentState("stage", received=1, settled=2, bounced=3, cancelled=4),
    jodo_updated_at="jodo_synced_at",
    jodo_versions="jodo_versions",
    fields={"mode": "method", "settlement_utr": "utr", "settled_at": "cleared_on"},
    lines=PaymentLines(
        "pupils.ReceiptHead", payment="receipt", component="head", amount=Amount("paise", "paise")
    ),
    difference="shortfall_paise",
)
