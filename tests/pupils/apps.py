from django.apps import AppConfig


class PupilsConfig(AppConfig):
    name = "tests.pupils"
    label = "pupils"
    default_auto_field = "django.db.models.BigAutoField"
