from django.apps import AppConfig


class StudentsConfig(AppConfig):
    name = "students"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from jodo_webhooks.signals import event_received

        from .receivers import apply_jodo_event

        event_received.connect(apply_jodo_event, dispatch_uid="students.apply_jodo_event")
