"""The application's database role cannot erase or rewrite the audit trail or clinical data.

`manage.py db_roles` grants the application role (the one it connects as) SELECT, INSERT and
UPDATE on clinical tables, SELECT and INSERT only on the append-only ones, and no DELETE, no
TRUNCATE and no ownership; a BEFORE TRUNCATE trigger (migration 0011) refuses TRUNCATE on the
append-only tables from the owner as well.

The PostgreSQL tests run in CI's PostgreSQL leg, where .ci/run sets DATABASE_APP_URL and
tests/conftest.py connects every test as that role.
"""

from __future__ import annotations

import datetime as dt
import os
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from ecrf.database_roles import (
    APPEND_ONLY,
    CLINICAL,
    append_only_tables,
    no_truncate_trigger,
    role_sql,
    table_grants,
)
from ecrf.models import AdverseEvent, AuditEvent, DataQueryMessage, Signature, SourceVerification

on_postgresql = pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="database roles, privileges and TRUNCATE triggers are PostgreSQL's; SQLite has none",
)
as_app_role = pytest.mark.skipif(
    connection.vendor != "postgresql" or not os.environ.get("DATABASE_APP_URL"),
    reason="needs PostgreSQL and DATABASE_APP_URL naming the application role (.ci/run sets it)",
)
PRIVILEGES = ("SELECT", "INSERT", "UPDATE", "DELETE", "TRUNCATE", "REFERENCES", "TRIGGER")


# The SQL, built from the models (any database).


def test_every_append_only_model_is_granted_select_and_insert_only():
    grants = {grant.table: grant.privileges for grant in table_grants()}
    tables = [
        m._meta.db_table for m in (AuditEvent, Signature, DataQueryMessage, SourceVerification)
    ]
    assert append_only_tables() == sorted(tables)
    assert all(grants[table] == APPEND_ONLY for table in tables)


def test_no_ecrf_table_is_granted_delete_and_no_table_truncate():
    grants = table_grants()
    assert not [g.table for g in grants if "TRUNCATE" in g.privileges]
    # The record of a requested file is no clinical data: it expires (ECRF_DELETE_REASONS).
    ecrf = [g for g in grants if g.table.startswith("ecrf_") and g.table != "ecrf_reportjob"]
    assert {g.privileges for g in ecrf} == {CLINICAL, APPEND_ONLY}
    assert grants_of("ecrf_adverseevent") == CLINICAL


def grants_of(table: str) -> tuple[str, ...]:
    return next(grant.privileges for grant in table_grants() if grant.table == table)


def test_delete_is_granted_only_where_django_deletes_rows_at_run_time():
    deletable = sorted(g.table for g in table_grants() if "DELETE" in g.privileges)
    assert deletable == [
        "auth_group_permissions",
        "auth_user_groups",
        "auth_user_user_permissions",
        "axes_accessattempt",
        "axes_accessattemptexpiration",
        "axes_accessfailurelog",
        "axes_accesslog",
        "django_session",
        "django_tasks_database_dbtaskresult",
        "ecrf_reportjob",
        "otp_totp_totpdevice",
    ]


def test_the_sql_revokes_first_and_gives_later_tables_select_and_insert_only():
    sql = role_sql(owner="ecrf_owner", app="ecrf_app", database="ecrf")
    assert sql.index('REVOKE ALL ON ALL TABLES IN SCHEMA "public" FROM "ecrf_app";') < sql.index(
        'GRANT SELECT, INSERT ON "public"."ecrf_auditevent" TO "ecrf_app";  -- append-only'
    )
    assert (
        'ALTER DEFAULT PRIVILEGES FOR ROLE "ecrf_owner" IN SCHEMA "public" '
        'GRANT SELECT, INSERT ON TABLES TO "ecrf_app";'
    ) in sql
    deletes = [line for line in sql if 'DELETE ON "public"."ecrf' in line]
    assert not [line for line in sql if "TRUNCATE" in line]
    assert deletes == [
        'GRANT SELECT, INSERT, UPDATE, DELETE ON "public"."ecrf_reportjob" TO "ecrf_app";'
        "  -- a requested file and its record expire; report_jobs_sweep deletes them"
    ]


def test_the_command_prints_the_sql_in_one_transaction():
    out = StringIO()
    call_command("db_roles", "--owner=ecrf_owner", "--app=ecrf_app", "--print", stdout=out)
    lines = out.getvalue().splitlines()
    assert lines[0] == "BEGIN;" and lines[-1] == "COMMIT;"
    assert (
        'GRANT SELECT, INSERT ON "public"."ecrf_signature" TO "ecrf_app";  -- append-only' in lines
    )


def test_the_command_refuses_an_application_role_that_is_the_owner():
    with pytest.raises(CommandError, match="must not be the owner"):
        call_command("db_roles", "--owner=ecrf", "--app=ecrf", "--print", stdout=StringIO())


@pytest.mark.skipif(connection.vendor != "sqlite", reason="the refusal on a database without roles")
def test_the_command_applies_nothing_on_sqlite():
    with pytest.raises(CommandError, match="PostgreSQL's; this database is sqlite"):
        call_command("db_roles", "--owner=ecrf_owner", "--app=ecrf_app", stdout=StringIO())


# Connected as the application role (PostgreSQL, CI).


def _refused(statement: str, params: list | None = None) -> Exception:
    """Run `statement` as the connected (application) role and return the database's refusal."""
    with (
        pytest.raises(DatabaseError) as refusal,
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute(statement, params)
    return refusal.value


def _insufficient_privilege(error: Exception) -> bool:
    import psycopg.errors

    return isinstance(error.__cause__, psycopg.errors.InsufficientPrivilege)


@as_app_role
@pytest.mark.django_db
def test_the_tests_run_as_an_application_role_that_is_no_superuser_and_owns_nothing(pg_roles):
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_user, rolsuper FROM pg_roles WHERE rolname = current_user")
        user, superuser = cursor.fetchone()
        cursor.execute("SELECT count(*) FROM pg_tables WHERE tableowner = current_user")
        (owned,) = cursor.fetchone()
    assert user == pg_roles["app"]["USER"] != pg_roles["owner"]["USER"]
    assert not superuser
    assert owned == 0


@as_app_role
def test_the_application_role_cannot_truncate_delete_or_update_the_audit_trail(event):
    count = AuditEvent.objects.count()
    row = AuditEvent.objects.filter(object_id=str(event.pk)).first()
    for statement, params in (
        ("TRUNCATE ecrf_auditevent", None),
        ("DELETE FROM ecrf_auditevent", None),
        ("UPDATE ecrf_auditevent SET new_value = 'forged' WHERE id = %s", [row.pk]),
    ):
        error = _refused(statement, params)
        assert _insufficient_privilege(error), (statement, error)
        assert "permission denied for table ecrf_auditevent" in str(error)
    assert AuditEvent.objects.count() == count
    row.refresh_from_db()
    assert row.new_value != "forged"


@as_app_role
def test_the_application_role_cannot_disable_the_audit_triggers(event):
    for statement in (
        "ALTER TABLE ecrf_auditevent DISABLE TRIGGER ALL",
        "ALTER TABLE ecrf_auditevent DISABLE TRIGGER ecrf_audit_append_only",
        "DROP TRIGGER ecrf_auditevent_no_truncate ON ecrf_auditevent",
    ):
        error = _refused(statement)
        assert _insufficient_privilege(error), (statement, error)
        # "of table" for ALTER TABLE, "of relation" for DROP TRIGGER.
        assert str(error).startswith("must be owner of ") and "ecrf_auditevent" in str(error)


@as_app_role
def test_the_application_role_cannot_delete_or_truncate_clinical_records(event):
    for statement in ("DELETE FROM ecrf_adverseevent", "TRUNCATE ecrf_adverseevent"):
        error = _refused(statement)
        assert _insufficient_privilege(error), (statement, error)
        assert "permission denied for table ecrf_adverseevent" in str(error)
    assert AdverseEvent.objects.filter(pk=event.pk).exists()


@as_app_role
def test_the_application_role_inserts_and_reads_audit_events(event):
    added = AuditEvent.objects.create(
        at=timezone.now(),
        actor="test",
        action="ecrf.test.inserted",
        model="ecrf.adverseevent",
        object_id=str(event.pk),
        field="grade",
        new_value="1",
    )
    with connection.cursor() as cursor:
        cursor.execute("SELECT action FROM ecrf_auditevent WHERE id = %s", [added.pk])
        assert cursor.fetchone() == ("ecrf.test.inserted",)
        cursor.execute("SELECT count(*) FROM ecrf_auditevent WHERE object_id = %s", [str(event.pk)])
        assert cursor.fetchone()[0] > 1


@as_app_role
@pytest.mark.django_db
def test_the_application_role_holds_exactly_the_privileges_db_roles_grants(pg_roles):
    app = pg_roles["app"]["USER"]
    held = {}
    with connection.cursor() as cursor:
        for grant in table_grants():
            for privilege in PRIVILEGES:
                cursor.execute(
                    "SELECT has_table_privilege(%s, %s, %s)", [app, grant.table, privilege]
                )
                held.setdefault(grant.table, set())
                if cursor.fetchone()[0]:
                    held[grant.table].add(privilege)
    assert held == {grant.table: set(grant.privileges) for grant in table_grants()}


# The TRUNCATE trigger, as the owner (PostgreSQL).


@on_postgresql
def test_every_append_only_table_refuses_truncate_even_from_its_owner(owner_connection):
    import psycopg.errors

    for table in append_only_tables():
        with owner_connection() as conn:
            # The owner is allowed TRUNCATE: only the trigger stands in the way (CASCADE: the
            # signatures are referenced by the DLT assessments, which would refuse first).
            with pytest.raises(psycopg.errors.RaiseException, match=f"{table} is append-only"):
                conn.execute(f"TRUNCATE {table} CASCADE")
            conn.rollback()
            triggers = conn.execute(
                "SELECT tgname FROM pg_trigger WHERE tgrelid = %s::regclass AND tgenabled = 'O'",
                [table],
            ).fetchall()
        assert (no_truncate_trigger(table),) in triggers


@on_postgresql
def test_the_owner_cannot_update_or_delete_audit_events_either(owner_connection):
    import psycopg.errors

    with owner_connection() as conn:
        conn.execute(
            "INSERT INTO ecrf_auditevent (at, actor, role, site, action, model, object_id, "
            "object_repr, field, reason) VALUES (%s, 'owner', '', '', 'ecrf.test', 'ecrf.test', "
            "'1', '', 'field', '')",
            [dt.datetime(2026, 1, 1, tzinfo=dt.UTC)],
        )
        for statement in (
            "UPDATE ecrf_auditevent SET reason = 'forged'",
            "DELETE FROM ecrf_auditevent",
        ):
            # The savepoint keeps the transaction usable for the next statement.
            with (
                pytest.raises(psycopg.errors.RaiseException, match="append-only"),
                conn.transaction(),
            ):
                conn.execute(statement)
        conn.rollback()


@on_postgresql
def test_every_append_only_table_has_an_enabled_row_trigger_refusing_update_and_delete(
    owner_connection,
):
    # pg_trigger.tgtype bits: 1 row-level, 2 before, 8 delete, 16 update.
    with owner_connection() as conn:
        for table in append_only_tables():
            rows = conn.execute(
                "SELECT t.tgname FROM pg_trigger t JOIN pg_proc p ON p.oid = t.tgfoid "
                "WHERE t.tgrelid = %s::regclass AND t.tgenabled = 'O' AND t.tgtype & 27 = 27 "
                "AND p.proname = 'ecrf_audit_append_only'",
                [table],
            ).fetchall()
            assert rows, table


# What db_roles refuses (PostgreSQL, run as the application role: nothing is applied).


@as_app_role
@pytest.mark.django_db
def test_db_roles_refuses_to_run_as_the_application_role(pg_roles):
    owner, app = pg_roles["owner"]["USER"], pg_roles["app"]["USER"]
    with pytest.raises(CommandError, match=f"Connected as '{app}': run this as '{owner}'"):
        call_command("db_roles", owner=owner, app=app, stdout=StringIO())


@as_app_role
@pytest.mark.django_db
def test_db_roles_refuses_a_superuser_or_a_member_of_the_owner_as_application_role(pg_roles):
    with connection.cursor() as cursor:
        cursor.execute("SELECT rolname FROM pg_roles WHERE rolsuper ORDER BY rolname LIMIT 1")
        (superuser,) = cursor.fetchone()
    with pytest.raises(CommandError, match="is a superuser"):
        call_command("db_roles", owner=pg_roles["owner"]["USER"], app=superuser, stdout=StringIO())
    # The owner of the database is a member of pg_database_owner, a role every database has.
    with pytest.raises(CommandError, match="is a member of 'pg_database_owner'"):
        call_command(
            "db_roles", owner="pg_database_owner", app=pg_roles["owner"]["USER"], stdout=StringIO()
        )


@as_app_role
@pytest.mark.django_db
def test_db_roles_refuses_when_another_role_owns_the_tables(pg_roles):
    # Connected as the application role and naming it the owner: every table belongs to another.
    with pytest.raises(CommandError, match="Not owned by .*ecrf_auditevent"):
        call_command(
            "db_roles",
            owner=pg_roles["app"]["USER"],
            app=pg_roles["owner"]["USER"],
            stdout=StringIO(),
        )


@on_postgresql
@pytest.mark.django_db
def test_db_roles_refuses_while_migrations_are_pending(pg_roles, monkeypatch):
    from django.db.migrations.executor import MigrationExecutor

    monkeypatch.setattr(MigrationExecutor, "migration_plan", lambda self, targets: [object()])
    with pytest.raises(CommandError, match="1 migration"):
        call_command("db_roles", owner="ecrf_owner", app="ecrf_app", stdout=StringIO())


# Pooled connections (PostgreSQL).


@on_postgresql
@pytest.mark.django_db(transaction=True)
def test_a_pooled_connection_the_database_dropped_is_replaced_before_it_is_reused():
    import psycopg
    from django.db import close_old_connections

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        (dropped,) = cursor.fetchone()
    settings_dict = connection.settings_dict
    # The same role may end its own sessions, as a database restart ends them all.
    with psycopg.connect(
        dbname=settings_dict["NAME"],
        host=settings_dict["HOST"] or None,
        port=settings_dict["PORT"] or None,
        user=settings_dict["USER"] or None,
        password=settings_dict.get("PASSWORD") or None,
        autocommit=True,
    ) as other:
        assert other.execute("SELECT pg_terminate_backend(%s)", [dropped]).fetchone() == (True,)
    # What Django runs when the next request starts; the connection is kept (CONN_MAX_AGE).
    close_old_connections()
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        (current,) = cursor.fetchone()
    assert current != dropped
