from django.apps import AppConfig


class ReceiverAppConfig(AppConfig):
    name = "tests.receiver_app"
    label = "receiver_app"
    default_auto_field = "django.db.models.BigAutoField"
