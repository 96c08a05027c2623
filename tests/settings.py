"""Settings for the reference ERP's test suite: erp_project's, plus what only tests need.

- `tests.receiver_app`, the tiny receiver app of the app's own tests (tests/app), which run here
  too and on their own under `tests.app_settings`.
- `tests.pupils`, a second ERP with other model and field names, to run the student sync's
  behaviour tests against a mapping other than the reference ERP's.
- On PostgreSQL and MariaDB, a `replica` alias: the same test database through a read-only
  session, so that a primary/replica router shows any read or lock that should be a write; and
  an `events` alias, the same database through a connection of its own, for a router that
  writes the app's events apart from the ERP's models (tests/test_events_alias.py).
"""

from erp_project.settings import *  # noqa: F403
from erp_project.settings import DATABASES, INSTALLED_APPS

INSTALLED_APPS = [*INSTALLED_APPS, "tests.receiver_app", "tests.pupils"]

READ_ONLY_SESSION = {
    "django.db.backends.postgresql": {"options": "-c default_transaction_read_only=on"},
    "django.db.backends.mysql": {"init_command": "SET SESSION TRANSACTION READ ONLY"},
}
_primary = DATABASES["default"]
if _primary["ENGINE"] in READ_ONLY_SESSION:
    DATABASES["replica"] = {
        **_primary,
        "OPTIONS": {**_primary.get("OPTIONS", {}), **READ_ONLY_SESSION[_primary["ENGINE"]]},
        "TEST": {"MIRROR": "default"},
    }
    DATABASES["events"] = {**_primary, "TEST": {"MIRROR": "default"}}
