"""The reference ERP's admin for payments: the student's payments and total on its page, a
payments list with filters and search, and Jodo's fields read-only."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.db.models.signals import pre_save
from django.urls import reverse

from students.models import FeePayment

from .helpers import admin_listed, deliver_event
from .payment_factories import payment_event
from .students_support import StudentFactory

pytestmark = pytest.mark.django_db

PAYMENTS = reverse("admin:students_feepayment_changelist")


@pytest.fixture
def payments(deliver):
    """Student A1 with a received, a settled and a cancelled payment."""
    student = StudentFactory(identifier="A1", jodo_student_id="J-1")
    for body in [
        payment_event(payment_id="p-cash", amount="1000.50", mode="cash", transaction_id="T-1"),
        payment_event(
            "pay.payment.settled",
            payment_id="p-upi",
            amount=2000.0,
            mode="upi",
            settlement_utr="UTR-77",
            details=[{"fee_component": "TUITION_FEE", "amount": "1500"}],
        ),
        payment_event("direct.payment.cancelled", payment_id="p-void", amount=999, mode="cash"),
    ]:
        assert deliver_event(deliver, body).status == "processed"
    return student


def test_the_students_page_shows_its_payments_and_the_total_received(admin_client, payments):
    response = admin_client.get(reverse("admin:students_student_change", args=[payments.pk]))

    assert response.status_code == 200
    page = response.content.decode()
    for payment_id in ("p-cash", "p-upi", "p-void"):
        assert payment_id in page
    # Received and settled count; the cancelled payment keeps its row but not its money.
    assert "3000.50" in page


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({"state__exact": "settled"}, {"p-upi"}),
        ({"state__exact": "cancelled"}, {"p-void"}),
        ({"mode__exact": "cash"}, {"p-cash", "p-void"}),
        ({"product__exact": "pay"}, {"p-upi"}),
        ({"lines_add_up": "no"}, {"p-upi"}),
        ({"q": "p-cash"}, {"p-cash"}),
        ({"q": "T-1"}, {"p-cash"}),
        ({"q": "UTR-77"}, {"p-upi"}),
    ],
)
def test_the_payments_list_filters_and_searches(admin_client, payments, query, expected):
    listed = admin_listed(admin_client, PAYMENTS, **query)

    assert {payment.jodo_payment_id for payment in listed} == expected


def test_jodos_fields_are_read_only_and_payments_are_never_added_or_deleted(admin_client, payments):
    payment = FeePayment.objects.get(jodo_payment_id="p-upi")
    url = reverse("admin:students_feepayment_change", args=[payment.pk])

    response = admin_client.get(url)
    assert response.status_code == 200
    form = response.context["adminform"].form
    assert "amount" not in form.fields
    assert "jodo_versions" not in response.content.decode()
    posted = admin_client.post(url, {"amount": "1.00", "state": "cancelled"})

    payment.refresh_from_db()
    assert posted.status_code in (200, 302)
    assert (payment.amount, payment.state) == (Decimal("2000.00"), "settled")
    assert admin_client.get(reverse("admin:students_feepayment_add")).status_code == 403
    delete = reverse("admin:students_feepayment_delete", args=[payment.pk])
    assert admin_client.post(delete, {"post": "yes"}).status_code == 403
    assert FeePayment.objects.filter(pk=payment.pk).exists()


def test_payments_waiting_for_their_student_are_listed_with_the_ids_they_wait_for(
    admin_client, deliver
):
    body = payment_event(payment_id="p-early", student="NEW-9", jodo_student_id="J-9")
    deliver_event(deliver, body)
    events = reverse("admin:jodo_webhooks_inboundevent_changelist")

    listed = admin_listed(admin_client, events, status__exact="waiting")

    assert [event.event_id for event in listed] == [body["event_id"]]
    page = admin_client.get(events, {"status__exact": "waiting"}).content.decode()
    assert "jodo-status-waiting" in page
    assert "waiting for student jodo_student_id &#x27;J-9&#x27;" in page


def test_saving_a_payment_in_the_admin_never_undoes_an_event_applied_meanwhile(
    admin_client, payments, deliver
):
    """The admin reads the payment when the POST begins; an event applied before its save (here,
    deterministically, from the save's pre_save) must survive: the save writes the fields people
    may change, not the stale Jodo values it read."""
    payment = FeePayment.objects.get(jodo_payment_id="p-cash")
    url = reverse("admin:students_feepayment_change", args=[payment.pk])
    page = admin_client.get(url)
    management = page.context["inline_admin_formsets"][0].formset.management_form
    data = {f"lines-{name}": value for name, value in management.initial.items()}
    cancelled = payment_event("direct.payment.cancelled", payment_id="p-cash", amount="1000.50")
    applied: list[str] = []

    def cancel_meanwhile(sender, instance, **kwargs):
        if instance.pk == payment.pk and not applied:  # the admin's save, not the sync's
            applied.append("delivering")
            applied[0] = deliver_event(deliver, cancelled).status

    pre_save.connect(cancel_meanwhile, sender=FeePayment)
    try:
        response = admin_client.post(url, data)
    finally:
        pre_save.disconnect(cancel_meanwhile, sender=FeePayment)

    assert response.status_code == 302, response.context and response.context["errors"]
    assert applied == ["processed"]
    payment.refresh_from_db()
    assert (payment.state, payment.amount) == ("cancelled", Decimal("1000.50"))
