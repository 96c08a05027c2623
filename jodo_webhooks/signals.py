"""The `event_received` signal, and which event types have receivers.

`event_received` is sent once per processing attempt (again if a deadlock or a lost unique-key
race restarts the attempt's transaction), inside the processing transaction, with the
`InboundEvent` row locked. For an event already recorded (a redelivery, a task, a reprocess)
that is the row `processing.process_event` claimed with SELECT ... FOR UPDATE SKIP LOCKED; for
a new delivery processed inline (`processing.process_new_event`) it is the row the same
transaction has just inserted, which no one else can see before it commits. It is not sent for
an event that originated more than `MAX_EVENT_AGE_DAYS` before it was received: such an event
is marked `skipped` without reaching any receiver.
    sender: the InboundEvent class.
    event: the InboundEvent being processed, as it was before the attempt (`status` and
        `attempts` included).
    event_type: its `event` code, e.g. "masterdata.student.registered".

Receivers registered with `@receiver(*event_types)` get only those types, and their
registration is what decides the outcome: an event whose type has no registered receiver is
`ignored`; one whose receivers all ran without raising is `processed`. Return values do not
matter. A receiver raises `SkipEvent` to leave the event deliberately unapplied,
`WaitForStudent` to have it wait (`waiting`) for a student the ERP does not know yet, and any
other exception to fail it; in every case every receiver's work is rolled back.

A plain `event_received.connect(...)` receiver still gets every event (for auditing, say), but
does not make any type handled.
"""

from __future__ import annotations

import inspect
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from django.dispatch import Signal

event_received = Signal()

Receiver = TypeVar("Receiver", bound=Callable[..., Any])


def always() -> bool:
    return True


@dataclass(frozen=True, slots=True)
class Registration:
    event_types: frozenset[str]
    name: str
    # Whether the registration counts right now (the built-in student sync counts only while
    # the STUDENT_SYNC setting names a mapping).
    active: Callable[[], bool]
    # The codes are the project's own, not Jodo's documented ones: no W003 warning.
    custom: bool = False


_registrations: dict[str, Registration] = {}
_lock = threading.Lock()


def receiver(
    *event_types: str, dispatch_uid: str | None = None, custom: bool = False
) -> Callable[[Receiver], Receiver]:
    """Connect the decorated function to `event_received` for these event types only.

        @jodo_webhooks.receiver(jodo_webhooks.STUDENT_REGISTERED)
        def on_registered(sender, event, event_type, **kwargs): ...

    `dispatch_uid` defaults to the function's dotted name, so importing a module twice does
    not connect it twice. A code Jodo does not document is reported by the system check
    jodo_webhooks.W003 (a typo would leave the intended events `ignored`); `custom=True` says
    the codes are deliberately the project's own.
    """
    if not event_types or not all(isinstance(t, str) and t for t in event_types):
        raise TypeError("receiver() needs one or more event type strings.")

    def decorator(func: Receiver) -> Receiver:
        register(func, frozenset(event_types), dispatch_uid or dotted_name(func), custom=custom)
        return func

    return decorator


def register(
    func: Callable[..., Any],
    event_types: frozenset[str],
    dispatch_uid: str,
    *,
    active: Callable[[], bool] = always,
    custom: bool = False,
) -> None:
    if inspect.iscoroutinefunction(func):
        raise TypeError("Receivers run inside the processing transaction: they cannot be async.")
    event_types = frozenset(event_types)
    registration = Registration(event_types, dotted_name(func), active, custom=custom)

    def only_registered_types(sender: Any, event: Any, event_type: str, **kwargs: Any) -> None:
        if event_type in event_types and registration.active():
            func(sender=sender, event=event, event_type=event_type, **kwargs)

    with _lock:
        known = _registrations.get(dispatch_uid)
        if known is not None and (known.name, known.event_types) != (
            registration.name,
            event_types,
        ):
            raise ValueError(
                f"dispatch_uid {dispatch_uid!r} is already registered for {known.name}; "
                "pass a dispatch_uid of its own."
            )
        # Same uid, same receiver (a module imported again): replace it, signal and registry both.
        event_received.disconnect(dispatch_uid=dispatch_uid)
        event_received.connect(only_registered_types, weak=False, dispatch_uid=dispatch_uid)
        _registrations[dispatch_uid] = registration


def dotted_name(func: Callable[..., Any]) -> str:
    qualname = getattr(func, "__qualname__", type(func).__qualname__)  # a callable object
    return f"{func.__module__}.{qualname}"


def disconnect(receiver_or_uid: Callable[..., Any] | str) -> bool:
    """Undo a registration: by its dispatch_uid, or the function registered without one."""
    dispatch_uid = (
        receiver_or_uid if isinstance(receiver_or_uid, str) else dotted_name(receiver_or_uid)
    )
    with _lock:
        _registrations.pop(dispatch_uid, None)
        return event_received.disconnect(dispatch_uid=dispatch_uid)


def receivers_by_event_type() -> dict[str, list[str]]:
    """The registered receivers' names for each handled event type, as of now."""
    handled: dict[str, list[str]] = {}
    for registration in list(_registrations.values()):
        if registration.active():
            for event_type in sorted(registration.event_types):
                handled.setdefault(event_type, []).append(registration.name)
    return handled


def registrations() -> list[Registration]:
    """Every registration, active or not, as of now."""
    return list(_registrations.values())


def is_handled(event_type: str) -> bool:
    return any(
        event_type in registration.event_types and registration.active()
        for registration in list(_registrations.values())
    )
