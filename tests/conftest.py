"""Shared fixtures: a small trial with the Alice / Bob / Charlie personas.

Alice is a research nurse at site A, Bob an investigator at site A, Charlie a research nurse at
site B who must see none of site A's data.

On PostgreSQL with DATABASE_APP_URL set (as .ci/run does), every test runs connected as the
application role of `manage.py db_roles`, not as the owner that created the test database.
"""

import contextlib
import datetime as dt
import os
from decimal import Decimal

import pytest

from tests.factories import (
    DEFINITION,
    fatigue_grade_3,
    study_create,
    subject_enrolled,
    user_create,
)

# The role that owns the test database's tables and the application role, once known.
PG_ROLES: dict[str, dict[str, str]] = {}


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup, django_db_blocker):
    """On PostgreSQL: migrate as the owner (DATABASE_URL), then run the tests as the app role.

    pytest-django creates the test database and runs the migrations as DATABASE_URL's user, who
    thus owns every table. With DATABASE_APP_URL set, `db_roles` then grants that URL's role its
    rights and the connection switches to it: the settings dict is shared by every thread's
    connection, so the live server's connections use the app role too. Before the database is
    dropped the connection goes back to the owner.
    """
    from django.db import connection

    if connection.vendor != "postgresql":
        yield
        return
    settings_dict = connection.settings_dict
    owner = {"USER": settings_dict["USER"], "PASSWORD": settings_dict.get("PASSWORD", "")}
    PG_ROLES["owner"] = owner
    app = _app_role()
    with pytest.MonkeyPatch.context() as patch:
        # Transactional tests (the browser tests) are reset with TRUNCATE, which the
        # application role may not send and the append-only tables refuse from anyone.
        patch.setattr(
            "django.db.backends.postgresql.operations.DatabaseOperations.execute_sql_flush",
            _flush_as_owner,
        )
        if app:
            with django_db_blocker.unblock():
                from django.core.management import call_command

                call_command("db_roles", owner=owner["USER"], app=app["USER"], verbosity=0)
                connection.close()
            settings_dict.update(app)
            PG_ROLES["app"] = app
        yield
        with django_db_blocker.unblock():
            connection.close()
        settings_dict.update(owner)


def _app_role() -> dict[str, str] | None:
    """USER and PASSWORD of DATABASE_APP_URL (its database name is not used), or None."""
    url = os.environ.get("DATABASE_APP_URL")
    if not url:
        return None
    import dj_database_url

    parsed = dj_database_url.parse(url)
    return {"USER": parsed["USER"], "PASSWORD": parsed.get("PASSWORD") or ""}


@pytest.fixture
def pg_roles(django_db_setup):
    """{"owner": {USER, PASSWORD}, "app": {USER, PASSWORD}} of the PostgreSQL test database."""
    return PG_ROLES


@pytest.fixture
def owner_connection(django_db_setup):
    """Open connections to the test database as the role that owns its tables (PostgreSQL)."""
    return _owner_connection


@contextlib.contextmanager
def _owner_connection():
    """A psycopg connection to the test database as the owner; commits on success, then closes."""
    import psycopg
    from django.db import connection

    settings_dict = connection.settings_dict
    owner = PG_ROLES["owner"]
    with psycopg.connect(
        dbname=settings_dict["NAME"],
        host=settings_dict["HOST"] or None,
        port=settings_dict["PORT"] or None,
        user=owner["USER"] or None,
        password=owner["PASSWORD"] or None,
    ) as conn:
        # A test that left a lock behind makes this fail instead of waiting for ever.
        conn.execute("SET lock_timeout = '30s'")
        yield conn


def _flush_as_owner(ops, sql_list):
    """Flush (TRUNCATE) as the owner, with the append-only tables' TRUNCATE triggers off.

    The owner may disable its tables' triggers; doing it inside the flush's own transaction
    means no other session ever sees them off. The test's own connection holds no lock at
    this point: transactional tests run in autocommit.
    """
    from ecrf.database_roles import append_only_tables, no_truncate_trigger

    tables = append_only_tables()
    with _owner_connection() as conn:
        for table in tables:
            conn.execute(f"ALTER TABLE {table} DISABLE TRIGGER {no_truncate_trigger(table)}")
        for sql in sql_list:
            conn.execute(sql)
        for table in tables:
            conn.execute(f"ALTER TABLE {table} ENABLE TRIGGER {no_truncate_trigger(table)}")


@pytest.fixture(autouse=True)
def reports_dir(tmp_path, settings):
    """Each test's requested files go to its own directory (settings.REPORTS_DIR)."""
    settings.REPORTS_DIR = tmp_path / "reports"
    return settings.REPORTS_DIR


@pytest.fixture
def definition():
    """A fresh deep copy of the test study definition, safe to modify."""
    import copy

    return copy.deepcopy(DEFINITION)


@pytest.fixture
def study(db, definition):
    return study_create(definition, source="conftest")


@pytest.fixture
def site_a(study):
    return study.sites.get(code="A")


@pytest.fixture
def site_b(study):
    return study.sites.get(code="B")


@pytest.fixture
def alice(study, site_a):
    return user_create("alice", "research_nurse", study, site_a)


@pytest.fixture
def bob(study, site_a):
    return user_create("bob", "investigator", study, site_a)


@pytest.fixture
def charlie(study, site_b):
    return user_create("charlie", "research_nurse", study, site_b)


@pytest.fixture
def data_manager(study):
    user = user_create("dana", "data_manager", study, None)
    user.is_staff = True
    user.save(update_fields=["is_staff"])
    return user


@pytest.fixture
def subject(study, site_a, alice):
    """A subject at site A, enrolled at dose level 1 with first dose on 2026-03-02."""
    return subject_enrolled(study, site_a, "A-001", sex="F", by=alice)


@pytest.fixture
def subject_b(study, site_b, charlie):
    from ecrf.services import subject_screen

    return subject_screen(
        study=study, site=site_b, subject_code="B-001", consent_on=dt.date(2026, 2, 1), by=charlie
    )


@pytest.fixture
def all_agents_unrelated():
    return dict.fromkeys(("CTX", "IM", "IL2"), ("unrelated", "none"))


@pytest.fixture
def site_a_records(subject, alice, data_manager, fatigue_event):
    """One record of each kind at site A, addressed by the URL parameter that names it."""
    from ecrf.models import DltAssessment
    from ecrf.services import dose_record, lab_record

    visit = subject.visits.order_by("planned_on").first()
    dose = dose_record(
        subject=subject,
        agent=subject.study.agents.get(code="IM"),
        given_on=dt.date(2026, 3, 2),
        given_dose=Decimal("400"),
        by=alice,
    )
    result = lab_record(
        subject=subject,
        test_code="ALT",
        value=Decimal("30"),
        unit="U/L",
        lln=Decimal("0"),
        uln=Decimal("40"),
        collected_at=dt.datetime(2026, 3, 3, 9, tzinfo=dt.UTC),
        by=alice,
    )
    from ecrf.services.locking import lock_place
    from ecrf.services.queries import query_raise

    monitor = user_create("site-a-monitor", "monitor", subject.study, subject.site)
    query = query_raise(
        record=fatigue_event, field="grade", message="Grade per source?", by=monitor
    )
    lock = lock_place(target=result, by=data_manager)
    from ecrf.models import ReportKind
    from ecrf.services.report_jobs import report_job_request

    # A file the data manager asked for: its pages are theirs alone.
    job, _ = report_job_request(
        user=data_manager,
        kind=ReportKind.EXPORT,
        study=subject.study,
        fmt="sdtm",
        generated_by="dana",
    )
    return {
        "subject_id": subject.pk,
        "kind": "ae",
        "record_id": fatigue_event.pk,
        "query_id": query.pk,
        "lock_id": lock.pk,
        "visit_id": visit.pk,
        "dose_id": dose.pk,
        "event_id": fatigue_event.pk,
        "result_id": result.pk,
        "assessment_id": DltAssessment.objects.get(adverse_event=fatigue_event).pk,
        "study_id": subject.study_id,
        "panel": "chemistry",
        "fmt": "csv",
        "job_id": job.pk,
    }


@pytest.fixture
def fatigue_event(subject, alice):
    """Fatigue grade 3 on day 12, possibly related to IL-2: a potential DLT to decide on."""
    return fatigue_grade_3(subject, by=alice)


@pytest.fixture
def monitor(study, site_a):
    """Morgan, a monitor assigned to site A."""
    return user_create("morgan", "monitor", study, site_a)


@pytest.fixture
def event(subject, alice, all_agents_unrelated):
    """Nausea grade 1 on 2026-03-05, unrelated to every agent: a plain adverse event of A-001."""
    from ecrf.services import ae_record

    return ae_record(
        subject=subject,
        ctcae_term="Nausea",
        grade=1,
        onset_on=dt.date(2026, 3, 5),
        assessments=all_agents_unrelated,
        by=alice,
    )
