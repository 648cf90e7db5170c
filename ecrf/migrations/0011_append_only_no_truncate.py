"""Refuse TRUNCATE on the append-only tables in PostgreSQL, whoever sends it.

The row triggers of 0002, 0005 and 0009 refuse UPDATE and DELETE, but TRUNCATE fires no row
trigger: one statement would empty the audit trail. A statement-level BEFORE TRUNCATE trigger
closes that. Only the table owner (or a superuser) can disable it, with ALTER TABLE ... DISABLE
TRIGGER, which the application role of `manage.py db_roles` cannot do.

A new append-only model adds its table here in its own migration; tests/test_database_roles.py
checks that every append-only model's table carries the trigger. SQLite has no TRUNCATE: a no-op.
"""

from django.db import migrations

APPEND_ONLY_TABLES = (
    "ecrf_auditevent",
    "ecrf_signature",
    "ecrf_dataquerymessage",
    "ecrf_sourceverification",
)

PG_FUNCTION = """
CREATE OR REPLACE FUNCTION ecrf_append_only_no_truncate() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION '% is append-only: TRUNCATE refused', TG_TABLE_NAME;
END;
$$ LANGUAGE plpgsql;
"""


def forward(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(PG_FUNCTION, params=None)
    for table in APPEND_ONLY_TABLES:
        schema_editor.execute(
            f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
            "FOR EACH STATEMENT EXECUTE FUNCTION ecrf_append_only_no_truncate();",
            params=None,
        )


def backward(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for table in APPEND_ONLY_TABLES:
        schema_editor.execute(f"DROP TRIGGER IF EXISTS {table}_no_truncate ON {table};", params=None)
    schema_editor.execute("DROP FUNCTION IF EXISTS ecrf_append_only_no_truncate();", params=None)


class Migration(migrations.Migration):
    dependencies = [("ecrf", "0010_indexes_for_pages_and_reports")]

    operations = [migrations.RunPython(forward, backward)]
