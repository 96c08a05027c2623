from __future__ import annotations

from decimal import Decimal

from django.contrib import admin
from django.db.models import Sum

from jodo_webhooks.admin import (
    ErpNotesInline,
    JodoNotesInline,
    JodoPaymentAdminMixin,
    JodoReadOnlyInline,
    JodoStudentAdminMixin,
)

from .models import FeePayment, FeePaymentLine, Student, StudentNote

# The states in which the school has the money: cancelled and bounced payments do not count.
RECEIVED_STATES = [FeePayment.State.RECEIVED, FeePayment.State.SETTLED]


class JodoNoteInline(JodoNotesInline):
    model = StudentNote


class ErpNoteInline(ErpNotesInline):
    model = StudentNote


class StudentPaymentInline(JodoReadOnlyInline):
    model = FeePayment
    fields = ["jodo_payment_id", "product", "state", "amount", "mode", "paid_at", "settled_at"]
    verbose_name_plural = "Fee payments from Jodo (read-only)"


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
        ("Fees", {"fields": ["total_received"]}),
        ("Jodo", {"fields": ["jodo_updated_at", "jodo_events"]}),
        ("Record", {"fields": ["created_at", "updated_at"]}),
    ]
    readonly_fields = ["jodo_events", "total_received", "created_at", "updated_at"]
    inlines = [JodoNoteInline, ErpNoteInline, StudentPaymentInline]

    @admin.display(description="Total received")
    def total_received(self, student: Student) -> Decimal:
        """Received and settled payments; cancelled and bounced ones keep their rows, uncounted."""
        paid = student.payments.filter(state__in=RECEIVED_STATES).aggregate(total=Sum("amount"))
        # Some databases sum without the column's scale (3000.5): shown to the paisa.
        return (paid["total"] or Decimal(0)).quantize(Decimal("0.01"))

    @admin.display(description="Academic year", ordering="academic_year_start")
    def academic_year(self, student: Student) -> str:
        if student.academic_year_start is None:
            return "-"
        return f"{student.academic_year_start}-{student.academic_year_end}"


class FeePaymentLineInline(JodoReadOnlyInline):
    model = FeePaymentLine
    fields = ["component", "amount", "settlement_utr", "settled_at"]
    show_change_link = False
    verbose_name_plural = "Fee components"


class LinesAddUpFilter(admin.SimpleListFilter):
    title = "lines add up"
    parameter_name = "lines_add_up"

    def lookups(self, request, model_admin):
        return [("yes", "Yes"), ("no", "No"), ("none", "No lines")]

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.filter(lines_difference=0)
        if self.value() == "no":
            return queryset.exclude(lines_difference=0).exclude(lines_difference=None)
        if self.value() == "none":
            return queryset.filter(lines_difference=None)
        return queryset


@admin.register(FeePayment)
class FeePaymentAdmin(JodoPaymentAdminMixin, admin.ModelAdmin):
    """Jodo's payments: every field the payment sync writes is read-only (the mixin reads which
    from students/jodo.py), and no payment is added or deleted by hand."""

    list_display = [
        "jodo_payment_id",
        "student",
        "product",
        "state",
        "amount",
        "lines_difference",
        "mode",
        "paid_at",
        "settlement_utr",
    ]
    list_filter = ["state", "mode", "product", LinesAddUpFilter]
    search_fields = ["=jodo_payment_id", "=transaction_id", "=settlement_utr"]
    list_select_related = ["student"]
    readonly_fields = ["created_at", "updated_at"]
    inlines = [FeePaymentLineInline]
