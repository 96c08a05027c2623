"""The ERP admin: finding students by any id, their notes, the links to and from their events."""

from __future__ import annotations

import pytest
from django.urls import reverse
from django.utils.http import urlencode

from students.models import Student

from .factories import EnvelopeFactory
from .helpers import admin_listed
from .students_support import StudentFactory, StudentNoteFactory, deliver_event

pytestmark = pytest.mark.django_db

STUDENTS = reverse("admin:students_student_changelist")
EVENTS = reverse("admin:jodo_webhooks_inboundevent_changelist")


def readonly_value(response, name):
    """The rendered value of a read-only field on an admin change page."""
    for fieldset in response.context["adminform"]:
        for line in fieldset:
            for field in line:
                if field.is_readonly and field.field["name"] == name:
                    return str(field.contents())
    raise AssertionError(f"no field {name}")


@pytest.fixture
def two_students():
    wanted = StudentFactory(
        identifier="ERP-1",
        custom_identifier="CUST-1",
        jodo_student_id="J-1",
        primary_contact_email="asha@example.com",
        primary_contact_number="9000000001",
    )
    other = StudentFactory(
        identifier="ERP-2",
        custom_identifier="CUST-2",
        jodo_student_id="J-2",
        primary_contact_email="ravi@example.com",
        primary_contact_number="9000000002",
        status=Student.Status.DROPPED,
        grade_code="G2",
        academic_year_start=2025,
        academic_year_end=2026,
    )
    return wanted, other


def test_changelist_lists_students(admin_client, two_students):
    response = admin_client.get(STUDENTS)

    assert response.status_code == 200
    assert list(response.context["cl"].result_list) == list(two_students)
    content = response.content.decode()
    assert "2026-2027" in content  # the academic year column


@pytest.mark.parametrize("term", ["ERP-1", "CUST-1", "J-1", "asha@example.com", "9000000001"])
def test_search_finds_a_student_by_any_id_email_or_number(admin_client, two_students, term):
    wanted, _ = two_students

    assert admin_listed(admin_client, STUDENTS, q=term) == [wanted]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({"status__exact": "dropped"}, ["ERP-2"]),
        ({"status__exact": "active"}, ["ERP-1"]),
        ({"grade_code": "G2"}, ["ERP-2"]),
        ({"academic_year_start": "2026"}, ["ERP-1"]),
    ],
)
def test_filters(admin_client, two_students, query, expected):
    students = admin_listed(admin_client, STUDENTS, **query)

    assert [student.identifier for student in students] == expected


def test_change_page_shows_notes_and_links_to_the_students_events(admin_client, deliver):
    event = deliver_event(
        deliver,
        EnvelopeFactory(
            payload__jodo_student_id="J-1",
            payload__student__identifier="ERP-1",
            payload__student__notes=[{"key": "registration_number", "value": "REG77"}],
        ),
    )
    student = Student.objects.get()
    StudentNoteFactory(student=student, key="allergies", value="peanuts")

    response = admin_client.get(reverse("admin:students_student_change", args=[student.pk]))

    assert response.status_code == 200
    jodo_notes, erp_notes = (
        [(form.instance.key, form.instance.value) for form in inline.formset]
        for inline in response.context["inline_admin_formsets"]
    )
    assert jodo_notes == [("registration_number", "REG77")]
    assert erp_notes == [("allergies", "peanuts")]
    content = response.content.decode()
    assert "REG77" in content
    assert "peanuts" in content
    link = f"{EVENTS}?{urlencode({'jodo_student_id': 'J-1'})}"
    assert readonly_value(response, "jodo_events") == f'<a href="{link}">Events for J-1</a>'
    assert f'href="{link}"' in content
    assert event.jodo_student_id == "J-1"


def test_events_link_lists_only_the_students_events(admin_client, deliver):
    own = [
        deliver_event(deliver, EnvelopeFactory(event=name, payload__jodo_student_id="J-1"))
        for name in ("masterdata.student.registered", "masterdata.student.dropped")
    ]
    deliver_event(deliver, EnvelopeFactory(payload__jodo_student_id="J-2"))

    events = admin_listed(admin_client, EVENTS, jodo_student_id="J-1")

    assert {event.pk for event in events} == {event.pk for event in own}


def test_student_without_jodo_id_links_to_events_naming_its_identifier(admin_client):
    student = StudentFactory(jodo_student_id=None, identifier="ERP-7")

    response = admin_client.get(reverse("admin:students_student_change", args=[student.pk]))

    assert response.status_code == 200
    link = f"{EVENTS}?{urlencode({'q': 'ERP-7'})}"
    assert readonly_value(response, "jodo_events") == f'<a href="{link}">Events for ERP-7</a>'


def test_event_change_page_links_to_the_student(admin_client, deliver):
    event = deliver_event(deliver, EnvelopeFactory(payload__jodo_student_id="J-1"))
    student = Student.objects.get(jodo_student_id="J-1")

    response = admin_client.get(reverse("admin:jodo_webhooks_inboundevent_change", args=[event.pk]))

    assert response.status_code == 200
    student_url = reverse("admin:students_student_change", args=[student.pk])
    link = f'<a href="{student_url}">J-1<br>{student.identifier}</a>'
    assert readonly_value(response, "student") == link
    assert link in response.content.decode()


def test_event_of_an_unknown_student_has_no_student_link(admin_client, deliver):
    event = deliver_event(deliver, EnvelopeFactory(version="2.0", payload__jodo_student_id="J-9"))
    assert event.status == "failed"

    response = admin_client.get(reverse("admin:jodo_webhooks_inboundevent_change", args=[event.pk]))

    assert response.status_code == 200
    identifier = event.payload["student"]["identifier"]
    assert readonly_value(response, "student") == f"J-9<br>{identifier}"  # no record, no link


def test_links_survive_a_jodo_id_sent_with_surrounding_spaces(admin_client, deliver):
    event = deliver_event(deliver, EnvelopeFactory(payload__jodo_student_id=" J-1 "))
    student = Student.objects.get()
    assert student.jodo_student_id == "J-1"

    response = admin_client.get(reverse("admin:jodo_webhooks_inboundevent_change", args=[event.pk]))
    student_url = reverse("admin:students_student_change", args=[student.pk])
    link = f'<a href="{student_url}">J-1<br>{student.identifier}</a>'
    assert readonly_value(response, "student") == link
    assert [e.pk for e in admin_listed(admin_client, EVENTS, jodo_student_id="J-1")] == [event.pk]
