"""The whole integration of the second test ERP: declarations only."""

from jodo_webhooks import Notes, StudentStatus, StudentSync

PUPIL_SYNC = StudentSync(
    model="pupils.Pupil",
    jodo_student_id="jodo_ref",
    identifier="admission_no",
    custom_identifier="alt_admission_no",
    jodo_updated_at="jodo_synced_at",
    status=StudentStatus("enrolled", active=True, dropped=False),
    fields={
        "grade_code": "class_code",
        "grade_name": "class_name",
        "academic_year_start": "session_from",
        "academic_year_end": "session_to",
        "primary_contact_email": "guardian_email",
        "collector_code": "branch",
    },
    notes=Notes("pupils.PupilTag", student="pupil", key="label", value="text"),
    before_save=lambda pupil, data: setattr(
        pupil, "display_name", f"{data.identifier} ({data.grade_name})"
    ),
)
