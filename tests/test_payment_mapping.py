"""The payment mapping itself: `manage.py check` (E008) reports one that cannot work, and the
fields an event writes are listed for the ERP's admin."""

from __future__ import annotations

import dataclasses

import pytest
from django.core.checks import run_checks

from jodo_webhooks import Amount, PaymentLines
from students.jodo import PAYMENT_SYNC
from tests.pupils.jodo import RECEIPT_SYNC
from tests.pupils.models import Receipt

from .payment_erps import PAYMENT_ERPS

pytestmark = pytest.mark.django_db


def e008_messages():
    return [message.msg for message in run_checks() if message.id == "jodo_webhooks.E008"]


def use(settings, students, payments):
    settings.JODO_WEBHOOKS = {
        **settings.JODO_WEBHOOKS,
        "STUDENT_SYNC": students,
        "PAYMENT_SYNC": payments,
    }


def test_both_mappings_pass_the_check(settings):
    for erp in PAYMENT_ERPS.values():
        use(settings, erp.students.sync_path, erp.sync_path)
        assert e008_messages() == [], erp.name


def test_a_mapping_that_cannot_hold_money_exactly_or_find_its_rows_is_reported(settings):
    broken = dataclasses.replace(
        RECEIPT_SYNC,
        jodo_payment_id="method",  # not unique: a payment could be booked twice
        amount="paise",  # an integer field holding rupees would drop the paise
        fields={"mode": "method", "amount_due": "utr"},
        lines=PaymentLines(
            "pupils.ReceiptHead", payment="receipt", component="paise", amount="paise"
        ),
    )
    use(settings, "tests.pupils.jodo.PUPIL_SYNC", broken)

    assert e008_messages() == [
        "JODO_WEBHOOKS PAYMENT_SYNC: 'amount_due' is not a payment field; use one of product, "
        "mode, transaction_id, reference_id, settlement_utr, settled_at, paid_at, notes, "
        "subscription_id.",
        "JODO_WEBHOOKS PAYMENT_SYNC: Receipt.paise is an integer field: rupees need "
        "Amount('paise', 'paise').",
    ]

    fixed_fields = dataclasses.replace(broken, fields={}, amount=Amount("paise", "paise"))
    use(settings, "tests.pupils.jodo.PUPIL_SYNC", fixed_fields)
    assert e008_messages() == [
        "JODO_WEBHOOKS PAYMENT_SYNC: Receipt.method must be unique.",
        "JODO_WEBHOOKS PAYMENT_SYNC: ReceiptHead.paise is an integer field: rupees need "
        "Amount('paise', 'paise').",
    ]


def test_a_difference_field_that_cannot_be_negative_is_reported(settings):
    """Lines adding up to more than the amount give a negative difference: a positive integer
    field would refuse it, and every event of that payment would fail."""
    broken = dataclasses.replace(RECEIPT_SYNC, difference="stage")  # PositiveSmallIntegerField
    use(settings, "tests.pupils.jodo.PUPIL_SYNC", broken)

    assert e008_messages() == [
        "JODO_WEBHOOKS PAYMENT_SYNC: Receipt.stage must be null=True.",
        "JODO_WEBHOOKS PAYMENT_SYNC: Receipt.stage cannot hold a negative difference (lines "
        "adding up to more than the amount): use a signed field.",
    ]


def test_a_student_field_that_may_be_null_is_reported(settings, monkeypatch):
    """The payment is locked together with its student (one statement); PostgreSQL refuses to
    lock the nullable side of an outer join, so every event would fail there."""
    monkeypatch.setattr(Receipt._meta.get_field("pupil"), "null", True)
    use(settings, "tests.pupils.jodo.PUPIL_SYNC", "tests.pupils.jodo.RECEIPT_SYNC")

    assert e008_messages() == [
        "JODO_WEBHOOKS PAYMENT_SYNC: Receipt.pupil must not be null=True: every payment has its "
        "student, and it is locked with the payment."
    ]


def test_a_payment_model_that_is_not_the_student_syncs_is_reported(settings):
    use(settings, "students.jodo.STUDENT_SYNC", RECEIPT_SYNC)  # Receipt points at Pupil

    assert e008_messages() == [
        "JODO_WEBHOOKS PAYMENT_SYNC: Receipt.pupil is not a foreign key to the STUDENT_SYNC's "
        "model (Student)."
    ]


def test_a_payment_sync_needs_a_student_sync(settings):
    use(settings, None, "students.jodo.PAYMENT_SYNC")

    assert e008_messages() == [
        "JODO_WEBHOOKS PAYMENT_SYNC: needs STUDENT_SYNC: payments are matched to students by "
        "its ids."
    ]


def test_an_unimportable_mapping_is_reported(settings):
    use(settings, "students.jodo.STUDENT_SYNC", "students.jodo.NO_SUCH_SYNC")

    [message] = e008_messages()
    assert "NO_SUCH_SYNC" in message


def test_the_fields_events_write_are_listed():
    assert PAYMENT_SYNC.jodo_owned_fields == [
        "jodo_payment_id",
        "student",
        "amount",
        "state",
        "product",
        "mode",
        "transaction_id",
        "reference_id",
        "settlement_utr",
        "settled_at",
        "paid_at",
        "notes",
        "subscription_id",
        "lines_difference",
        "state_changed_at",
        "jodo_updated_at",
        "jodo_versions",
    ]
    assert RECEIPT_SYNC.jodo_owned_fields == [
        "jodo_ref",
        "pupil",
        "paise",
        "stage",
        "method",
        "utr",
        "cleared_on",
        "shortfall_paise",
        "jodo_synced_at",
        "jodo_versions",
    ]
