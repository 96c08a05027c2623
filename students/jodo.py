"""How the reference ERP's models hold Jodo's students: the whole integration is this mapping.

Named in settings as JODO_WEBHOOKS["STUDENT_SYNC"] = "students.jodo.STUDENT_SYNC".
"""

from jodo_webhooks import PROFILE_FIELDS, Notes, StudentStatus, StudentSync

from .models import Student, StudentNote

STUDENT_SYNC = StudentSync(
    model=Student,
    jodo_student_id="jodo_student_id",
    identifier="identifier",
    custom_identifier="custom_identifier",
    jodo_updated_at="jodo_updated_at",
    status=StudentStatus("status", active=Student.Status.ACTIVE, dropped=Student.Status.DROPPED),
    # Our fields carry Jodo's names: grade_code, academic_year_start, collector_code, ...
    fields={name: name for name in PROFILE_FIELDS},
    notes=Notes(
        StudentNote,
        student="student",
        key="key",
        value="value",
        source="source",
        jodo=StudentNote.Source.JODO,
    ),
)
