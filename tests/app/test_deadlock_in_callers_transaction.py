"""Inside a caller's transaction on MariaDB, a deadlock rolls that whole transaction back: then
process_event raises the error to the caller (whose transaction must roll back) instead of a
TransactionManagementError while trying to record a failure. The deadlock is simulated: the
receiver rolls the transaction back and raises 1213, as InnoDB does."""

import pytest
from django.db import OperationalError, connection, transaction

from jodo_webhooks.models import InboundEvent
from jodo_webhooks.processing import process_event

from ..factories import InboundEventFactory

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor != "mysql", reason="InnoDB deadlock semantics"),
]


def test_a_deadlock_inside_a_callers_transaction_reaches_the_caller(connect_receiver):
    def deadlocked(sender, event, event_type, **kwargs):
        connection.cursor().execute("ROLLBACK")  # what InnoDB does to the deadlock victim
        raise OperationalError(1213, "Deadlock found when trying to get lock")

    connect_receiver(deadlocked, "probe.deadlock")
    event = InboundEventFactory(event_type="probe.deadlock")
    # InnoDB has rolled the caller's whole transaction back: nothing can be recorded in it, so
    # the error reaches the caller, whose transaction rolls back; the event is left as it was.
    with pytest.raises(OperationalError), transaction.atomic():  # e.g. under ATOMIC_REQUESTS
        process_event(event.pk)
    event.refresh_from_db()
    assert (event.status, event.attempts) == (InboundEvent.Status.RECEIVED, 0)
