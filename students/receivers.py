from typing import Any

from jodo_webhooks.models import InboundEvent

from .services import apply_student_event


def apply_jodo_event(sender: type, event: InboundEvent, event_type: str, **kwargs: Any) -> Any:
    return apply_student_event(event)
