"""An ERP that serves django-health-check's page, with the app's check in it."""

from django.urls import path
from health_check.views import HealthCheckView

urlpatterns = [
    path(
        "ht/",
        HealthCheckView.as_view(checks=["jodo_webhooks.health_check_plugin.JodoWebhooks"]),
    ),
]
