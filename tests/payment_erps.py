"""The two ERPs the payment sync is tested against, behind one small adapter (as tests/erps.py
is for students).

- `ReferencePayments`: the `students` app's FeePayment and FeePaymentLine, rupees in
  DecimalFields, Jodo's names, a text state.
- `PupilsPayments`: `tests.pupils`' Receipt and ReceiptHead, integer paise, a numeric stage,
  other names, and fewer fields mapped.

`payment()` returns a payment in Jodo's names and rupees: {"student", "amount", "state",
"mode", "settlement_utr", "settled_at", "lines": {component: amount}, "difference"}.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.forms.models import model_to_dict

from students.models import FeePayment, FeePaymentLine
from tests.pupils.models import Receipt, ReceiptHead

from .erps import ERPS, PupilsErp, ReferenceErp

STAGES = {1: "received", 2: "settled", 3: "bounced", 4: "cancelled"}


class ReferencePayments:
    name = "students"
    students: ReferenceErp = ERPS["students"]  # type: ignore[assignment]
    sync_path = "students.jodo.PAYMENT_SYNC"
    payment_model = FeePayment

    def payment(self, payment_id: str) -> dict[str, Any]:
        row = FeePayment.objects.select_related("student").get(jodo_payment_id=payment_id)
        return {
            "student": row.student.identifier,
            "amount": row.amount,
            "state": row.state,
            "mode": row.mode,
            "settlement_utr": row.settlement_utr,
            "settled_at": row.settled_at,
            "lines": {line.component: line.amount for line in row.lines.all()},
            "difference": row.lines_difference,
        }

    def count(self) -> int:
        return FeePayment.objects.count()

    def rows(self, payment_id: str) -> dict[str, Any]:
        """Every column the sync writes, and the lines: to compare two histories' outcomes."""
        row = FeePayment.objects.get(jodo_payment_id=payment_id)
        data = model_to_dict(row, exclude=["id", "jodo_payment_id", "jodo_versions"])
        data["jodo_updated_at"] = row.jodo_updated_at
        lines = FeePaymentLine.objects.filter(payment=row).order_by("component")
        data["lines"] = [model_to_dict(line, exclude=["id", "payment"]) for line in lines]
        return data


class PupilsPayments:
    name = "pupils"
    students: PupilsErp = ERPS["pupils"]  # type: ignore[assignment]
    sync_path = "tests.pupils.jodo.RECEIPT_SYNC"
    payment_model = Receipt

    def payment(self, payment_id: str) -> dict[str, Any]:
        row = Receipt.objects.select_related("pupil").get(jodo_ref=payment_id)
        shortfall = row.shortfall_paise
        return {
            "student": row.pupil.admission_no,
            "amount": Decimal(row.paise) / 100,
            "state": STAGES[row.stage],
            "mode": row.method,
            "settlement_utr": row.utr,
            "settled_at": row.cleared_on,
            "lines": {head.head: Decimal(head.paise) / 100 for head in row.heads.all()},
            "difference": None if shortfall is None else Decimal(shortfall) / 100,
        }

    def count(self) -> int:
        return Receipt.objects.count()

    def rows(self, payment_id: str) -> dict[str, Any]:
        row = Receipt.objects.get(jodo_ref=payment_id)
        data = model_to_dict(row, exclude=["id", "jodo_ref", "jodo_versions"])
        heads = ReceiptHead.objects.filter(receipt=row).order_by("head")
        data["lines"] = [model_to_dict(head, exclude=["id", "receipt"]) for head in heads]
        return data


PAYMENT_ERPS: dict[str, ReferencePayments | PupilsPayments] = {
    "students": ReferencePayments(),
    "pupils": PupilsPayments(),
}


def use_payment_erp(settings: Any, name: str) -> ReferencePayments | PupilsPayments:
    """Point the student and payment syncs at one ERP's mappings (pytest-django's `settings`)."""
    erp = PAYMENT_ERPS[name]
    settings.JODO_WEBHOOKS = {
        **settings.JODO_WEBHOOKS,
        "STUDENT_SYNC": erp.students.sync_path,
        "PAYMENT_SYNC": erp.sync_path,
    }
    return erp
