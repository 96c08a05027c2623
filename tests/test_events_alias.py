"""A router that writes the app's events to another database alias than the ERP's models: the
events' transactions and the ERP's are then separate, and a waiting payment still meets its
student, whichever commits first.

The `events` alias (tests/settings.py) is the test database through a connection of its own, so
each alias commits on its own, as two databases would.
"""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from jodo_webhooks.models import InboundEvent
from students.models import FeePayment

from .helpers import requires_server_database, signed_post
from .payment_factories import payment_event
from .test_payment_waiting import race_payments_and_registrations, registration

pytestmark = [
    requires_server_database,
    pytest.mark.django_db(transaction=True, databases=["default", "events"]),
]


class EventsApartRouter:
    """The app's models (events, refusals) on `events`; everything else on `default`."""

    def _db(self, model: Any) -> str:
        return "events" if model._meta.app_label == "jodo_webhooks" else "default"

    def db_for_read(self, model: Any, **hints: Any) -> str:
        return self._db(model)

    def db_for_write(self, model: Any, **hints: Any) -> str:
        return self._db(model)

    def allow_relation(self, obj1: Any, obj2: Any, **hints: Any) -> bool:
        return True

    def allow_migrate(self, db: str, app_label: str, **hints: Any) -> bool:
        return db == "default"


@pytest.fixture(autouse=True)
def events_apart(settings: Any) -> None:
    settings.DATABASE_ROUTERS = [f"{__name__}.EventsApartRouter"]
    settings.JODO_WEBHOOKS = {
        **settings.JODO_WEBHOOKS,
        "STUDENT_SYNC": "students.jodo.STUDENT_SYNC",
        "PAYMENT_SYNC": "students.jodo.PAYMENT_SYNC",
    }


def status(body: dict[str, Any]) -> str:
    return InboundEvent.objects.get(event_id=body["event_id"]).status


def test_the_events_are_written_apart():
    # Without this, the tests below would prove nothing.
    assert InboundEvent.objects.all().db == "events"
    assert FeePayment.objects.all().db == "default"


def test_a_waiting_payment_is_released_by_its_registration():
    payment = payment_event(student="APART-1", jodo_student_id="J-APART-1", amount=500)

    assert signed_post(Client(), payment).status_code == 200
    assert status(payment) == "waiting"
    assert signed_post(Client(), registration("APART-1", "J-APART-1")).status_code == 200

    assert status(payment) == "processed"
    assert FeePayment.objects.get().student.identifier == "APART-1"


@pytest.mark.parametrize("round_", range(3))
def test_payments_and_registrations_racing_never_leave_a_payment_waiting(round_):
    race_payments_and_registrations(f"apart-{round_}")
    assert FeePayment.objects.count() == 6  # each payment once
