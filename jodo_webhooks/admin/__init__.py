"""The operators' admin: what failed and why at a glance, never a secret, Jodo's data read-only.

Importing this package registers the two admins (events, rejected deliveries). An ERP uses
`JodoStudentAdminMixin`, `JodoNotesInline` and `ErpNotesInline` for its own student admin, and
`JodoPaymentAdminMixin` and `JodoReadOnlyInline` for its payments (see students/admin.py).
"""

from .common import JodoReadOnlyInline
from .events import InboundEventAdmin
from .payments import JodoPaymentAdminMixin
from .rejected_deliveries import RejectedDeliveryAdmin
from .students import ErpNotesInline, JodoNotesInline, JodoStudentAdminMixin

__all__ = [
    "ErpNotesInline",
    "InboundEventAdmin",
    "JodoNotesInline",
    "JodoPaymentAdminMixin",
    "JodoReadOnlyInline",
    "JodoStudentAdminMixin",
    "RejectedDeliveryAdmin",
]
