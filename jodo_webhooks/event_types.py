"""Jodo's event codes, as sent in the envelope's `event` field: every documented one."""

# Student master data: each carries the student's whole profile.
STUDENT_REGISTERED = "masterdata.student.registered"
STUDENT_DROPPED = "masterdata.student.dropped"
STUDENT_ACTIVATED = "masterdata.student.activated"

# Manual (offline) payments recorded at Jodo.
DIRECT_PAYMENT_ADDED = "direct.payment.added"
DIRECT_PAYMENT_UPDATED = "direct.payment.updated"
DIRECT_PAYMENT_CANCELLED = "direct.payment.cancelled"

# Flex: instalments under an auto-debit mandate.
FLEX_SUBSCRIPTION_SETUP = "flex.subscription.setup"
FLEX_SUBSCRIPTION_ACTIVE = "flex.subscription.active"
FLEX_SUBSCRIPTION_UPDATED = "flex.subscription.updated"
FLEX_SUBSCRIPTION_CANCELLED = "flex.subscription.cancelled"
FLEX_SUBSCRIPTION_CLOSED = "flex.subscription.closed"
FLEX_MANDATE_CANCELLED = "flex.mandate.cancelled"
FLEX_MANDATE_EXPIRED = "flex.mandate.expired"
FLEX_DOWNPAYMENT_DEBITED = "flex.downpayment.debited"
FLEX_DOWNPAYMENT_SETTLED = "flex.downpayment.settled"
FLEX_INSTALMENT_DEBITED = "flex.instalment.debited"
FLEX_INSTALMENT_SETTLED = "flex.instalment.settled"
FLEX_INSTALMENT_BOUNCED = "flex.instalment.bounced"

# Pay: student-linked payments, checkout orders, payment pages and payment links.
PAY_PAYMENT_DEBITED = "pay.payment.debited"
PAY_PAYMENT_SETTLED = "pay.payment.settled"
ORDER_PAYMENT_DEBITED = "order.payment.debited"
ORDER_PAYMENT_SETTLED = "order.payment.settled"
PAGE_PAYMENT_DEBITED = "page.payment.debited"
PAGE_PAYMENT_SETTLED = "page.payment.settled"
PAYMENT_LINK_PAYMENT_DEBITED = "payment_link.payment.debited"
PAYMENT_LINK_PAYMENT_SETTLED = "payment_link.payment.settled"
PAYMENT_LINK_PAYMENT_EXPIRED = "payment_link.payment.expired"

# Cred: education loans and their EMIs. Jodo spells this one `canceled`.
CRED_LOAN_APPLICATION_STARTED = "cred.loan.application_started"
CRED_LOAN_APPLICATION_FILLED = "cred.loan.application_filled"
CRED_LOAN_FINAL_APPROVED = "cred.loan.final_approved"
CRED_LOAN_AGREEMENT_SIGNED = "cred.loan.agreement_signed"
CRED_LOAN_DISBURSED = "cred.loan.disbursed"
CRED_LOAN_REJECTED = "cred.loan.rejected"
CRED_LOAN_CANCELED = "cred.loan.canceled"
CRED_LOAN_APPLICATION_EXPIRED = "cred.loan.application_expired"
CRED_EMI_DEBITED = "cred.emi.debited"

STUDENT_EVENT_TYPES = frozenset({STUDENT_REGISTERED, STUDENT_DROPPED, STUDENT_ACTIVATED})
DIRECT_PAYMENT_EVENT_TYPES = frozenset(
    {DIRECT_PAYMENT_ADDED, DIRECT_PAYMENT_UPDATED, DIRECT_PAYMENT_CANCELLED}
)
FLEX_SUBSCRIPTION_EVENT_TYPES = frozenset(
    {
        FLEX_SUBSCRIPTION_SETUP,
        FLEX_SUBSCRIPTION_ACTIVE,
        FLEX_SUBSCRIPTION_UPDATED,
        FLEX_SUBSCRIPTION_CANCELLED,
        FLEX_SUBSCRIPTION_CLOSED,
    }
)
FLEX_MANDATE_EVENT_TYPES = frozenset({FLEX_MANDATE_CANCELLED, FLEX_MANDATE_EXPIRED})
FLEX_PAYMENT_EVENT_TYPES = frozenset(
    {
        FLEX_DOWNPAYMENT_DEBITED,
        FLEX_DOWNPAYMENT_SETTLED,
        FLEX_INSTALMENT_DEBITED,
        FLEX_INSTALMENT_SETTLED,
        FLEX_INSTALMENT_BOUNCED,
    }
)
PAY_EVENT_TYPES = frozenset(
    {
        PAY_PAYMENT_DEBITED,
        PAY_PAYMENT_SETTLED,
        ORDER_PAYMENT_DEBITED,
        ORDER_PAYMENT_SETTLED,
        PAGE_PAYMENT_DEBITED,
        PAGE_PAYMENT_SETTLED,
        PAYMENT_LINK_PAYMENT_DEBITED,
        PAYMENT_LINK_PAYMENT_SETTLED,
        PAYMENT_LINK_PAYMENT_EXPIRED,
    }
)
CRED_LOAN_EVENT_TYPES = frozenset(
    {
        CRED_LOAN_APPLICATION_STARTED,
        CRED_LOAN_APPLICATION_FILLED,
        CRED_LOAN_FINAL_APPROVED,
        CRED_LOAN_AGREEMENT_SIGNED,
        CRED_LOAN_DISBURSED,
        CRED_LOAN_REJECTED,
        CRED_LOAN_CANCELED,
        CRED_LOAN_APPLICATION_EXPIRED,
    }
)
CRED_EVENT_TYPES = CRED_LOAN_EVENT_TYPES | {CRED_EMI_DEBITED}

# Every code Jodo documents (36). A receiver registered for another code is reported by the
# system check jodo_webhooks.W003, unless registered with `custom=True`.
DOCUMENTED_EVENT_TYPES = (
    STUDENT_EVENT_TYPES
    | DIRECT_PAYMENT_EVENT_TYPES
    | FLEX_SUBSCRIPTION_EVENT_TYPES
    | FLEX_MANDATE_EVENT_TYPES
    | FLEX_PAYMENT_EVENT_TYPES
    | PAY_EVENT_TYPES
    | CRED_EVENT_TYPES
)
