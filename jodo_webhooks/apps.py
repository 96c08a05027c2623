from django.apps import AppConfig


class JodoWebhooksConfig(AppConfig):
    name = "jodo_webhooks"
    verbose_name = "Jodo webhooks"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from . import checks  # noqa: F401  (registers the system checks)
