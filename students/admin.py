from __future__ import annotations

from django.contrib import admin

from jodo_webhooks.admin import ErpNotesInline, JodoNotesInline, JodoStudentAdminMixin

from .models import Student, StudentNote


class JodoNoteInline(JodoNotesInline):
    model = StudentNote


class ErpNoteInline(ErpNotesInline):
    model = StudentNote


@admin.register(Student)
class StudentAdmin(JodoStudentAdminMixin, admin.ModelAdmin):
    """Jodo's fields are read-only once Jodo has written the record (the mixin reads which from
    students/jodo.py); the ERP's own notes stay editable."""

    list_display = [
        "identifier",
        "custom_identifier",
        "jodo_student_id",
        "grade_name",
        "academic_year",
        "status",
        "jodo_updated_at",
    ]
    list_filter = ["status", "grade_code", "academic_year_start"]
    search_fields = [
        "identifier",
        "custom_identifier",
        "jodo_student_id",
        "primary_contact_email",
        "primary_contact_number",
    ]
    fieldsets = [
        (None, {"fields": ["identifier", "custom_identifier", "jodo_student_id", "status"]}),
        (
            "Profile",
            {
                "fields": [
                    "grade_code",
                    "grade_name",
                    ("academic_year_start", "academic_year_end"),
                    "collector_code",
                    "primary_contact_number",
                    "primary_contact_email",
                ]
            },
        ),
        ("Jodo", {"fields": ["jodo_updated_at", "jodo_events"]}),
        ("Record", {"fields": ["created_at", "updated_at"]}),
    ]
    readonly_fields = ["jodo_events", "created_at", "updated_at"]
    inlines = [JodoNoteInline, ErpNoteInline]

    @admin.display(description="Academic year", ordering="academic_year_start")
    def academic_year(self, student: Student) -> str:
        if student.academic_year_start is None:
            return "-"
        return f"{student.academic_year_start}-{student.academic_year_end}"
