"""The audit trail: every write path leaves who/when/role/site/field/old/new/reason, and the trail
itself cannot be changed or deleted, through the ORM, the admin or plain SQL."""

import datetime as dt
from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import DatabaseError, connection, transaction

from ecrf.models import (
    APPEND_ONLY,
    AdverseEvent,
    AuditEvent,
    AuditTrailIsAppendOnly,
    DeletionRefused,
)
from ecrf.services import (
    REASON_REQUIRED,
    STALE_RECORD,
    StaleRecord,
    ae_record,
    lab_record,
    record_mark_entered_in_error,
    record_update,
)


@pytest.fixture
def event(subject, alice, all_agents_unrelated):
    return ae_record(
        subject=subject,
        ctcae_term="Fatigue",
        grade=2,
        onset_on=dt.date(2026, 3, 5),
        assessments=all_agents_unrelated,
        by=alice,
    )


def test_creating_a_record_audits_each_value_with_user_role_and_site(event, alice, subject):
    rows = AuditEvent.objects.filter(object_id=str(event.pk))
    by_field = {row.field: row for row in rows}
    assert by_field["grade"].new_value == "2"
    assert by_field["grade"].old_value is None
    assert by_field["ctcae_term"].new_value == "Fatigue"
    row = by_field["grade"]
    assert (row.user, row.actor, row.role, row.site) == (alice, "alice", "research_nurse", "A")
    assert row.action == "ecrf.adverseevent.created"
    assert row.subject_id == subject.pk
    assert row.model == "ecrf.AdverseEvent"
    assert row.at.tzinfo is not None


def test_changing_a_saved_record_needs_a_reason(event, bob):
    audit = AuditEvent.objects.count()
    with pytest.raises(ValidationError) as info:
        record_update(record=event, changes={"grade": 3}, reason="  ", by=bob)
    assert info.value.message_dict == {"reason": [REASON_REQUIRED]}
    event.refresh_from_db()
    assert event.grade == 2 and AuditEvent.objects.count() == audit


def test_a_change_records_old_value_new_value_reason_and_version(event, bob):
    saved = record_update(
        record=event, changes={"grade": 3}, reason="Source document says grade 3", by=bob
    )
    assert saved.version == 2
    row = AuditEvent.objects.get(object_id=str(event.pk), action="ecrf.adverseevent.updated")
    assert (row.field, row.old_value, row.new_value) == ("grade", "2", "3")
    assert row.reason == "Source document says grade 3"
    assert (row.actor, row.role) == ("bob", "investigator")


def test_an_unchanged_value_writes_no_audit_event(event, bob):
    audit = AuditEvent.objects.count()
    record_update(record=event, changes={"grade": 2}, reason="Checked", by=bob)
    assert AuditEvent.objects.count() == audit


def test_a_save_on_a_stale_copy_is_refused_not_overwritten(event, alice, bob):
    stale = AdverseEvent.objects.get(pk=event.pk)
    record_update(record=event, changes={"grade": 3}, reason="Investigator review", by=bob)
    with pytest.raises(StaleRecord) as info:
        record_update(record=stale, changes={"grade": 1}, reason="Typo", by=alice)
    assert STALE_RECORD in str(info.value)
    event.refresh_from_db()
    assert (event.grade, event.version) == (3, 2)


def test_a_user_of_another_site_cannot_change_the_record(event, charlie):
    with pytest.raises(PermissionDenied):
        record_update(record=event, changes={"grade": 3}, reason="Not mine", by=charlie)
    event.refresh_from_db()
    assert event.grade == 2


def test_clinical_records_are_never_deleted(event):
    with pytest.raises(DeletionRefused):
        event.delete()
    with pytest.raises(DeletionRefused):
        AdverseEvent.objects.filter(pk=event.pk).delete()
    assert AdverseEvent.objects.filter(pk=event.pk).exists()


def test_a_record_entered_in_error_stays_with_its_reason_in_the_trail(event, alice):
    record_mark_entered_in_error(record=event, reason="Entered on the wrong subject", by=alice)
    event.refresh_from_db()
    assert event.entered_in_error and event.entered_in_error_reason
    row = AuditEvent.objects.get(
        object_id=str(event.pk), field="entered_in_error", action__endswith="entered_in_error"
    )
    assert (row.old_value, row.new_value) == ("False", "True")
    assert row.action == "ecrf.adverseevent.entered_in_error"


def test_marking_entered_in_error_needs_a_reason(event, alice):
    with pytest.raises(ValidationError):
        record_mark_entered_in_error(record=event, reason="", by=alice)
    event.refresh_from_db()
    assert not event.entered_in_error


def test_the_orm_refuses_to_change_or_delete_audit_events(event):
    row = AuditEvent.objects.filter(object_id=str(event.pk)).first()
    row.new_value = "forged"
    for attempt in (
        row.save,
        row.delete,
        lambda: AuditEvent.objects.filter(pk=row.pk).update(new_value="forged"),
        lambda: AuditEvent.objects.filter(pk=row.pk).delete(),
        lambda: AuditEvent.objects.bulk_update([row], ["new_value"]),
    ):
        with pytest.raises(AuditTrailIsAppendOnly, match=APPEND_ONLY):
            attempt()
    row.refresh_from_db()
    assert row.new_value != "forged"


def test_the_database_refuses_to_update_audit_events(event):
    row = AuditEvent.objects.filter(object_id=str(event.pk)).first()
    with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("UPDATE ecrf_auditevent SET new_value = 'forged' WHERE id = %s", [row.pk])
    row.refresh_from_db()
    assert row.new_value != "forged"


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the DELETE trigger is PostgreSQL's")
def test_postgresql_refuses_to_delete_audit_events(event):
    with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("DELETE FROM ecrf_auditevent")
    assert AuditEvent.objects.filter(object_id=str(event.pk)).exists()


def test_the_admin_write_path_is_audited_and_needs_a_reason(client, data_manager, subject):
    """A data manager corrects a lab value in the admin: a reason is demanded and audited."""
    from django.urls import reverse

    from ecrf.services import system_actor

    result = lab_record(
        subject=subject,
        test_code="ALT",
        value=Decimal(30),
        unit="U/L",
        uln=Decimal(40),
        collected_at=dt.datetime(2026, 3, 2, 8, tzinfo=dt.UTC),
        by=system_actor("test"),
    )
    client.force_login(data_manager)
    url = reverse("admin:ecrf_labresult_change", args=[result.pk])
    page = client.get(url)
    assert page.status_code == 200
    form = page.context["adminform"].form
    data = {name: form[name].value() for name in form.fields if form[name].value() is not None}
    data.update(
        {
            "collected_at_0": "2026-03-02",
            "collected_at_1": "08:00:00",
            "value": "35",
            "change_reason": "",
        }
    )
    data.pop("collected_at", None)
    refused = client.post(url, data)
    assert refused.status_code == 200
    assert REASON_REQUIRED in refused.content.decode()
    result.refresh_from_db()
    assert result.value == Decimal(30)

    data["change_reason"] = "Transcription error, lab report says 35"
    accepted = client.post(url, data)
    assert accepted.status_code == 302, accepted.content.decode()[:2000]
    result.refresh_from_db()
    assert result.value == Decimal(35) and result.version == 2
    row = AuditEvent.objects.get(object_id=str(result.pk), field="value", old_value="30")
    assert (row.new_value, row.actor, row.role) == ("35", "dana", "data_manager")
    assert row.reason == "Transcription error, lab report says 35"


def test_the_admin_offers_no_delete(client, data_manager, subject):
    from django.urls import reverse

    client.force_login(data_manager)
    response = client.get(reverse("admin:ecrf_subject_delete", args=[subject.pk]))
    assert response.status_code == 403
    audit_page = client.get(reverse("admin:ecrf_auditevent_changelist"))
    assert audit_page.status_code == 200
    row = AuditEvent.objects.filter(subject_id=subject.pk).first()
    change = client.post(reverse("admin:ecrf_auditevent_change", args=[row.pk]), {"field": "x"})
    assert change.status_code == 403


def test_the_import_write_path_is_audited(study):
    """load_study writes the study definition through the services: every value is audited."""
    rows = AuditEvent.objects.filter(model="ecrf.Study", object_id=str(study.pk))
    assert {r.field for r in rows} >= {"code", "title", "cycle_days", "dlt_window_days"}
    assert rows.first().actor == "command:test"
    assert rows.first().reason == "Study definition loaded from conftest"
