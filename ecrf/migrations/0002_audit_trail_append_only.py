"""Make the audit table append-only in the database itself.

PostgreSQL refuses UPDATE and DELETE on every row of ecrf_auditevent. SQLite refuses UPDATE;
its DELETE stays open because Django's test database flush empties tables with DELETE there.
"""

from django.db import migrations

PG_FORWARD = """
CREATE OR REPLACE FUNCTION ecrf_audit_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'The audit trail is append-only: % on ecrf_auditevent refused', TG_OP;
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER ecrf_audit_append_only
    BEFORE UPDATE OR DELETE ON ecrf_auditevent
    FOR EACH ROW EXECUTE FUNCTION ecrf_audit_append_only();
"""
PG_BACKWARD = """
DROP TRIGGER IF EXISTS ecrf_audit_append_only ON ecrf_auditevent;
DROP FUNCTION IF EXISTS ecrf_audit_append_only();
"""
SQLITE_FORWARD = """
CREATE TRIGGER ecrf_audit_no_update BEFORE UPDATE ON ecrf_auditevent
BEGIN
    SELECT RAISE(ABORT, 'The audit trail is append-only: UPDATE on ecrf_auditevent refused');
END;
"""
SQLITE_BACKWARD = "DROP TRIGGER IF EXISTS ecrf_audit_no_update;"


def forward(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        schema_editor.execute(PG_FORWARD, params=None)
    elif vendor == "sqlite":
        schema_editor.execute(SQLITE_FORWARD)


def backward(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        schema_editor.execute(PG_BACKWARD, params=None)
    elif vendor == "sqlite":
        schema_editor.execute(SQLITE_BACKWARD)


class Migration(migrations.Migration):
    dependencies = [("ecrf", "0001_initial")]

    operations = [migrations.RunPython(forward, backward)]
