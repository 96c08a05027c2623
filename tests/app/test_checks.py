"""System checks: a misconfigured receiver is reported before it refuses (or accepts) anything."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.checks import ERROR, WARNING, CheckMessage, run_checks
from django.core.management import call_command
from django.core.management.base import SystemCheckError

import jodo_webhooks
from jodo_webhooks import StudentSync

# Django 6.1's model checks ask the database about its features.
pytestmark = pytest.mark.django_db


def jodo_messages(*, deploy: bool = False) -> dict[str, CheckMessage]:
    messages = run_checks(include_deployment_checks=deploy)
    return {m.id: m for m in messages if m.id and m.id.startswith("jodo_webhooks.")}


@pytest.fixture
def allow_unauthenticated(jodo_settings):
    """No authentication mechanism configured, and ALLOW_UNAUTHENTICATED to accept anyway."""
    jodo_settings["SECRETS"] = []
    jodo_settings["ALLOW_UNAUTHENTICATED"] = True


def test_valid_configuration_has_no_messages():
    assert jodo_messages() == {}
    call_command("check", stdout=StringIO(), stderr=StringIO())


def test_no_authentication_configured_warns_w001(jodo_settings):
    jodo_settings["SECRETS"] = []
    messages = jodo_messages()
    assert set(messages) == {"jodo_webhooks.W001"}
    assert messages["jodo_webhooks.W001"].level == WARNING


def test_allow_unauthenticated_without_authentication_warns_w002(allow_unauthenticated):
    messages = jodo_messages()
    assert set(messages) == {"jodo_webhooks.W002"}
    assert messages["jodo_webhooks.W002"].level == WARNING


@pytest.mark.parametrize(
    "configured",
    [
        {"SECRETS": ["s"]},
        {"ALLOWED_IPS": ["3.6.234.242"]},
        {"HEADER_NAME": "X-Token", "HEADER_VALUE": "v"},
    ],
)
def test_any_single_mechanism_silences_the_warnings(jodo_settings, configured):
    jodo_settings["SECRETS"] = []
    jodo_settings.update(configured)
    assert jodo_messages() == {}


def test_unknown_setting_is_error_e001(jodo_settings):
    jodo_settings["SECRET"] = "typo of SECRETS"
    messages = jodo_messages()
    assert "jodo_webhooks.E001" in messages
    assert messages["jodo_webhooks.E001"].level == ERROR
    assert "SECRET" in messages["jodo_webhooks.E001"].msg


@pytest.mark.parametrize(
    "half", [{"HEADER_NAME": "X-Token"}, {"HEADER_VALUE": "value-without-a-name"}]
)
def test_header_name_and_value_must_be_set_together_e002(jodo_settings, half):
    jodo_settings.update(half)
    messages = jodo_messages()
    assert "jodo_webhooks.E002" in messages
    assert messages["jodo_webhooks.E002"].level == ERROR


@pytest.mark.parametrize("entry", ["not-an-ip", "10.0.0.0/33", "3.6.234"])
def test_bad_allowlist_entry_is_error_e003(jodo_settings, entry):
    jodo_settings["ALLOWED_IPS"] = ["3.6.234.242", entry]
    messages = jodo_messages()
    assert "jodo_webhooks.E003" in messages
    assert entry in messages["jodo_webhooks.E003"].msg


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("TRUSTED_PROXIES", -1),
        ("TRUSTED_PROXIES", "1"),
        ("MAX_BODY_BYTES", -5),
        ("MAX_BODY_BYTES", 1.5),
        ("MAX_EVENT_AGE_DAYS", -1),
        ("MAX_EVENT_AGE_DAYS", "7"),
        ("TRUSTED_PROXIES", None),
        ("MAX_BODY_BYTES", None),
        ("REJECTED_DELIVERY_LIMIT", None),
        ("REJECTED_DELIVERY_LIMIT", True),
    ],
)
def test_numbers_must_be_non_negative_integers_e004(jodo_settings, name, value):
    # (Only MAX_EVENT_AGE_DAYS may be None: it turns the age check off.)
    jodo_settings[name] = value
    messages = jodo_messages()
    assert "jodo_webhooks.E004" in messages
    assert name in messages["jodo_webhooks.E004"].msg


def test_check_command_fails_on_errors(jodo_settings):
    jodo_settings["HEADER_NAME"] = "X-Token"
    with pytest.raises(SystemCheckError, match=r"jodo_webhooks\.E002"):
        call_command("check", stdout=StringIO(), stderr=StringIO())


def test_check_command_passes_with_warnings_only(jodo_settings):
    jodo_settings["SECRETS"] = []
    err = StringIO()
    call_command("check", stdout=StringIO(), stderr=err)
    assert "jodo_webhooks.W001" in err.getvalue()


def test_deploy_check_fails_with_allow_unauthenticated_in_production(
    settings, allow_unauthenticated
):
    settings.DEBUG = False
    assert "jodo_webhooks.E005" in jodo_messages(deploy=True)
    with pytest.raises(SystemCheckError, match=r"jodo_webhooks\.E005"):
        call_command("check", "--deploy", stdout=StringIO(), stderr=StringIO())


def test_deploy_check_allows_allow_unauthenticated_in_development(settings, allow_unauthenticated):
    settings.DEBUG = True
    assert "jodo_webhooks.E005" not in jodo_messages(deploy=True)
    call_command("check", "--deploy", stdout=StringIO(), stderr=StringIO())


def test_e005_is_a_deployment_check_only(settings, allow_unauthenticated):
    settings.DEBUG = False
    assert "jodo_webhooks.E005" not in jodo_messages(deploy=False)


def test_deploy_check_passes_for_a_configured_production_receiver(settings):
    settings.DEBUG = False
    assert jodo_messages(deploy=True) == {}
    call_command("check", "--deploy", stdout=StringIO(), stderr=StringIO())


def test_a_maximum_event_age_of_none_is_valid(jodo_settings):
    jodo_settings["MAX_EVENT_AGE_DAYS"] = None
    assert "jodo_webhooks.E004" not in jodo_messages()


@pytest.mark.parametrize(
    ("student_sync", "problem"),
    [
        ("tests.receiver_app.models.NO_SUCH_SYNC", "NO_SUCH_SYNC"),
        ("tests.receiver_app.models.Work", "is not a StudentSync"),
        (
            StudentSync(
                model="receiver_app.Work",
                jodo_student_id="jodo_id",
                identifier="name",
                jodo_updated_at="done_at",
            ),
            "Work has no field 'jodo_id'.",
        ),
        (
            StudentSync(
                model="receiver_app.Work",
                jodo_student_id="name",
                identifier="label",
                jodo_updated_at="done_at",
            ),
            "Work.label must be unique.",
        ),
    ],
)
def test_a_student_sync_that_cannot_work_is_e007(jodo_settings, student_sync, problem):
    jodo_settings["STUDENT_SYNC"] = student_sync
    assert set(jodo_messages()) == {"jodo_webhooks.E007"}
    errors = [m for m in run_checks() if m.id == "jodo_webhooks.E007"]
    assert {m.level for m in errors} == {ERROR}
    assert any(problem in m.msg for m in errors), [m.msg for m in errors]


def test_a_bad_allowlist_does_not_hide_e007(jodo_settings):
    jodo_settings["ALLOWED_IPS"] = ["not-an-ip"]
    jodo_settings["STUDENT_SYNC"] = "nowhere.NOPE"
    assert {"jodo_webhooks.E003", "jodo_webhooks.E007"} <= set(jodo_messages())


@pytest.fixture
def registered_receiver():
    """Register a receiver with the public decorator for one test; disconnected after it."""
    registered: list[str] = []

    def _register(*event_types, **options):
        def on_event(sender, event, event_type, **kwargs):
            pass

        jodo_webhooks.receiver(*event_types, dispatch_uid=f"w003-{len(registered)}", **options)(
            on_event
        )
        registered.append(f"w003-{len(registered)}")

    yield _register
    for uid in registered:
        assert jodo_webhooks.disconnect(uid)


def test_receiver_for_every_documented_code_has_no_warning(registered_receiver):
    registered_receiver(*sorted(jodo_webhooks.DOCUMENTED_EVENT_TYPES))
    assert jodo_messages() == {}


def test_receiver_for_an_undocumented_code_warns_w003_with_the_likely_code(registered_receiver):
    registered_receiver(jodo_webhooks.DIRECT_PAYMENT_ADDED, "direct.payment.addded")
    messages = jodo_messages()

    assert set(messages) == {"jodo_webhooks.W003"}
    warning = messages["jodo_webhooks.W003"]
    assert warning.level == WARNING
    assert "'direct.payment.addded'" in warning.msg
    assert warning.hint is not None
    assert "Did you mean 'direct.payment.added'?" in warning.hint
    assert "custom=True" in warning.hint
    # A warning, so `manage.py check` still passes.
    call_command("check", stdout=StringIO(), stderr=StringIO())


def test_each_undocumented_code_is_reported(registered_receiver):
    registered_receiver("acme.fee.waived", "flex.instalment.setled")
    codes = sorted(m.msg.split("'")[1] for m in run_checks() if m.id == "jodo_webhooks.W003")
    assert codes == ["acme.fee.waived", "flex.instalment.setled"]


def test_a_custom_code_registered_explicitly_has_no_warning(registered_receiver):
    registered_receiver("acme.fee.waived", custom=True)
    assert jodo_messages() == {}
