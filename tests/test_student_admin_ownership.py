"""The ERP's student admin: what Jodo owns is read-only, the ERP's own notes stay editable, and
each conflict case is resolved from the admin (unlink, audited), then by reprocessing."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib import messages
from django.contrib.admin.models import CHANGE, LogEntry
from django.contrib.auth.models import Permission, User
from django.db.models.signals import pre_save
from django.test import Client
from django.urls import reverse

from jodo_webhooks.models import InboundEvent
from students.models import Student, StudentNote

from .factories import EnvelopeFactory
from .students_support import StudentFactory, StudentNoteFactory, deliver_event, notes_of

pytestmark = pytest.mark.django_db

Status = InboundEvent.Status
STUDENTS = reverse("admin:students_student_changelist")
EVENTS = reverse("admin:jodo_webhooks_inboundevent_changelist")
JODO_OWNED = [
    "identifier",
    "custom_identifier",
    "jodo_student_id",
    "status",
    "grade_code",
    "grade_name",
    "academic_year_start",
    "academic_year_end",
    "collector_code",
    "primary_contact_number",
    "primary_contact_email",
    "jodo_updated_at",
]


def change_url(student: Student) -> str:
    return reverse("admin:students_student_change", args=[student.pk])


def form_fields(response: Any) -> set[str]:
    return set(response.context["adminform"].form.fields)


def synced_student(deliver: Any, **payload: Any) -> Student:
    body = EnvelopeFactory(
        payload__jodo_student_id=payload.pop("jodo_student_id", "J-1"),
        payload__student__identifier=payload.pop("identifier", "1001"),
        payload__student__notes=[{"key": "registration_number", "value": "REG1"}],
        **payload,
    )
    deliver_event(deliver, body)
    return Student.objects.get(identifier=body["payload"]["student"]["identifier"])


def management_form(prefix: str, total: int, initial: int) -> dict[str, Any]:
    return {
        f"{prefix}-TOTAL_FORMS": total,
        f"{prefix}-INITIAL_FORMS": initial,
        f"{prefix}-MIN_NUM_FORMS": 0,
        f"{prefix}-MAX_NUM_FORMS": 1000,
    }


def test_jodo_owned_fields_are_read_only_on_a_synced_student(admin_client, deliver):
    student = synced_student(deliver)
    response = admin_client.get(change_url(student))
    assert response.status_code == 200
    assert form_fields(response).isdisjoint(JODO_OWNED)
    content = response.content.decode()
    assert 'name="identifier"' not in content
    assert 'name="status"' not in content


def test_posting_jodo_fields_changes_nothing(admin_client, deliver):
    student = synced_student(deliver)
    ids = {"student": student.pk}
    data = {
        "identifier": "HACKED",
        "jodo_student_id": "J-HACKED",
        "status": "dropped",
        "grade_name": "Edited",
        **management_form("notes", 1, 1),
        "notes-0-id": student.notes.get().pk,
        "notes-0-student": ids["student"],
        "notes-0-key": "edited",
        "notes-0-value": "edited",
        "notes-0-source": "erp",
        **management_form("notes-2", 0, 0),
    }
    response = admin_client.post(change_url(student), data)
    assert response.status_code == 302, response.content

    after = Student.objects.get(pk=student.pk)
    assert (after.identifier, after.jodo_student_id, after.status, after.grade_name) == (
        "1001",
        "J-1",
        Student.Status.ACTIVE,
        "Montessori 1",
    )
    assert notes_of(after) == {"registration_number": ("REG1", "jodo")}


def test_a_student_jodo_never_wrote_stays_editable_but_its_jodo_id(admin_client):
    student = StudentFactory(identifier="ERP-ONLY")
    response = admin_client.get(change_url(student))
    fields = form_fields(response)
    assert {"identifier", "status", "grade_name"} <= fields
    assert fields.isdisjoint({"jodo_student_id", "jodo_updated_at"})


def test_a_new_student_can_be_added_without_its_jodo_id(admin_client):
    response = admin_client.get(reverse("admin:students_student_add"))
    fields = form_fields(response)
    assert "identifier" in fields
    assert fields.isdisjoint({"jodo_student_id", "jodo_updated_at"})


def test_notes_from_jodo_are_read_only_and_erp_notes_editable(admin_client, deliver):
    student = synced_student(deliver)
    erp_note = StudentNoteFactory(student=student, key="allergies", value="peanuts")

    response = admin_client.get(change_url(student))

    jodo_inline, erp_inline = response.context["inline_admin_formsets"]
    assert not jodo_inline.has_change_permission
    assert not jodo_inline.has_add_permission
    assert not jodo_inline.has_delete_permission
    assert [f.instance.key for f in jodo_inline.formset] == ["registration_number"]
    assert [f.instance.key for f in erp_inline.formset] == ["allergies"]
    # Compact: one-line inputs, and no source field to change.
    assert set(erp_inline.formset.forms[0].fields) >= {"key", "value"}
    assert "source" not in erp_inline.formset.forms[0].fields
    assert erp_inline.formset.forms[0].fields["value"].widget.input_type == "text"

    jodo_prefix, erp_prefix = jodo_inline.formset.prefix, erp_inline.formset.prefix
    response = admin_client.post(
        change_url(student),
        {
            **management_form(jodo_prefix, 0, 0),
            **management_form(erp_prefix, 2, 1),
            f"{erp_prefix}-0-id": erp_note.pk,
            f"{erp_prefix}-0-student": student.pk,
            f"{erp_prefix}-0-key": "allergies",
            f"{erp_prefix}-0-value": "peanuts, dust",
            f"{erp_prefix}-1-student": student.pk,
            f"{erp_prefix}-1-key": "bus_route",
            f"{erp_prefix}-1-value": "7",
        },
    )
    assert response.status_code == 302, response.context["errors"]
    assert notes_of(student) == {
        "allergies": ("peanuts, dust", "erp"),
        "bus_route": ("7", "erp"),
        "registration_number": ("REG1", "jodo"),
    }


def test_an_erp_note_cannot_take_a_key_jodo_uses(admin_client, deliver):
    student = synced_student(deliver)
    response = admin_client.get(change_url(student))
    jodo_inline, erp_inline = response.context["inline_admin_formsets"]
    erp_prefix = erp_inline.formset.prefix

    response = admin_client.post(
        change_url(student),
        {
            **management_form(jodo_inline.formset.prefix, 0, 0),
            **management_form(erp_prefix, 1, 0),
            f"{erp_prefix}-0-student": student.pk,
            f"{erp_prefix}-0-key": "registration_number",
            f"{erp_prefix}-0-value": "mine",
        },
    )
    assert response.status_code == 200  # the form again, with the error
    assert "This student already has a note &#x27;registration_number&#x27;." in (
        response.content.decode()
    )
    assert notes_of(student) == {"registration_number": ("REG1", "jodo")}


def test_saving_a_student_never_undoes_an_event_applied_meanwhile(admin_client, deliver):
    """The admin reads the student when the POST begins; an event applied before its save (here,
    deterministically, from the save's pre_save) keeps its fields and its notes: the save writes
    the ERP's fields and notes only, not the stale Jodo values it read."""
    student = synced_student(deliver)
    erp_note = StudentNoteFactory(student=student, key="allergies", value="peanuts")
    page = admin_client.get(change_url(student))
    jodo_inline, erp_inline = page.context["inline_admin_formsets"]
    data = {
        **management_form(jodo_inline.formset.prefix, 1, 1),
        **management_form(erp_inline.formset.prefix, 1, 1),
        f"{erp_inline.formset.prefix}-0-id": erp_note.pk,
        f"{erp_inline.formset.prefix}-0-student": student.pk,
        f"{erp_inline.formset.prefix}-0-key": "allergies",
        f"{erp_inline.formset.prefix}-0-value": "peanuts, dust",
    }
    assert student.jodo_updated_at is not None
    dropped = EnvelopeFactory(
        event="masterdata.student.dropped",
        timestamp=int(student.jodo_updated_at.timestamp()) + 60,
        payload__jodo_student_id="J-1",
        payload__student__identifier="1001",
        payload__student__grade={"code": "M2RED", "name": "Montessori 2"},
        payload__student__notes=[
            {"key": "registration_number", "value": "REG2"},
            {"key": "house", "value": "Blue"},
        ],
    )
    applied: list[str] = []

    def drop_meanwhile(sender: Any, instance: Student, **kwargs: Any) -> None:
        if instance.pk == student.pk and not applied:  # the admin's save, not the sync's
            applied.append("delivering")
            applied[0] = deliver_event(deliver, dropped).status

    pre_save.connect(drop_meanwhile, sender=Student)
    try:
        response = admin_client.post(change_url(student), data)
    finally:
        pre_save.disconnect(drop_meanwhile, sender=Student)

    assert response.status_code == 302, response.context and response.context["errors"]
    assert applied == [Status.PROCESSED]
    after = Student.objects.get(pk=student.pk)
    assert (after.status, after.grade_code, after.grade_name) == (
        Student.Status.DROPPED,
        "M2RED",
        "Montessori 2",
    )
    assert (
        after.jodo_updated_at == InboundEvent.objects.get(event_id=dropped["event_id"]).occurred_at
    )
    assert notes_of(after) == {
        "registration_number": ("REG2", "jodo"),
        "house": ("Blue", "jodo"),
        "allergies": ("peanuts, dust", "erp"),
    }


def test_a_student_jodo_never_wrote_is_saved_with_its_edits(admin_client):
    """Only the Jodo id and timestamp are left out of the save of an ERP-only student."""
    student = StudentFactory(identifier="ERP-ONLY", grade_name="Montessori 1")
    page = admin_client.get(change_url(student))
    jodo_inline, erp_inline = page.context["inline_admin_formsets"]
    response = admin_client.post(
        change_url(student),
        {
            "identifier": "ERP-ONLY-2",
            "status": Student.Status.DROPPED,
            "grade_name": "Edited",
            "jodo_student_id": "J-HACKED",
            **management_form(jodo_inline.formset.prefix, 0, 0),
            **management_form(erp_inline.formset.prefix, 0, 0),
        },
    )
    assert response.status_code == 302, response.context and response.context["errors"]
    after = Student.objects.get(pk=student.pk)
    assert (after.identifier, after.status, after.grade_name, after.jodo_student_id) == (
        "ERP-ONLY-2",
        Student.Status.DROPPED,
        "Edited",
        None,
    )


# Unlinking, and the conflicts it resolves.


def unlink(client: Client, student: Student, reason: str | None) -> Any:
    data: dict[str, Any] = {"action": "unlink_from_jodo", "_selected_action": [student.pk]}
    if reason is not None:
        data |= {"confirm": "yes", "reason": reason}
    return client.post(STUDENTS, data, follow=reason is not None)


def reprocess(client: Client, event: InboundEvent) -> InboundEvent:
    client.post(EVENTS, {"action": "reprocess", "index": "0", "_selected_action": [event.pk]})
    event.refresh_from_db()
    return event


def test_a_linked_students_page_offers_unlinking(admin_client, deliver):
    student = synced_student(deliver)
    content = admin_client.get(change_url(student)).content.decode()
    assert 'value="unlink_from_jodo"' in content
    assert f'<input type="hidden" name="_selected_action" value="{student.pk}">' in content

    erp_only = StudentFactory()
    assert 'value="unlink_from_jodo"' not in admin_client.get(change_url(erp_only)).content.decode()


def test_unlink_asks_for_a_reason_then_clears_the_link_and_logs_it(
    admin_client, admin_user, deliver
):
    student = synced_student(deliver)

    page = unlink(admin_client, student, reason=None)
    assert page.templates[0].name == "admin/jodo_webhooks/confirm_action.html"
    assert "1001 (Jodo student J-1)" in page.content.decode()
    student.refresh_from_db()
    assert student.jodo_student_id == "J-1"

    response = unlink(admin_client, student, reason="Jodo re-created this child")

    student.refresh_from_db()
    assert (student.jodo_student_id, student.jodo_updated_at) == (None, None)
    entry = LogEntry.objects.get(object_id=str(student.pk))
    assert (entry.user, entry.action_flag) == (admin_user, CHANGE)
    assert entry.get_change_message() == (
        "Unlinked from Jodo student J-1: Jodo re-created this child"
    )
    [(level, message)] = [(m.level, m.message) for m in response.context["messages"]]
    assert level == messages.SUCCESS
    assert message.startswith("Unlinked 1001 from Jodo student J-1. Now reprocess its")
    # The record is the ERP's again: editable.
    assert "identifier" in form_fields(admin_client.get(change_url(student)))


def test_unlink_needs_the_change_permission(client, deliver):
    student = synced_student(deliver)
    viewer = User.objects.create_user("viewer", password="pw", is_staff=True)
    viewer.user_permissions.set(Permission.objects.filter(codename="view_student"))
    client.force_login(viewer)

    assert 'value="unlink_from_jodo"' not in client.get(change_url(student)).content.decode()
    unlink(client, student, reason="no")
    student.refresh_from_db()
    assert student.jodo_student_id == "J-1"
    assert not LogEntry.objects.exists()


def conflict(deliver: Any, body: dict[str, Any], expected: str) -> InboundEvent:
    event = deliver_event(deliver, body)
    assert event.status == Status.FAILED
    assert expected in event.last_error
    return event


def test_case_1_the_ids_point_at_two_students(admin_client, deliver):
    """Jodo id J-1 is student A (1001); the event gives J-1 the identifier 1002, which B has.
    B is a stale duplicate the ERP made: unlink it if Jodo wrote it, rename or delete it."""
    a = synced_student(deliver, jodo_student_id="J-1", identifier="1001")
    b = StudentFactory(identifier="1002")
    event = conflict(
        deliver,
        EnvelopeFactory(payload__jodo_student_id="J-1", payload__student__identifier="1002"),
        f"identifier '1002' belongs to student {b.pk} (1002)",
    )

    b.delete()  # the ERP's duplicate (not Jodo's: no unlink needed)

    assert reprocess(admin_client, event).status == Status.PROCESSED
    a.refresh_from_db()
    assert (a.identifier, a.jodo_student_id) == ("1002", "J-1")


def test_case_2_the_student_already_has_another_jodo_id(admin_client, deliver):
    """1002 is linked to J-OLD; Jodo now sends 1002 as J-NEW (it re-created the student)."""
    student = synced_student(deliver, jodo_student_id="J-OLD", identifier="1002")
    assert student.jodo_updated_at is not None
    event = conflict(
        deliver,
        EnvelopeFactory(
            payload__jodo_student_id="J-NEW",
            payload__student__identifier="1002",
            timestamp=int(student.jodo_updated_at.timestamp()) - 60,  # even an older event
        ),
        f"student {student.pk} (1002) already has jodo_student_id 'J-OLD'",
    )

    unlink(admin_client, student, reason="Jodo re-created 1002 as J-NEW")

    assert reprocess(admin_client, event).status == Status.PROCESSED
    student.refresh_from_db()
    assert student.jodo_student_id == "J-NEW"
    assert Student.objects.count() == 1


def test_case_3_the_new_identifier_belongs_to_another_jodo_student(admin_client, deliver):
    """Jodo moved identifier 1002 from J-2 to J-1: unlink J-2's record, free its identifier
    (it is then editable), reprocess; J-2's own next event re-links it by its new identifier."""
    one = synced_student(deliver, jodo_student_id="J-1", identifier="1001")
    two = synced_student(deliver, jodo_student_id="J-2", identifier="1002")
    event = conflict(
        deliver,
        EnvelopeFactory(payload__jodo_student_id="J-1", payload__student__identifier="1002"),
        f"identifier '1002' belongs to student {two.pk} (1002)",
    )

    unlink(admin_client, two, reason="Jodo gave 1002 to J-1")
    response = admin_client.get(change_url(two))
    assert "identifier" in form_fields(response)
    # As edited in its form: the old record gives up the ids Jodo moved.
    Student.objects.filter(pk=two.pk).update(identifier="1002-old", custom_identifier=None)

    assert reprocess(admin_client, event).status == Status.PROCESSED
    one.refresh_from_db()
    assert (one.identifier, one.jodo_student_id) == ("1002", "J-1")


def test_the_error_links_to_the_students_it_names(admin_client, deliver):
    student = synced_student(deliver, jodo_student_id="J-OLD", identifier="1002")
    event = conflict(
        deliver,
        EnvelopeFactory(payload__jodo_student_id="J-NEW", payload__student__identifier="1002"),
        "already has jodo_student_id",
    )
    content = admin_client.get(
        reverse("admin:jodo_webhooks_inboundevent_change", args=[event.pk])
    ).content.decode()
    assert f'<a href="{change_url(student)}">student {student.pk} (1002)</a>' in content
    # The ERP keeps the note source (a real field), but the admin offers no way to change it.
    assert StudentNote.objects.filter(source="jodo").count() == 1
