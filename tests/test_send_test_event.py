"""`manage.py jodo_send_test_event` against a live server: signs, posts, reports the answer."""

from __future__ import annotations

import json
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from jodo_webhooks import DOCUMENTED_EVENT_TYPES, parse_event, parse_payment_event
from jodo_webhooks.models import InboundEvent
from students.models import Student

from .helpers import FIXTURES, load_fixture

pytestmark = pytest.mark.django_db(transaction=True)

REGISTERED = FIXTURES / "masterdata.student.registered.json"
FIXTURE_EVENT_ID = json.loads(load_fixture(REGISTERED.name))["event_id"]


def send(live_server, *args: str, fixture: Path = REGISTERED) -> str:
    out = StringIO()
    call_command(
        "jodo_send_test_event",
        str(fixture),
        "--url",
        live_server.url + "/webhooks/jodo/",
        *args,
        stdout=out,
        stderr=StringIO(),
    )
    return out.getvalue()


def test_new_event_id_is_recorded(live_server):
    output = send(live_server, "--event-id", "new")

    assert output.startswith("200 ")
    answer = json.loads(output.removeprefix("200 "))
    assert answer["status"] == "accepted"
    event = InboundEvent.objects.get()
    assert event.event_id == answer["event_id"]
    assert event.event_id != FIXTURE_EVENT_ID
    assert event.payload == json.loads(load_fixture(REGISTERED.name))["payload"]
    # The fixture dates from 2022: recorded, but skipped as too old.
    assert event.status == InboundEvent.Status.SKIPPED


def test_current_timestamp_gets_the_event_applied(live_server):
    output = send(live_server, "--event-id", "new", "--timestamp", "now")

    assert output.startswith("200 ")
    event = InboundEvent.objects.get()
    assert event.status == InboundEvent.Status.PROCESSED, event.last_error
    assert Student.objects.get(identifier="1234").jodo_student_id == "student_1234"


def test_sending_the_same_event_id_twice_is_a_duplicate(live_server):
    send(live_server, "--event-id", "fixed-id-1")
    output = send(live_server, "--event-id", "fixed-id-1")
    assert output.startswith("200 ")
    assert json.loads(output.removeprefix("200 "))["status"] == "duplicate"
    assert InboundEvent.objects.get(event_id="fixed-id-1").delivery_count == 2


def test_custom_header_is_sent_when_configured(live_server, jodo_settings):
    jodo_settings["SECRETS"] = []
    jodo_settings["HEADER_NAME"] = "X-Jodo-Token"
    jodo_settings["HEADER_VALUE"] = "header-value-for-live-test"
    assert send(live_server, "--event-id", "new").startswith("200 ")
    assert InboundEvent.objects.count() == 1


def test_refusal_is_reported_as_a_command_error(live_server, jodo_settings):
    jodo_settings["ALLOWED_IPS"] = ["3.6.234.242"]  # the live server sees 127.0.0.1
    with pytest.raises(CommandError, match="403"):
        send(live_server, "--event-id", "new")
    assert InboundEvent.objects.count() == 0


def test_unreachable_url_is_a_command_error():
    with pytest.raises(CommandError, match="Could not reach"):
        call_command(
            "jodo_send_test_event",
            str(REGISTERED),
            "--url",
            "http://127.0.0.1:1/webhooks/jodo/",
            "--timeout",
            "2",
            stdout=StringIO(),
        )


@pytest.mark.parametrize("code", sorted(DOCUMENTED_EVENT_TYPES))
def test_every_fixture_is_sent_as_is_accepted_and_parses(live_server, code):
    path = FIXTURES / f"{code}.json"
    output = send(live_server, fixture=path)

    body = json.loads(path.read_text())
    assert output.startswith("200 ")
    assert json.loads(output.removeprefix("200 ")) == {
        "status": "accepted",
        "event_id": body["event_id"],
    }
    event = InboundEvent.objects.get(event_id=body["event_id"])
    assert event.raw_body == path.read_text()
    assert parse_event(event).event_type == code


def test_a_rewritten_event_keeps_its_numbers_as_written(live_server, tmp_path):
    text = (FIXTURES / "flex.instalment.settled.json").read_text()
    text = text.replace('"amount": 1999.99', '"amount": 12345678901234.50')
    path = tmp_path / "instalment.json"
    path.write_text(text)

    assert send(live_server, "--event-id", "new", "--timestamp", "now", fixture=path).startswith(
        "200 "
    )

    event = InboundEvent.objects.get()
    assert '"amount": 12345678901234.50' in event.raw_body
    assert str(parse_payment_event(event).amount) == "12345678901234.50"
