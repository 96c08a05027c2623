"""Jodo's event codes, as sent in the envelope's `event` field."""

STUDENT_REGISTERED = "masterdata.student.registered"
STUDENT_DROPPED = "masterdata.student.dropped"
STUDENT_ACTIVATED = "masterdata.student.activated"

# The student master-data events: each carries the student's whole profile.
STUDENT_EVENT_TYPES = frozenset({STUDENT_REGISTERED, STUDENT_DROPPED, STUDENT_ACTIVATED})

# Every event code Jodo documents. Metrics label an event by its type only when it is one of
# these, so that a sender cannot create unbounded label values.
DOCUMENTED_EVENT_TYPES = frozenset(
    {
        STUDENT_REGISTERED,
        STUDENT_DROPPED,
        STUDENT_ACTIVATED,
        "direct.payment.added",
        "direct.payment.updated",
        "direct.payment.cancelled",
        "flex.subscription.setup",
        "flex.subscription.active",
        "flex.subscription.updated",
        "flex.subscription.cancelled",
        "flex.subscription.closed",
        "flex.mandate.cancelled",
        "flex.mandate.expired",
        "flex.downpayment.debited",
        "flex.downpayment.settled",
        "flex.instalment.debited",
        "flex.instalment.settled",
        "flex.instalment.bounced",
        "pay.payment.debited",
        "pay.payment.settled",
        "order.payment.debited",
        "order.payment.settled",
        "page.payment.debited",
        "page.payment.settled",
        "payment_link.payment.debited",
        "payment_link.payment.settled",
        "payment_link.payment.expired",
        "cred.loan.application_started",
        "cred.loan.application_filled",
        "cred.loan.final_approved",
        "cred.loan.agreement_signed",
        "cred.loan.disbursed",
        "cred.loan.rejected",
        "cred.loan.canceled",
        "cred.loan.application_expired",
        "cred.emi.debited",
    }
)
