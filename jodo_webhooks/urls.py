from django.urls import path

from .monitoring_views import health_view, metrics_view
from .views import JodoWebhookView

app_name = "jodo_webhooks"

urlpatterns = [
    path("", JodoWebhookView.as_view(), name="receive"),
    # Off until configured (README, "Monitoring").
    path("metrics", metrics_view, name="metrics"),
    path("health", health_view, name="health"),
]
