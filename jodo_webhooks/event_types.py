"""Jodo's event codes, as sent in the envelope's `event` field."""

STUDENT_REGISTERED = "masterdata.student.registered"
STUDENT_DROPPED = "masterdata.student.dropped"
STUDENT_ACTIVATED = "masterdata.student.activated"

# The student master-data events: each carries the student's whole profile.
STUDENT_EVENT_TYPES = frozenset({STUDENT_REGISTERED, STUDENT_DROPPED, STUDENT_ACTIVATED})
