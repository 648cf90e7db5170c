"""Make the signature table append-only in the database, like the audit trail (0002)."""

from django.db import migrations

PG_FORWARD = """
CREATE TRIGGER ecrf_signature_append_only
    BEFORE UPDATE OR DELETE ON ecrf_signature
    FOR EACH ROW EXECUTE FUNCTION ecrf_audit_append_only();
"""
PG_BACKWARD = "DROP TRIGGER IF EXISTS ecrf_signature_append_only ON ecrf_signature;"
SQLITE_FORWARD = """
CREATE TRIGGER ecrf_signature_no_update BEFORE UPDATE ON ecrf_signature
BEGIN
    SELECT RAISE(ABORT, 'Signatures are append-only: UPDATE on ecrf_signature refused');
END;
"""
SQLITE_BACKWARD = "DROP TRIGGER IF EXISTS ecrf_signature_no_update;"


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
    dependencies = [("ecrf", "0004_dlt_assessment_signature")]

    operations = [migrations.RunPython(forward, backward)]
