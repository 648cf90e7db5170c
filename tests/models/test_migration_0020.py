"""Migration 0020: serious events saved before the time the site became aware was kept get
their entry time, from which the 24-hour reporting clock counted until then, with an audit line
saying so; events that are not serious get none."""

import datetime as dt

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from ecrf.models import AdverseEvent, AuditEvent
from tests.factories import fatigue_grade_3

BEFORE = [("ecrf", "0019_dose_above_plan")]
AFTER = [("ecrf", "0020_adverse_event_awareness")]


def _migrate(targets):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    return executor.loader.project_state(targets).apps


# Migrating back and forth alters the tables, which only their owner may do; on PostgreSQL the
# tests run as the application role, which owns nothing (tests/test_database_roles.py). The data
# step is the same Python on both databases.
@pytest.mark.skipif(
    connection.vendor == "postgresql", reason="the application role may not alter the tables"
)
@pytest.mark.django_db(transaction=True)
def test_serious_events_get_their_entry_time_as_the_time_the_site_became_aware(subject, alice):
    serious = fatigue_grade_3(
        subject,
        by=alice,
        serious_criteria=("sae_hospitalisation",),
        site_aware_at=dt.datetime(2026, 3, 13, 9, 0, tzinfo=dt.UTC),
    )
    plain = fatigue_grade_3(subject, by=alice, onset_on=dt.date(2026, 3, 14))
    try:
        old_apps = _migrate(BEFORE)
        # As the events were before the field existed.
        old_event = old_apps.get_model("ecrf", "AdverseEvent")
        assert "site_aware_at" not in {f.name for f in old_event._meta.get_fields()}
        _migrate(AFTER)
    finally:
        _migrate(AFTER)

    serious = AdverseEvent.objects.get(pk=serious.pk)
    assert serious.site_aware_at == serious.created_at
    assert AdverseEvent.objects.get(pk=plain.pk).site_aware_at is None
    line = AuditEvent.objects.get(
        object_id=str(serious.pk), field="site_aware_at", actor__startswith="migration:"
    )
    assert line.old_value is None
    assert line.new_value == serious.created_at.astimezone(dt.UTC).isoformat()
    assert "set to the time the event was entered" in line.reason
    assert not AuditEvent.objects.filter(object_id=str(plain.pk), field="site_aware_at").exists()
