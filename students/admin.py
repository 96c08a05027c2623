from __future__ import annotations

from decimal import Decimal

from django.contrib import admin
from django.db.models import Sum
from django.urls import reverse
from django.utils.html import format_html, format_html_join

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
        ("Fee payments from Jodo", {"fields": ["total_received", "payments"]}),
        ("Jodo", {"fields": ["jodo_updated_at", "jodo_events"]}),
        ("Record", {"fields": ["created_at", "updated_at"]}),
    ]
    readonly_fields = ["jodo_events", "total_received", "payments", "created_at", "updated_at"]
    inlines = [JodoNoteInline, ErpNoteInline]

    @admin.display(description="Total received")
    def total_received(self, student: Student) -> Decimal:
        """Received and settled payments; cancelled and bounced ones keep their rows, uncounted."""
        paid = student.payments.filter(state__in=RECEIVED_STATES).aggregate(total=Sum("amount"))
        # Some databases sum without the column's scale (3000.5): shown to the paisa.
        return (paid["total"] or Decimal(0)).quantize(Decimal("0.01"))

    @admin.display(description="Payments")
    def payments(self, student: Student) -> str:
        """Each payment, newest first, linked to its page (a table, not an inline: read-only)."""
        rows = format_html_join(
            "",
            '<tr><td><a href="{}">{}</a></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>',
            (
                (
                    reverse("admin:students_feepayment_change", args=[p.pk]),
                    p.jodo_payment_id,
                    p.get_product_display(),
                    p.get_state_display(),
                    p.amount,
                    p.paid_at or "-",
                )
                for p in student.payments.all()
            ),
        )
        if not rows:
            return "-"
        return format_html(
            "<table><tr><th>Jodo payment</th><th>Product</th><th>State</th><th>Amount</th>"
            "<th>Paid at</th></tr>{}</table>",
            rows,
        )

    @admin.display(description="Academic year", ordering="academic_year_start")
    def academic_year(self, student: Student) -> str:
        if student.academic_year_start is None:
            return "-"
        return f"{student.academic_year_start}-{student.academic_year_end}"


class FeePaymentLineInline(JodoReadOnlyInline):
    model = FeePaymentLine
    fields = ["component", "amount", "settlement_utr", "settled_at"]
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
