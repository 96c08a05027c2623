"""The app's test matrix: every supported (Python, Django) pair on SQLite, and the oldest and the
newest pair on PostgreSQL and MariaDB.

    nox -l                                    # list the sessions
    nox                                       # run them all
    nox -t sqlite                             # one database (tags: sqlite, postgres, mariadb)
    nox -s "tests(3.13-django6.1-postgres)"   # one session
    nox -s "tests(3.11-django5.2-sqlite)" -- -x -k envelope   # pytest options after --

Each session installs the project (`.[tasks,metrics]`, not editable), the pair's Django, the `test`
dependency group and the database driver into a fresh uv virtualenv, and runs pytest on the app's
own tests (`JODO_NOX_TESTS`, default `tests/app`) with their minimal settings module
(`JODO_NOX_SETTINGS`, default `tests.app_settings`). The database comes from `DATABASE_URL`
(django-environ syntax), which each session sets: unset for SQLite, a per-session database name on
the servers in `JODO_NOX_POSTGRES` / `JODO_NOX_MARIADB`. pytest-django creates the test database
(`test_<name>`) and drops it afterwards. The newest pair's SQLite session also runs mypy on the
app (with the `types` group; the configuration is in pyproject.toml). The MariaDB driver,
mysqlclient, compiles against the C client headers (Debian: libmariadb-dev pkg-config).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess

import nox

nox.options.default_venv_backend = "uv"
nox.options.error_on_missing_interpreters = True
nox.needs_version = ">=2025.2.9"

PYPROJECT = nox.project.load_toml("pyproject.toml")

# (Python, Django series, djangorestframework requirement). The oldest pair runs the oldest DRF
# that pyproject.toml allows, so that its lower bound stays true; the others the newest.
OLDEST = ("3.11", "5.2", "djangorestframework==3.16.0")
MIDDLE = ("3.12", "6.0", "djangorestframework")
NEWEST = ("3.13", "6.1", "djangorestframework")
MATRIX = [
    *((*pair, "sqlite") for pair in (OLDEST, MIDDLE, NEWEST)),
    *((*pair, database) for database in ("postgres", "mariadb") for pair in (OLDEST, NEWEST)),
]

SERVERS = {
    "postgres": os.environ.get("JODO_NOX_POSTGRES", "postgres://postgres@127.0.0.1:5432"),
    "mariadb": os.environ.get("JODO_NOX_MARIADB", "mysql://root@127.0.0.1:3306"),
}
URL_OPTIONS = {"postgres": "", "mariadb": "?charset=utf8mb4"}
DRIVER_GROUPS = {"sqlite": (), "postgres": ("postgres",), "mariadb": ("mysql",)}


def _select_pyenv_pythons() -> None:
    """pyenv's shims run only the selected versions: select the installed 3.x of the matrix too
    (the default version stays first), so that uv finds `python3.12` and `python3.13`."""
    pyenv = shutil.which("pyenv")
    wanted = sorted({python for python, *_ in MATRIX})
    if pyenv is None or all(_runs(f"python{python}") for python in wanted):
        return

    def run_pyenv(*args: str) -> str:
        result = subprocess.run([pyenv, *args], capture_output=True, text=True, check=True)  # noqa: S603
        return result.stdout

    installed = run_pyenv("versions", "--bare").split()
    selected = os.environ.get("PYENV_VERSION") or run_pyenv("version-name").strip()
    for python in wanted:
        versions = [v for v in installed if re.fullmatch(rf"{re.escape(python)}\.\d+", v)]
        if versions:
            selected += ":" + max(versions, key=lambda v: int(v.rsplit(".", 1)[1]))
    os.environ["PYENV_VERSION"] = selected


def _runs(command: str) -> bool:
    try:
        return subprocess.run([command, "-c", ""], capture_output=True).returncode == 0  # noqa: S603
    except OSError:
        return False


_select_pyenv_pythons()


@nox.session(tags=["tests"])
@nox.parametrize(
    ("python", "django", "drf", "database"),
    [
        nox.param(
            python,
            django,
            drf,
            database,
            id=f"{python}-django{django}-{database}",
            tags=[database],
        )
        for python, django, drf, database in MATRIX
    ],
)
def tests(session: nox.Session, django: str, drf: str, database: str) -> None:
    """The app's tests on one Python, one Django and one database."""
    # The newest pair's SQLite session also type-checks the app against that Django and DRF.
    type_check = (session.python, django, database) == (NEWEST[0], NEWEST[1], "sqlite")
    groups = ("test", *DRIVER_GROUPS[database], *(("types",) if type_check else ()))
    session.install(
        ".[tasks,metrics]",
        f"Django~={django}.0",
        drf,
        *nox.project.dependency_groups(PYPROJECT, *groups),
    )
    if type_check:
        # The app only: the reference ERP and the whole suite are checked by `.ci/run`, in the
        # project's own environment (the tests need Hypothesis and Playwright).
        session.run("python", "-m", "mypy", "jodo_webhooks", env={"DJANGO_SETTINGS_MODULE": None})
    env: dict[str, str | None] = {"DJANGO_SETTINGS_MODULE": None}
    if database == "sqlite":
        env["DATABASE_URL"] = None
    else:
        name = f"jodo_nox_py{session.python}_dj{django}_{os.getpid()}".replace(".", "")
        env["DATABASE_URL"] = f"{SERVERS[database]}/{name}{URL_OPTIONS[database]}"
    tests_path = os.environ.get("JODO_NOX_TESTS", "tests/app")
    settings = os.environ.get("JODO_NOX_SETTINGS", "tests.app_settings")
    session.run(
        "python",
        "-m",
        "pytest",
        tests_path,
        f"--ds={settings}",
        "--create-db",
        *session.posargs,
        env=env,
    )
