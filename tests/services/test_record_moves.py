"""A correction that moves a record (to another subject, site, visit or adverse event) is checked
for rights and locks where the record goes, not only where it was; it never leaves its study nor
points at another subject's visit or adverse event. Issue #22: "site and lock checks look at the
record before the change, so moving a record gets round both".
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.urls import reverse

from ecrf.models import AuditEvent, DltAssessment, DltStatus, DoseAdministration, Signature
from ecrf.services import dose_record, lab_record, record_update, system_actor
from ecrf.services.adverse_events import ae_correct
from ecrf.services.dlt import dlt_decide
from ecrf.services.dosing import dose_correct
from ecrf.services.locking import RecordLocked, lock_place
from ecrf.services.records import MOVED_TO_OTHER_STUDY, OF_OTHER_SUBJECT
from ecrf.services.subjects import subject_correct
from tests.factories import (
    dose_edit_data,
    fatigue_grade_3,
    study_create,
    subject_enrolled,
    user_create,
)

PASSWORD = "correct horse battery"
C1D1, C1D8 = dt.date(2026, 3, 2), dt.date(2026, 3, 9)


def _dose(subject, by, given_on=C1D1):
    return dose_record(
        subject=subject,
        agent=subject.study.agents.get(code="IM"),
        given_on=given_on,
        given_dose=Decimal("400"),
        visit=subject.visits.filter(planned_on=given_on).first(),
        by=by,
    )


@pytest.fixture
def dose_a(subject, alice):
    """Imatinib 400 mg at A-001's C1D1 visit."""
    return _dose(subject, alice)


@pytest.fixture
def subject_b2(study, site_b, charlie):
    """B-002, enrolled at site B like A-001 (first dose 2026-03-02)."""
    return subject_enrolled(study, site_b, "B-002", by=charlie)


@pytest.fixture
def dose_b(subject_b2, charlie):
    return _dose(subject_b2, charlie)


def _to(subject) -> dict:
    """The changes that move a C1D1 dose to `subject`'s C1D1 visit."""
    return {"subject": subject, "visit": subject.visits.get(label="C1D1")}


@pytest.fixture
def locked_c1d8(subject, data_manager):
    visit = subject.visits.get(label="C1D8")
    lock_place(target=visit, by=data_manager)
    return visit


def _unchanged(record, audit_before: int) -> None:
    saved = type(record).objects.get(pk=record.pk)
    assert saved.version == record.version
    assert AuditEvent.objects.count() == audit_before


def _refused_on(info, field: str, code: str, message: str) -> None:
    errors = info.value.error_dict[field]
    assert [(e.code, e.message) for e in errors] == [(code, message)]


# A dose's date moved into a locked visit


def test_a_nurse_correcting_a_dose_s_date_into_a_locked_visit_is_refused(
    alice, dose_a, locked_c1d8
):
    before = AuditEvent.objects.count()
    with pytest.raises(RecordLocked) as info:
        dose_correct(dose=dose_a, changes={"given_on": C1D8}, reason="Wrong day", by=alice)
    assert info.value.code == "locked"
    _unchanged(dose_a, before)
    assert DoseAdministration.objects.get(pk=dose_a.pk).visit.label == "C1D1"


def test_the_dose_page_shows_the_lock_of_the_visit_a_new_date_falls_on_and_writes_nothing(
    client, alice, dose_a, locked_c1d8
):
    client.force_login(alice)
    before = AuditEvent.objects.count()
    response = client.post(
        reverse("dose_edit", args=[dose_a.pk]),
        dose_edit_data(dose_a, given_on=C1D8.isoformat(), change_reason="Wrong day entered"),
    )
    assert response.status_code == 200
    assert any("is locked by dana" in e for e in response.context["form"].non_field_errors())
    _unchanged(dose_a, before)


def test_the_admin_shows_the_lock_of_the_visit_a_dose_s_new_date_falls_on(
    client, data_manager, dose_a, locked_c1d8
):
    from tests.views.test_admin import change, refused

    client.force_login(data_manager)
    before = AuditEvent.objects.count()
    refused(change(client, dose_a, given_on=C1D8.isoformat()), "is locked by dana")
    _unchanged(dose_a, before)


def test_a_lab_result_moved_to_a_locked_visit_is_refused(subject, alice, locked_c1d8):
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
    before = AuditEvent.objects.count()
    with pytest.raises(RecordLocked):
        record_update(record=result, changes={"visit": locked_c1d8}, reason="Visit", by=alice)
    _unchanged(result, before)


# A record moved to another site's subject


def test_a_site_b_nurse_cannot_move_a_site_b_dose_to_a_site_a_subject(charlie, dose_b, subject):
    before = AuditEvent.objects.count()
    with pytest.raises(PermissionDenied):
        dose_correct(dose=dose_b, changes=_to(subject), reason="Wrong patient", by=charlie)
    _unchanged(dose_b, before)


def test_a_data_manager_of_site_b_only_cannot_move_a_site_b_dose_to_a_site_a_subject(
    study, site_b, dose_b, subject
):
    manager_b = user_create("dm-b", "data_manager", study, site_b)
    before = AuditEvent.objects.count()
    with pytest.raises(PermissionDenied):
        dose_correct(dose=dose_b, changes=_to(subject), reason="Wrong patient", by=manager_b)
    _unchanged(dose_b, before)


def test_a_dose_cannot_be_moved_to_a_locked_subject_even_by_a_study_wide_data_manager(
    data_manager, dose_b, subject
):
    lock_place(target=subject, by=data_manager)
    before = AuditEvent.objects.count()
    with pytest.raises(RecordLocked):
        dose_correct(dose=dose_b, changes=_to(subject), reason="Wrong patient", by=data_manager)
    _unchanged(dose_b, before)


def test_a_site_a_nurse_cannot_move_an_adverse_event_to_a_site_b_subject(alice, event, subject_b2):
    before = AuditEvent.objects.count()
    with pytest.raises(PermissionDenied):
        ae_correct(record=event, changes={"subject": subject_b2}, reason="Wrong patient", by=alice)
    _unchanged(event, before)


def test_a_site_a_nurse_cannot_move_a_subject_to_site_b(alice, subject, site_b):
    before = AuditEvent.objects.count()
    with pytest.raises(PermissionDenied):
        subject_correct(subject=subject, changes={"site": site_b}, reason="Transfer", by=alice)
    _unchanged(subject, before)


def test_a_study_wide_data_manager_moves_an_unlocked_dose_between_sites_with_an_audit_line(
    data_manager, dose_b, subject
):
    moved = dose_correct(
        dose=dose_b,
        changes=_to(subject),
        reason="Wrong patient",
        by=data_manager,
    )
    assert moved.subject == subject and moved.version == 2
    line = AuditEvent.objects.get(
        object_id=str(dose_b.pk), field="subject", action="ecrf.doseadministration.updated"
    )
    assert (line.old_value, line.new_value) == (str(dose_b.subject_id), str(subject.pk))


# Records that would point outside their subject or study


def test_a_record_cannot_move_to_a_subject_of_another_study(dose_a):
    other = study_create(code="SECOND")
    stranger = subject_enrolled(other, other.sites.get(code="A"), "S-001", by=system_actor("test"))
    before = AuditEvent.objects.count()
    with pytest.raises(ValidationError) as info:
        record_update(
            record=dose_a, changes={"subject": stranger}, reason="Move", by=system_actor("test")
        )
    _refused_on(info, "subject", "other_study", MOVED_TO_OTHER_STUDY.format(what="subject"))
    _unchanged(dose_a, before)


def test_a_dose_moved_to_another_subject_cannot_keep_its_old_subject_s_visit(
    data_manager, dose_b, subject
):
    before = AuditEvent.objects.count()
    with pytest.raises(ValidationError) as info:
        dose_correct(
            dose=dose_b, changes={"subject": subject}, reason="Wrong patient", by=data_manager
        )
    _refused_on(info, "visit", "of_other_subject", OF_OTHER_SUBJECT.format(what="visit"))
    _unchanged(dose_b, before)


def test_a_dose_cannot_point_at_a_visit_or_an_adverse_event_of_another_subject(
    data_manager, dose_a, subject_b2, charlie
):
    event_b = fatigue_grade_3(subject_b2, by=charlie)
    before = AuditEvent.objects.count()
    with pytest.raises(ValidationError) as info:
        record_update(
            record=dose_a,
            changes={"visit": subject_b2.visits.get(label="C1D1")},
            reason="Visit",
            by=data_manager,
        )
    _refused_on(info, "visit", "of_other_subject", OF_OTHER_SUBJECT.format(what="visit"))
    with pytest.raises(ValidationError) as info:
        dose_correct(
            dose=dose_a, changes={"adverse_event": event_b}, reason="Cause", by=data_manager
        )
    _refused_on(
        info,
        "adverse_event",
        "of_other_subject",
        OF_OTHER_SUBJECT.format(what="adverse event"),
    )
    _unchanged(dose_a, before)


# A DLT decision on locked data


@pytest.fixture
def potential_dlt(subject, alice):
    return fatigue_grade_3(subject, resolved_on=dt.date(2026, 3, 23), outcome="recovered", by=alice)


@pytest.mark.parametrize("locked", ["subject", "event"])
def test_a_dlt_decision_on_a_locked_subject_or_event_is_refused_before_the_password(
    bob, data_manager, subject, potential_dlt, locked
):
    lock_place(target=subject if locked == "subject" else potential_dlt, by=data_manager)
    before = AuditEvent.objects.count()
    for password in ("guess", PASSWORD):
        with pytest.raises(RecordLocked):
            dlt_decide(
                assessment=potential_dlt.dlt_assessment,
                decision="confirmed",
                reason="Limiting",
                by=bob,
                password=password,
            )
    # No signature, no decision, and no password failure written for the wrong password.
    assert Signature.objects.count() == 0
    assert AuditEvent.objects.count() == before
    assert DltAssessment.objects.get(adverse_event=potential_dlt).status == DltStatus.POTENTIAL


def test_the_decision_page_of_a_locked_subject_answers_with_the_lock_and_signs_nothing(
    client, bob, data_manager, subject, potential_dlt
):
    lock_place(target=subject, by=data_manager)
    client.force_login(bob)
    response = client.post(
        reverse("dlt_decide", args=[potential_dlt.dlt_assessment.pk]),
        {
            "decision": "confirmed",
            "reason": "Limiting",
            "password": PASSWORD,
        },
    )
    assert response.status_code == 200
    assert "is locked by dana" in response.content.decode()
    assert Signature.objects.count() == 0
    assert DltAssessment.objects.get(adverse_event=potential_dlt).status == DltStatus.POTENTIAL
