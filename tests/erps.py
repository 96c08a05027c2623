"""The two ERPs the student sync is tested against, behind one small adapter.

`tests/test_student_sync.py` is written once against this adapter and runs for both:

- `ReferenceErp`: the `students` app (Student, StudentNote), whose fields carry Jodo's names and
  whose notes have a source field, so the ERP can own notes of its own.
- `PupilsErp`: `tests.pupils` (Pupil, PupilTag): other names, a boolean status, a NOT NULL
  `branch` for the collector code, and tags without a source field (every tag is Jodo's).

Each adapter speaks Jodo's names: `student()` returns a student as {"identifier", "status":
"active" | "dropped", "grade_code", ...}, whatever the ERP's model calls those fields.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from students.models import Student, StudentNote
from tests.pupils.models import Pupil, PupilTag


class ReferenceErp:
    name = "students"
    sync_path = "students.jodo.STUDENT_SYNC"
    student_table = Student._meta.db_table
    student_label = "students.student"
    # Jodo fields its mapping leaves out.
    not_stored: frozenset[str] = frozenset()

    def create_student(
        self,
        identifier: str,
        *,
        jodo_student_id: str | None = None,
        custom_identifier: str | None = None,
        status: str = "active",
        jodo_updated_at: datetime | None = None,
        primary_contact_email: str = "erp@example.com",
    ) -> int:
        """A student the ERP already has; its primary key."""
        return Student.objects.create(
            identifier=identifier,
            jodo_student_id=jodo_student_id,
            custom_identifier=custom_identifier,
            status=status,
            jodo_updated_at=jodo_updated_at,
            primary_contact_email=primary_contact_email,
            grade_code="ERP-GRADE",
            academic_year_start=2025,
            academic_year_end=2026,
        ).pk

    def student(self, identifier: str) -> dict[str, Any]:
        student = Student.objects.get(identifier=identifier)
        return {
            "identifier": student.identifier,
            "custom_identifier": student.custom_identifier,
            "jodo_student_id": student.jodo_student_id,
            "status": student.status,  # "active" or "dropped" already
            "jodo_updated_at": student.jodo_updated_at,
            "collector_code": student.collector_code,
            "grade_code": student.grade_code,
            "grade_name": student.grade_name,
            "academic_year_start": student.academic_year_start,
            "academic_year_end": student.academic_year_end,
            "primary_contact_number": student.primary_contact_number,
            "primary_contact_email": student.primary_contact_email,
        }

    def count(self) -> int:
        return Student.objects.count()

    def add_jodo_note(self, identifier: str, key: str, value: str) -> None:
        StudentNote.objects.create(
            student=Student.objects.get(identifier=identifier),
            key=key,
            value=value,
            source=StudentNote.Source.JODO,
        )

    def add_erp_note(self, identifier: str, key: str, value: str) -> StudentNote:
        """A note of the ERP's own (source `erp`): only this ERP can tell it from Jodo's."""
        return StudentNote.objects.create(
            student=Student.objects.get(identifier=identifier),
            key=key,
            value=value,
            source=StudentNote.Source.ERP,
        )

    def notes(self, identifier: str) -> dict[str, str]:
        """All the student's notes, Jodo's and the ERP's, as {key: value}."""
        return dict(
            StudentNote.objects.filter(student__identifier=identifier).values_list("key", "value")
        )

    def jodo_notes(self, identifier: str) -> dict[str, str]:
        return dict(
            StudentNote.objects.filter(
                student__identifier=identifier, source=StudentNote.Source.JODO
            ).values_list("key", "value")
        )

    def state(self) -> tuple[list[Any], list[Any]]:
        """Every student and note row, every column: to show that an event changed nothing."""
        return (
            list(Student.objects.order_by("pk").values()),
            list(StudentNote.objects.order_by("pk").values()),
        )


class PupilsErp:
    name = "pupils"
    sync_path = "tests.pupils.jodo.PUPIL_SYNC"
    student_table = Pupil._meta.db_table
    student_label = "pupils.pupil"
    not_stored = frozenset({"primary_contact_number"})

    def create_student(
        self,
        identifier: str,
        *,
        jodo_student_id: str | None = None,
        custom_identifier: str | None = None,
        status: str = "active",
        jodo_updated_at: datetime | None = None,
        primary_contact_email: str = "erp@example.com",
    ) -> int:
        return Pupil.every_pupil.create(
            admission_no=identifier,
            jodo_ref=jodo_student_id,
            alt_admission_no=custom_identifier,
            enrolled={"active": True, "dropped": False}[status],
            jodo_synced_at=jodo_updated_at,
            guardian_email=primary_contact_email,
            class_code="ERP-GRADE",
            session_from=2025,
            session_to=2026,
        ).pk

    def student(self, identifier: str) -> dict[str, Any]:
        pupil = Pupil.every_pupil.get(admission_no=identifier)
        return {
            "identifier": pupil.admission_no,
            "custom_identifier": pupil.alt_admission_no,
            "jodo_student_id": pupil.jodo_ref,
            "status": "active" if pupil.enrolled else "dropped",
            "jodo_updated_at": pupil.jodo_synced_at,
            "collector_code": pupil.branch,
            "grade_code": pupil.class_code,
            "grade_name": pupil.class_name,
            "academic_year_start": pupil.session_from,
            "academic_year_end": pupil.session_to,
            "primary_contact_email": pupil.guardian_email,
        }

    def count(self) -> int:
        return Pupil.every_pupil.count()

    def add_jodo_note(self, identifier: str, key: str, value: str) -> None:
        """A tag: every tag is Jodo's, whoever created it."""
        PupilTag.objects.create(
            pupil=Pupil.every_pupil.get(admission_no=identifier), label=key, text=value
        )

    def notes(self, identifier: str) -> dict[str, str]:
        return dict(
            PupilTag.objects.filter(pupil__admission_no=identifier).values_list("label", "text")
        )

    def jodo_notes(self, identifier: str) -> dict[str, str]:
        return self.notes(identifier)  # no source field: every tag is Jodo's

    def state(self) -> tuple[list[Any], list[Any]]:
        return (
            list(Pupil.every_pupil.order_by("pk").values()),
            list(PupilTag.objects.order_by("pk").values()),
        )


ERPS: dict[str, ReferenceErp | PupilsErp] = {"students": ReferenceErp(), "pupils": PupilsErp()}
