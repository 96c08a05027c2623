from django.apps import AppConfig


class JodoWebhooksConfig(AppConfig):
    name = "jodo_webhooks"
    verbose_name = "Jodo webhooks"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from . import (
            checks,  # noqa: F401  (registers the system checks)
            payment_sync,
            student_sync,
        )
        from .event_types import STUDENT_EVENT_TYPES
        from .signals import register

        # The built-in student sync handles the student events while STUDENT_SYNC is set.
        register(
            student_sync.apply_configured_sync,
            STUDENT_EVENT_TYPES,
            "jodo_webhooks.student_sync",
            active=student_sync.is_configured,
        )
        # The built-in payment sync handles the student-linked payment events while
        # PAYMENT_SYNC is set, and releases the payments waiting for a student once it is applied.
        register(
            payment_sync.apply_configured_sync,
            payment_sync.SYNCED_PAYMENT_EVENT_TYPES,
            "jodo_webhooks.payment_sync",
            active=payment_sync.is_configured,
        )
        register(
            payment_sync.release_waiting_payments,
            STUDENT_EVENT_TYPES,
            "jodo_webhooks.payment_sync.release_waiting_payments",
            active=payment_sync.is_configured,
        )
