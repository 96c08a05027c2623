"""The health verdict through `jodo_status --check` and the health URL: the thresholds, what the
public sees and what the token shows."""

from __future__ import annotations

import io
from datetime import timedelta
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.urls import reverse
from django.utils import timezone

from jodo_webhooks.models import InboundEvent

from ..factories import InboundEventFactory
from ..scrape import MONITORING_TOKEN

pytestmark = pytest.mark.django_db

Status = InboundEvent.Status
URL = reverse("jodo_webhooks:health")
BEARER = {"Authorization": f"Bearer {MONITORING_TOKEN}"}


def check() -> str:
    """`jodo_status --check`'s output; raises CommandError (exit 1) when attention is needed."""
    out = io.StringIO()
    call_command("jodo_status", "--check", stdout=out)
    return out.getvalue()


def attention() -> str:
    with pytest.raises(CommandError) as raised:
        check()
    assert raised.value.returncode == 1
    return str(raised.value)


def test_check_is_ok_with_nothing_to_do():
    InboundEventFactory(status=Status.PROCESSED)
    InboundEventFactory(status=Status.DISMISSED)  # acknowledged: not a failure

    assert check().startswith("OK: 0 failed, 0 waiting, last event received 20")


def test_check_reports_failed_events_beyond_the_threshold(jodo_settings):
    InboundEventFactory.create_batch(2, status=Status.FAILED)

    assert "2 failed event(s) not dismissed (more than 0)" in attention()

    jodo_settings["HEALTH_MAX_FAILED_EVENTS"] = 2
    assert check().startswith("OK: 2 failed")


def test_check_reports_an_event_waiting_too_long(jodo_settings):
    now = timezone.now()
    InboundEventFactory(status=Status.RECEIVED, received_at=now - timedelta(minutes=5))
    assert check().startswith("OK: 0 failed, 1 waiting")

    InboundEventFactory(status=Status.RECEIVED, received_at=now - timedelta(minutes=20))
    assert "2 event(s) waiting for processing, the oldest for 20 min (more than 15 min)" in (
        attention()
    )

    jodo_settings["HEALTH_MAX_WAITING_MINUTES"] = 0  # off
    assert check().startswith("OK")


def test_check_reports_silence_only_where_configured(jodo_settings):
    InboundEventFactory(status=Status.PROCESSED, received_at=timezone.now() - timedelta(hours=30))
    assert check().startswith("OK")  # off by default: many schools are quiet for days

    jodo_settings["HEALTH_MAX_SILENCE_HOURS"] = 24
    assert "no event received for 30 h (more than 24 h)" in attention()


def test_check_reports_a_payment_waiting_long_for_its_student(jodo_settings):
    InboundEventFactory(status="waiting", received_at=timezone.now() - timedelta(hours=2))
    assert check().startswith("OK")

    jodo_settings["HEALTH_MAX_PAYMENT_WAITING_HOURS"] = 1
    assert (
        "1 payment(s) waiting for their student, the oldest for 2 h (more than 1 h)" in attention()
    )


def test_the_health_url_is_off_until_configured(client):
    assert client.get(URL).status_code == 404


def test_the_health_url_needs_the_token_unless_public(client, jodo_settings):
    jodo_settings["MONITORING_TOKEN"] = MONITORING_TOKEN

    assert client.get(URL).status_code == 401
    assert client.get(URL, headers={"Authorization": "Bearer nope"}).status_code == 401
    response = client.get(URL, headers=BEARER)
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "failing": [], "problems": []}


def test_the_public_health_url_gives_the_verdict_and_nothing_else(client, jodo_settings):
    jodo_settings["HEALTH_PUBLIC"] = True
    assert client.get(URL).json() == {"status": "ok", "failing": []}
    failed = InboundEventFactory(status=Status.FAILED, last_error="ValueError: secret detail")
    InboundEventFactory(status=Status.RECEIVED, received_at=timezone.now() - timedelta(hours=1))

    response = client.get(URL)

    assert response.status_code == 503
    assert response.json() == {
        "status": "attention",
        "failing": ["failed_events", "waiting_events"],
    }
    assert failed.event_id not in response.content.decode()
    assert client.head(URL).status_code == 503
    assert client.post(URL).status_code == 405


def test_the_health_url_says_why_to_the_token(client, jodo_settings):
    jodo_settings["MONITORING_TOKEN"] = MONITORING_TOKEN
    InboundEventFactory(status=Status.FAILED)

    response = client.get(URL, headers=BEARER)

    assert response.status_code == 503
    assert response.json()["failing"] == ["failed_events"]
    assert response.json()["problems"] == [attention().splitlines()[1].removeprefix("- ")]


def test_system_checks_refuse_negative_thresholds(jodo_settings: dict[str, Any]):
    from django.core.checks import run_checks

    jodo_settings["HEALTH_MAX_WAITING_MINUTES"] = -1

    assert any(
        message.id == "jodo_webhooks.E004" and "HEALTH_MAX_WAITING_MINUTES" in message.msg
        for message in run_checks()
    )
