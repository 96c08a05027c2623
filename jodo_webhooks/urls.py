from django.urls import path

from .views import JodoWebhookView

app_name = "jodo_webhooks"

urlpatterns = [
    path("", JodoWebhookView.as_view(), name="receive"),
]
