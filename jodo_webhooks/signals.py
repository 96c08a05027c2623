from django.dispatch import Signal

# Sent once per processing attempt of a recorded event, inside the processing transaction.
# sender: the InboundEvent class. Arguments: event (the InboundEvent, locked for this attempt),
# event_type (its `event` code, e.g. "masterdata.student.registered").
# A receiver returns None for event types it does not handle and anything else when it applied
# the event. It raises SkipEvent (jodo_webhooks.processing) to leave the event deliberately
# unapplied, and any other exception to fail it; either way all receivers' work is rolled back.
event_received = Signal()
