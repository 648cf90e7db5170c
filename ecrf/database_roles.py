"""PostgreSQL roles: an owner that runs the migrations and an application role that cannot erase.

The application connects as a role that owns nothing, so it cannot ALTER TABLE, drop or disable
a trigger. It may read and write what the application writes, and no more:

- clinical and other ecrf tables: SELECT, INSERT, UPDATE (records are corrected, never deleted);
  the one exception is the record of a requested file (ReportJob), not clinical, which expires;
- append-only tables (every model deriving from AppendOnlyModel: the audit trail, signatures,
  query messages, source verifications): SELECT and INSERT only;
- Django's and its add-ons' tables: SELECT, INSERT, UPDATE, plus DELETE on the few whose rows
  Django deletes in normal running (DELETE_REASONS below);
- django_migrations: SELECT (the owner runs migrate);
- sequences: USAGE, SELECT.

Nothing gets TRUNCATE, REFERENCES or TRIGGER. The grants are built from the installed models, so a
new model is covered when `manage.py db_roles` runs again after its migration; until then default
privileges give a table the owner creates SELECT and INSERT only, which fails closed.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.apps import apps
from django.db import models

CLINICAL = ("SELECT", "INSERT", "UPDATE")
APPEND_ONLY = ("SELECT", "INSERT")
DELETABLE = ("SELECT", "INSERT", "UPDATE", "DELETE")
READ_ONLY = ("SELECT",)
# What a table the owner creates later gets until db_roles runs again.
DEFAULT_TABLE_PRIVILEGES = APPEND_ONLY
MIGRATIONS_TABLE = "django_migrations"

# Tables outside ecrf whose rows Django or an add-on deletes while the application runs, and why.
# Auto-created many-to-many tables of those apps (a user's groups, a group's permissions) are
# deletable too: changing such a set deletes its link rows.
DELETE_REASONS = {
    "sessions.session": "signing out and expired sessions delete the session row",
    "axes.accessattempt": "a successful sign-in or axes_reset clears the failed attempts",
    "axes.accessattemptexpiration": "deleted with its access attempt",
    "axes.accessfailurelog": "axes_reset_logs removes old sign-in failure records",
    "axes.accesslog": "axes_reset_logs removes old sign-in records",
    "otp_totp.totpdevice": "an administrator removes the authenticator of a lost phone",
    "django_tasks_database.dbtaskresult": "prune_db_task_results deletes the results of old tasks",
}
# The ecrf tables that hold no clinical data and whose rows expire, and why.
ECRF_DELETE_REASONS = {
    "ecrf.reportjob": "a requested file and its record expire; report_jobs_sweep deletes them",
}
DELETE_THROUGH_TABLES = "changing a user's groups or permissions deletes the link rows"


@dataclass(frozen=True)
class TableGrant:
    table: str
    privileges: tuple[str, ...]
    why: str


def is_append_only(model: type[models.Model]) -> bool:
    """Models deriving from AppendOnlyModel: written once, never changed or deleted."""
    from ecrf.models.audit import AppendOnlyModel

    return issubclass(model, AppendOnlyModel)


def append_only_tables() -> list[str]:
    """The tables of the append-only models, which also carry the no-update/no-truncate triggers."""
    return sorted({m._meta.db_table for m in _concrete_models() if is_append_only(m)})


def no_truncate_trigger(table: str) -> str:
    """Name of the BEFORE TRUNCATE trigger of migration 0011 on an append-only table."""
    return f"{table}_no_truncate"


def table_grants() -> list[TableGrant]:
    """What the application role may do on each table, one entry per table, sorted by table."""
    grants = {MIGRATIONS_TABLE: TableGrant(MIGRATIONS_TABLE, READ_ONLY, "the owner runs migrate")}
    for model in _concrete_models():
        grant = _grant_for(model)
        grants[grant.table] = grant
    return [grants[table] for table in sorted(grants)]


def _concrete_models() -> list[type[models.Model]]:
    return [
        model
        for model in apps.get_models(include_auto_created=True)
        if model._meta.managed and not model._meta.proxy
    ]


def _grant_for(model: type[models.Model]) -> TableGrant:
    meta = model._meta
    if is_append_only(model):
        return TableGrant(meta.db_table, APPEND_ONLY, "append-only")
    if meta.label_lower in ECRF_DELETE_REASONS:
        return TableGrant(meta.db_table, DELETABLE, ECRF_DELETE_REASONS[meta.label_lower])
    if meta.app_label == "ecrf":
        # Clinical data is corrected or marked entered in error, never deleted.
        return TableGrant(meta.db_table, CLINICAL, "never deleted")
    if meta.auto_created:
        return TableGrant(meta.db_table, DELETABLE, DELETE_THROUGH_TABLES)
    if meta.label_lower in DELETE_REASONS:
        return TableGrant(meta.db_table, DELETABLE, DELETE_REASONS[meta.label_lower])
    return TableGrant(meta.db_table, CLINICAL, "Django's own table, rows not deleted at run time")


def role_sql(*, owner: str, app: str, database: str, schema: str = "public") -> list[str]:
    """The statements, run by the owner or a superuser, that give `app` exactly its rights.

    Idempotent: everything `app` held on the schema's tables and sequences is revoked first, so
    running it again after a migration leaves the same rights as a first run.
    """
    q = _quote
    owner_q, app_q, schema_q = q(owner), q(app), q(schema)
    sql = [
        f"GRANT CONNECT ON DATABASE {q(database)} TO {app_q};",
        f"REVOKE ALL ON SCHEMA {schema_q} FROM {app_q};",
        f"GRANT USAGE ON SCHEMA {schema_q} TO {app_q};",
        f"REVOKE ALL ON ALL TABLES IN SCHEMA {schema_q} FROM {app_q};",
        f"REVOKE ALL ON ALL SEQUENCES IN SCHEMA {schema_q} FROM {app_q};",
    ]
    for grant in table_grants():
        sql.append(
            f"GRANT {', '.join(grant.privileges)} ON {schema_q}.{q(grant.table)} TO {app_q};"
            f"  -- {grant.why}"
        )
    sql += [
        f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA {schema_q} TO {app_q};",
        # Tables a later migration creates: readable and insertable until db_roles runs again.
        f"ALTER DEFAULT PRIVILEGES FOR ROLE {owner_q} IN SCHEMA {schema_q} "
        f"REVOKE ALL ON TABLES FROM {app_q};",
        f"ALTER DEFAULT PRIVILEGES FOR ROLE {owner_q} IN SCHEMA {schema_q} "
        f"GRANT {', '.join(DEFAULT_TABLE_PRIVILEGES)} ON TABLES TO {app_q};",
        f"ALTER DEFAULT PRIVILEGES FOR ROLE {owner_q} IN SCHEMA {schema_q} "
        f"GRANT USAGE, SELECT ON SEQUENCES TO {app_q};",
    ]
    return sql


def _quote(identifier: str) -> str:
    """A PostgreSQL quoted identifier (role, database, schema and table names)."""
    return '"' + identifier.replace('"', '""') + '"'
