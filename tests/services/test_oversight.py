"""Data queries, source data verification, locks and investigator sign-off (issue #7).

ICH E6(R2) 4.9.0 and 5.18.4: changes to data are attributable and explained; 21 CFR 11.50 / 11.70:
a signature shows the printed name, time and meaning, and stays bound to the data it signed.
"""

import datetime as dt
from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from ecrf.models import (
    AuditEvent,
    DataLock,
    DataQuery,
    QueryOrigin,
    QueryState,
    Signature,
)
from ecrf.selectors.queries import open_query_counts
from ecrf.selectors.signatures import signature_states
from ecrf.selectors.verification import is_source_verified
from ecrf.services import ae_record, lab_record, record_mark_entered_in_error, record_update
from ecrf.services.adverse_events import ae_correct
from ecrf.services.locking import (
    RecordLocked,
    lock_place,
    lock_remove,
    verification_record,
)
from ecrf.services.queries import (
    query_answer,
    query_close,
    query_raise,
    query_reopen,
)
from ecrf.services.signoff import signoff_sign

PASSWORD = "correct horse battery"


def _count(model):
    return model.objects.count()


# Queries


def test_query_workflow_raise_answer_close_with_audit(event, monitor, alice):
    query = query_raise(record=event, field="grade", message="Grade 1 per source?", by=monitor)
    assert query.state == QueryState.OPEN
    assert open_query_counts([event.subject])[event.subject.pk] == {"open": 1, "answered": 0}

    query = query_answer(query=query, message="Source says grade 2; corrected.", by=alice)
    assert query.state == QueryState.ANSWERED
    query = query_reopen(query=query, message="Please add the reason.", by=monitor)
    assert query.state == QueryState.OPEN
    query = query_answer(query=query, message="Reason added.", by=alice)
    query = query_close(query=query, by=monitor)
    assert query.state == QueryState.CLOSED
    assert [m.kind for m in query.messages.all()] == [
        "raised",
        "answered",
        "reopened",
        "answered",
        "closed",
    ]
    trail = AuditEvent.objects.filter(model="ecrf.DataQuery", object_id=str(query.pk))
    assert [e.action for e in trail.order_by("at", "id")][-1] == "ecrf.dataquery.closed"
    assert open_query_counts([event.subject]) == {}


def test_only_reviewers_raise_and_only_the_raiser_closes(event, monitor, alice, data_manager):
    with pytest.raises(PermissionDenied):
        query_raise(record=event, field="grade", message="?", by=alice)
    query = query_raise(record=event, field="grade", message="Check grade", by=monitor)
    with pytest.raises(PermissionDenied):
        query_close(query=query, by=data_manager)
    with pytest.raises(PermissionDenied):
        query_answer(query=query, message="n/a", by=monitor)


def test_query_needs_a_message_and_a_real_field(event, monitor):
    with pytest.raises(ValidationError) as refused:
        query_raise(record=event, field="colour", message="  ", by=monitor)
    assert set(refused.value.message_dict) == {"message", "field"}
    assert _count(DataQuery) == 0


def test_closed_query_cannot_be_answered(event, monitor, alice):
    query = query_close(
        query=query_raise(record=event, field="", message="Check", by=monitor), by=monitor
    )
    with pytest.raises(ValidationError, match="closed"):
        query_answer(query=query, message="late", by=alice)


def test_reconciliation_opens_a_query_that_closes_itself(subject, alice, all_agents_unrelated):
    """A grade 3 neutrophil count (CTCAE v5.0: <1000-500/mm3, here 0.8 x 10e9/L) without an
    adverse event opens an automatic query; recording the event closes it."""
    lab_record(
        subject=subject,
        test_code="NEUT",
        value=Decimal("0.8"),
        unit="10^9/L",
        lln=Decimal("2.0"),
        uln=Decimal("7.5"),
        collected_at=dt.datetime(2026, 3, 10, 9, 0, tzinfo=dt.UTC),
        by=alice,
    )
    query = DataQuery.objects.get()
    assert (query.origin, query.state, query.field) == (
        QueryOrigin.RECONCILIATION,
        QueryState.OPEN,
        "ctcae_grade",
    )
    assert "Neutrophil count decreased grade 3" in query.message
    ae_record(
        subject=subject,
        ctcae_term="Neutrophil count decreased",
        grade=3,
        onset_on=dt.date(2026, 3, 10),
        assessments=all_agents_unrelated,
        by=alice,
    )
    query.refresh_from_db()
    assert query.state == QueryState.CLOSED
    assert query.messages.last().text.startswith("Closed automatically")


def test_accepted_warning_opens_a_query_until_saved_without_one(event, alice):
    ae_correct(
        record=event,
        changes={"verbatim": "odd"},
        reason="typo | Warnings accepted (value unusual): confirmed with source",
        by=alice,
    )
    query = DataQuery.objects.get(origin=QueryOrigin.EDIT_CHECK)
    assert query.state == QueryState.OPEN
    assert "confirmed with source" in query.message
    event.refresh_from_db()
    ae_correct(record=event, changes={"verbatim": "nausea"}, reason="re-worded", by=alice)
    query.refresh_from_db()
    assert query.state == QueryState.CLOSED


# Source data verification and locks


def test_source_verification_cleared_by_a_change_says_so(event, monitor, alice):
    verification_record(record=event, by=monitor)
    assert is_source_verified(event)
    changed = record_update(record=event, changes={"grade": 2}, reason="source", by=alice)
    assert not is_source_verified(changed)
    cleared = AuditEvent.objects.get(
        object_id=str(event.pk), field="source_verified", old_value="version 1"
    )
    assert cleared.new_value == "no"
    assert cleared.reason == "source"


def test_only_monitors_verify(event, alice):
    with pytest.raises(PermissionDenied):
        verification_record(record=event, by=alice)


@pytest.mark.parametrize("scope", ["record", "subject"])
def test_locked_data_cannot_be_changed_by_anyone(scope, event, data_manager, alice):
    target = event if scope == "record" else event.subject
    lock = lock_place(target=target, by=data_manager)
    before = AuditEvent.objects.count()
    for user in (alice, data_manager):
        with pytest.raises(RecordLocked, match="locked"):
            record_update(record=event, changes={"grade": 2}, reason="fix", by=user)
    event.refresh_from_db()
    assert event.grade == 1
    assert AuditEvent.objects.count() == before
    with pytest.raises(RecordLocked):
        record_mark_entered_in_error(record=event, reason="dup", by=alice)
    with pytest.raises(ValidationError):
        lock_remove(lock=lock, reason=" ", by=data_manager)
    lock_remove(lock=lock, reason="Query answered late", by=data_manager)
    assert record_update(record=event, changes={"grade": 2}, reason="fix", by=alice).grade == 2


def test_a_locked_subject_takes_no_new_records(subject, data_manager, alice, all_agents_unrelated):
    lock_place(target=subject, by=data_manager)
    with pytest.raises(RecordLocked):
        ae_record(
            subject=subject,
            ctcae_term="Nausea",
            grade=1,
            onset_on=dt.date(2026, 3, 5),
            assessments=all_agents_unrelated,
            by=alice,
        )


def test_only_data_managers_lock(event, alice, monitor):
    for user in (alice, monitor):
        with pytest.raises(PermissionDenied):
            lock_place(target=event, by=user)
    assert _count(DataLock) == 0


# Sign-off


def test_signed_casebook_is_invalidated_by_a_later_change(event, bob, alice):
    subject = event.subject
    signature = signoff_sign(target=subject, by=bob, password=PASSWORD)
    assert signature.meaning == "I have reviewed these data and they are accurate."
    [state] = signature_states(subject)
    assert state.valid
    record_update(record=event, changes={"grade": 2}, reason="per source", by=alice)
    [state] = signature_states(subject)
    assert not state.valid
    assert state.invalidated_by.actor == "alice"
    assert state.invalidated_by.field == "grade"
    assert "invalidated by alice's change of grade" in state.description
    signoff_sign(target=subject, by=bob, password=PASSWORD)
    assert [s.valid for s in signature_states(subject)] == [False, True]


def test_signing_needs_the_password_and_a_site_investigator(event, bob, alice):
    with pytest.raises(ValidationError) as refused:
        signoff_sign(target=event.subject, by=bob, password="wrong")
    assert set(refused.value.message_dict) == {"password"}
    with pytest.raises(PermissionDenied):
        signoff_sign(target=event.subject, by=alice, password=PASSWORD)
    assert _count(Signature) == 0


def test_visit_signature_covers_only_that_visit(subject, bob, alice):
    from ecrf.models import Visit

    visit = Visit.objects.filter(subject=subject).order_by("planned_on").first()
    signoff_sign(target=visit, by=bob, password=PASSWORD)
    lab_record(
        subject=subject,
        test_code="ALT",
        value=Decimal("30"),
        unit="U/L",
        lln=Decimal("0"),
        uln=Decimal("40"),
        collected_at=dt.datetime(2026, 3, 20, tzinfo=dt.UTC),
        by=alice,
    )
    assert signature_states(visit)[0].valid
