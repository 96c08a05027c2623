from __future__ import annotations

from django.contrib import admin
from django.urls import reverse
from django.utils.html import format_html
from django.utils.http import urlencode

from jodo_webhooks.admin import InboundEventAdmin
from jodo_webhooks.models import InboundEvent

from .models import Student, StudentNote


class StudentNoteInline(admin.TabularInline):
    model = StudentNote
    extra = 0
    fields = ["key", "value", "source", "updated_at"]
    readonly_fields = ["updated_at"]


@admin.register(Student)
class StudentAdmin(admin.ModelAdmin):
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
    readonly_fields = ["jodo_events", "jodo_updated_at", "created_at", "updated_at"]
    inlines = [StudentNoteInline]

    @admin.display(description="Academic year", ordering="academic_year_start")
    def academic_year(self, student: Student) -> str:
        if student.academic_year_start is None:
            return "-"
        return f"{student.academic_year_start}-{student.academic_year_end}"

    @admin.display(description="Jodo events")
    def jodo_events(self, student: Student) -> str:
        if not student.jodo_student_id:
            return "-"
        url = reverse("admin:jodo_webhooks_inboundevent_changelist")
        query = urlencode({"jodo_student_id": student.jodo_student_id})
        return format_html('<a href="{}?{}">Events for {}</a>', url, query, student.jodo_student_id)


# The reusable app knows nothing of students; the ERP extends its admin with the link.
admin.site.unregister(InboundEvent)


@admin.register(InboundEvent)
class StudentInboundEventAdmin(InboundEventAdmin):
    @admin.display(description="Student")
    def student_link(self, event: InboundEvent) -> str:
        student = (
            Student.objects.filter(jodo_student_id=event.jodo_student_id).first()
            if event.jodo_student_id
            else None
        )
        if student is None:
            return "-"
        url = reverse("admin:students_student_change", args=[student.pk])
        return format_html('<a href="{}">{}</a>', url, student)

    def get_fieldsets(self, request, obj=None):
        fieldsets = super().get_fieldsets(request, obj)
        first_name, first_options = fieldsets[0]
        return [
            (first_name, {**first_options, "fields": [*first_options["fields"], "student_link"]}),
            *fieldsets[1:],
        ]
