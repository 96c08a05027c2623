from django.apps import AppConfig


class JodoWebhooksConfig(AppConfig):
    name = "jodo_webhooks"
    verbose_name = "Jodo webhooks"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from . import checks  # noqa: F401  (registers the system checks)
        from .event_types import STUDENT_EVENT_TYPES
        from .signals import register
        from .student_sync import apply_configured_sync, is_configured

        # The built-in student sync handles the student events while STUDENT_SYNC is set.
        register(
            apply_configured_sync,
            STUDENT_EVENT_TYPES,
            "jodo_webhooks.student_sync",
            active=is_configured,
        )
