"""The receiver contract: registrations, not return values, decide an event's outcome."""

from __future__ import annotations

from io import StringIO
from typing import Any

import pytest
from django.core.management import call_command

import jodo_webhooks
from jodo_webhooks import SkipEvent
from jodo_webhooks.models import InboundEvent
from jodo_webhooks.processing import process_event

from ..factories import EnvelopeFactory, InboundEventFactory
from ..helpers import deliver_event

pytestmark = pytest.mark.django_db

PAYMENT_ADDED = "direct.payment.added"
PAYMENT_UPDATED = "direct.payment.updated"


@pytest.fixture
def registered() -> Any:
    """Receivers registered with the public decorator during one test, disconnected after it."""
    calls: list[tuple[str, str]] = []

    @jodo_webhooks.receiver(PAYMENT_ADDED, PAYMENT_UPDATED)
    def on_payment(sender: type, event: Any, event_type: str, **kwargs: Any) -> None:
        calls.append((event_type, event.event_id))
        if event.payload.get("skip"):
            raise SkipEvent("already paid by hand")
        if event.payload.get("broken"):
            raise ValueError("cannot apply this payment")
        # No return value: the registration alone makes the event processed.

    yield calls
    assert jodo_webhooks.disconnect(on_payment)


def payment(event_type: str = PAYMENT_ADDED, **payload: Any) -> dict[str, Any]:
    return EnvelopeFactory(event=event_type, payload={"amount": 1250, **payload})


def test_a_receiver_that_returns_nothing_gets_its_events_processed(deliver, registered):
    added, updated = payment(), payment(PAYMENT_UPDATED)
    for body in (added, updated):
        event = deliver_event(deliver, body)
        assert (event.status, event.status_reason) == ("processed", "")
    assert registered == [
        (PAYMENT_ADDED, added["event_id"]),
        (PAYMENT_UPDATED, updated["event_id"]),
    ]


def test_a_type_without_a_registered_receiver_is_ignored_and_not_passed_to_it(deliver, registered):
    event = deliver_event(deliver, payment("direct.payment.cancelled"))
    assert event.status == "ignored"
    assert event.status_reason == "no receiver handles direct.payment.cancelled"
    assert registered == []


def test_a_plain_signal_receiver_sees_every_event_but_makes_no_type_handled(
    deliver, connect_receiver
):
    seen: list[str] = []

    def receiver(sender: object, event: InboundEvent, **kwargs: object) -> bool:
        seen.append(event.event_type)
        return True

    connect_receiver(receiver)
    event = deliver_event(deliver, payment())
    assert event.status == "ignored"  # returning True no longer means "handled"
    assert seen == [PAYMENT_ADDED]


def test_skip_event_and_exceptions_decide_skipped_and_failed(deliver, registered):
    skipped = deliver_event(deliver, payment(skip=True))
    assert (skipped.status, skipped.status_reason) == ("skipped", "already paid by hand")
    failed = deliver_event(deliver, payment(broken=True))
    assert failed.status == "failed"
    assert failed.last_error == "ValueError: cannot apply this payment"


def test_disconnected_receivers_no_longer_handle_their_types(deliver):
    @jodo_webhooks.receiver(PAYMENT_ADDED, dispatch_uid="test-payment-receiver")
    def on_payment(sender: type, event: Any, **kwargs: Any) -> None:
        raise AssertionError("disconnected")

    assert jodo_webhooks.disconnect("test-payment-receiver")
    assert deliver_event(deliver, payment()).status == "ignored"


def test_a_receiver_registered_for_a_custom_code_handles_it(deliver):
    seen: list[str] = []

    @jodo_webhooks.receiver("acme.fee.waived", custom=True)
    def on_waiver(sender: type, event: Any, event_type: str, **kwargs: Any) -> None:
        seen.append(event.event_id)

    try:
        event = deliver_event(deliver, payment("acme.fee.waived"))
    finally:
        assert jodo_webhooks.disconnect(on_waiver)
    assert event.status == "processed"
    assert seen == [event.event_id]


def test_a_receiver_needs_event_types():
    with pytest.raises(TypeError, match="event type"):
        jodo_webhooks.receiver()


def test_jodo_status_lists_the_event_types_that_have_receivers(registered):
    out = StringIO()
    call_command("jodo_status", stdout=out)
    listing = out.getvalue().split("Event types with receivers")[1]
    assert f"{PAYMENT_ADDED:<40} {__name__}.registered.<locals>.on_payment" in listing
    assert f"{PAYMENT_UPDATED:<40} {__name__}.registered.<locals>.on_payment" in listing


def test_receivers_see_the_stored_event_when_an_attempt_ran_since_the_caller_recorded_it(
    connect_receiver,
):
    seen: list[tuple[str, int]] = []

    def receiver(sender: type, event: Any, **kwargs: Any) -> None:
        seen.append((event.status, event.attempts))
        if len(seen) == 1:
            raise RuntimeError("the first attempt fails")

    connect_receiver(receiver, "test.copy")
    event = InboundEventFactory(event_type="test.copy")
    copy_as_recorded = InboundEvent.objects.get(pk=event.pk)
    assert process_event(event.pk) == "failed"  # an attempt after the copy was taken

    assert process_event(event.pk, recorded=copy_as_recorded) == "processed"
    assert seen == [("received", 0), ("failed", 1)]  # the second saw the row, not the copy


# --- registering: one receiver per dispatch_uid, synchronous only --------------------------------


def make_handler(event_type: str, calls: list[str]) -> Any:
    @jodo_webhooks.receiver(event_type)
    def handler(sender: object, event: InboundEvent, event_type: str, **kwargs: object) -> None:
        calls.append(event_type)

    return handler


def test_a_second_receiver_under_a_taken_dispatch_uid_is_refused():
    # Both are make_handler.<locals>.handler: the same default dispatch_uid. Taking the second
    # silently would leave the signal calling the first for the registry's new types.
    calls: list[str] = []
    first = make_handler("probe.one", calls)
    try:
        with pytest.raises(ValueError, match="already registered"):
            make_handler("probe.two", calls)
    finally:
        jodo_webhooks.disconnect(first)


def test_registering_the_same_receiver_again_replaces_it(deliver):
    calls: list[str] = []

    def on_probe(sender: object, event: InboundEvent, event_type: str, **kwargs: object) -> None:
        calls.append(event_type)

    jodo_webhooks.receiver("probe.again")(on_probe)
    jodo_webhooks.receiver("probe.again")(on_probe)  # a module imported twice
    try:
        deliver_event(deliver, EnvelopeFactory(event="probe.again"))
        assert calls == ["probe.again"]
    finally:
        jodo_webhooks.disconnect(on_probe)


def test_an_async_receiver_is_refused():
    # It would be called, return an un-awaited coroutine, and its events would be "processed".
    async def on_async(
        sender: object, event: InboundEvent, event_type: str, **kwargs: object
    ) -> None:
        pass

    with pytest.raises(TypeError, match="cannot be async"):
        jodo_webhooks.receiver("probe.async")(on_async)
    assert "probe.async" not in jodo_webhooks.receivers_by_event_type()
