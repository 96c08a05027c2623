import pytest

from jodo_webhooks.models import InboundEvent
from students.models import Student

from .helpers import load_fixture

pytestmark = pytest.mark.django_db


def test_documented_example_is_recorded_and_applied(deliver, jodo_settings):
    jodo_settings["MAX_EVENT_AGE_DAYS"] = 0
    response = deliver(load_fixture("masterdata.student.registered.json"))
    assert response.status_code == 200, response.content
    assert response.json() == {
        "status": "accepted",
        "event_id": "f8093bb5-29c7-4b3a-a99b-298520233820",
    }
    event = InboundEvent.objects.get()
    assert event.status == "processed", event.last_error
    student = Student.objects.get(identifier="1234")
    assert student.jodo_student_id == "student_1234"
    assert dict(student.notes.values_list("key", "value")) == {"registration_number": "REG12345"}
    again = deliver(load_fixture("masterdata.student.registered.json"))
    assert again.json()["status"] == "duplicate"
