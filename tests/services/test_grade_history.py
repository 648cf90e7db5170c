"""The grade history of an adverse event, written by ae_record and ae_update.

CTCAE v5.0 grades: Fatigue has grades 1-3 only, Capillary leak syndrome 1-5.
"""

import datetime as dt

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from ecrf.models import AdverseEvent, AdverseEventGrade, AuditEvent
from ecrf.services import STALE, StaleRecord, ae_record
from ecrf.services import adverse_events as ae_services
from ecrf.services.adverse_events import ae_correct, ae_update

ONSET = dt.date(2026, 3, 13)


def d(day: int) -> dt.date:
    return dt.date(2026, 3, day)


def _record(subject, by, agents, *, grade=3, **extra):
    return ae_record(
        subject=subject,
        ctcae_term="Capillary leak syndrome",
        grade=grade,
        onset_on=ONSET,
        assessments=agents,
        by=by,
        **extra,
    )


def _history(event):
    return [
        (row.from_on, row.grade)
        for row in AdverseEventGrade.objects.filter(adverse_event=event, entered_in_error=False)
    ]


def _counts():
    return (
        AdverseEvent.objects.count(),
        AdverseEventGrade.objects.count(),
        AuditEvent.objects.count(),
    )


@pytest.fixture
def stepped(subject, alice, all_agents_unrelated):
    """Capillary leak syndrome at grade 2 from onset (2026-03-13), grade 3 from 2026-03-16."""
    return _record(subject, alice, all_agents_unrelated, grade_changes=[(d(13), 2), (d(16), 3)])


def test_recording_an_event_writes_its_steps_with_an_audit_trail(stepped):
    assert _history(stepped) == [(d(13), 2), (d(16), 3)]
    created = AuditEvent.objects.filter(action="ecrf.adverseeventgrade.created")
    assert created.values("object_id").distinct().count() == 2
    assert set(created.values_list("field", flat=True)) >= {"grade", "from_on"}
    assert {audit.subject_id for audit in created} == {stepped.subject_id}


def test_the_dlt_rules_run_after_the_steps_are_written(
    subject, alice, all_agents_unrelated, monkeypatch
):
    seen = []
    evaluate = ae_services.dlt_evaluate_event

    def counted(*, event, by):
        seen.append(_history(event))
        return evaluate(event=event, by=by)

    monkeypatch.setattr(ae_services, "dlt_evaluate_event", counted)
    event = _record(subject, alice, all_agents_unrelated, grade_changes=[(d(13), 2), (d(16), 3)])
    assert seen == [[(d(13), 2), (d(16), 3)]]
    ae_update(
        event=event,
        changes={},
        agent_changes={},
        reason="Source checked",
        by=alice,
        grade_changes=[(d(13), 1), (d(15), 3)],
    )
    assert seen[-1] == [(d(13), 1), (d(15), 3)]


def test_an_event_without_history_records_no_steps(subject, alice, all_agents_unrelated):
    event = _record(subject, alice, all_agents_unrelated)
    assert _history(event) == []
    assert event.despite_supportive_care is False


def test_despite_supportive_care_is_recorded_and_corrected_with_an_audit(
    subject, alice, all_agents_unrelated
):
    event = _record(subject, alice, all_agents_unrelated, despite_supportive_care=True)
    event.refresh_from_db()
    assert event.despite_supportive_care is True
    ae_update(
        event=event,
        changes={"despite_supportive_care": False},
        agent_changes={},
        reason="Came down with supportive care",
        by=alice,
    )
    event.refresh_from_db()
    assert event.despite_supportive_care is False
    audit = AuditEvent.objects.get(field="despite_supportive_care", action__endswith="updated")
    assert audit.reason == "Came down with supportive care"


@pytest.mark.parametrize(
    ("steps", "message"),
    [
        (
            [(d(13), 2), (d(16), 3)],
            "grade_changes: the worst grade of the history (3) is not the event's grade (4).",
        ),
        (
            [(d(14), 4)],
            "grade_changes: the first step (2026-03-14) must be on the onset date (2026-03-13).",
        ),
    ],
)
def test_an_invalid_history_writes_nothing(subject, alice, all_agents_unrelated, steps, message):
    before = _counts()
    with pytest.raises(ValidationError) as info:
        _record(subject, alice, all_agents_unrelated, grade=4, grade_changes=steps)
    assert info.value.message_dict == {"grade_changes": [message]}
    assert _counts() == before


def test_a_step_after_the_resolution_is_refused(subject, alice, all_agents_unrelated):
    """The last step on the resolution day is fine, a day later is not."""
    event = _record(
        subject,
        alice,
        all_agents_unrelated,
        resolved_on=d(20),
        outcome="recovered",
        grade_changes=[(d(13), 2), (d(20), 3)],
    )
    assert _history(event)[-1] == (d(20), 3)
    with pytest.raises(ValidationError, match="after the resolution date"):
        _record(
            subject,
            alice,
            all_agents_unrelated,
            resolved_on=d(20),
            outcome="recovered",
            grade_changes=[(d(13), 2), (d(21), 3)],
        )


def test_a_new_history_replaces_the_old_one_step_by_step(stepped, alice):
    onset_step = AdverseEventGrade.objects.get(adverse_event=stepped, from_on=d(13))
    ae_update(
        event=stepped,
        changes={},
        agent_changes={},
        reason="Nurse's notes: grade 3 from day 18",
        by=alice,
        grade_changes=[(d(13), 2), (d(18), 3)],
    )
    assert _history(stepped) == [(d(13), 2), (d(18), 3)]
    retired = AdverseEventGrade.objects.get(adverse_event=stepped, from_on=d(16))
    assert retired.entered_in_error
    assert retired.entered_in_error_reason == "Nurse's notes: grade 3 from day 18"
    # The identical step is left alone.
    onset_step_after = AdverseEventGrade.objects.get(pk=onset_step.pk)
    assert (onset_step_after.version, onset_step_after.entered_in_error) == (
        onset_step.version,
        False,
    )
    assert AdverseEventGrade.objects.filter(adverse_event=stepped).count() == 3


def test_a_step_whose_grade_changes_is_retired_and_written_again(stepped, alice):
    ae_update(
        event=stepped,
        changes={},
        agent_changes={},
        reason="Grade 1 at onset",
        by=alice,
        grade_changes=[(d(13), 1), (d(16), 3)],
    )
    assert _history(stepped) == [(d(13), 1), (d(16), 3)]
    assert AdverseEventGrade.objects.filter(adverse_event=stepped, entered_in_error=True).count()


def test_an_empty_list_retires_the_whole_history(stepped, alice):
    ae_update(
        event=stepped,
        changes={},
        agent_changes={},
        reason="At grade 3 throughout",
        by=alice,
        grade_changes=[],
    )
    assert _history(stepped) == []


def test_the_onset_moves_with_a_new_history_in_one_save(stepped, alice):
    ae_update(
        event=stepped,
        changes={"onset_on": d(15)},
        agent_changes={},
        reason="Onset per source",
        by=alice,
        grade_changes=[(d(15), 2), (d(16), 3)],
    )
    stepped.refresh_from_db()
    assert stepped.onset_on == d(15)
    assert _history(stepped) == [(d(15), 2), (d(16), 3)]


def test_an_invalid_new_history_writes_nothing(stepped, alice):
    before = (_counts(), stepped.version)
    with pytest.raises(ValidationError) as info:
        ae_update(
            event=stepped,
            changes={"grade": 4},
            agent_changes={},
            reason="Worse",
            by=alice,
            grade_changes=[(d(13), 2), (d(16), 3)],
        )
    assert "grade_changes" in info.value.message_dict
    stepped.refresh_from_db()
    assert (_counts(), stepped.version) == before
    assert stepped.grade == 3


def test_a_grade_change_the_saved_history_no_longer_fits_is_refused(stepped, alice):
    with pytest.raises(ValidationError) as info:
        ae_update(event=stepped, changes={"grade": 2}, agent_changes={}, reason="x", by=alice)
    assert info.value.message_dict["grade_changes"] == [
        "grade_changes: the worst grade of the history (3) is not the event's grade (2)."
    ]
    stepped.refresh_from_db()
    assert stepped.grade == 3


def test_a_history_changed_by_someone_else_refuses_the_save(stepped, alice, bob):
    loaded = _history(stepped)
    ae_update(
        event=stepped,
        changes={},
        agent_changes={},
        reason="Grade 3 from day 17",
        by=bob,
        grade_changes=[(d(13), 2), (d(17), 3)],
    )
    before = _counts()
    with pytest.raises(StaleRecord) as info:
        ae_update(
            event=stepped,
            changes={},
            agent_changes={},
            reason="Grade 3 from day 18",
            by=alice,
            grade_changes=[(d(13), 2), (d(18), 3)],
            expected_grade_changes=loaded,
        )
    assert info.value.code == STALE
    assert _counts() == before
    assert _history(stepped) == [(d(13), 2), (d(17), 3)]


def test_an_event_entered_in_error_takes_its_history_along(stepped, alice):
    ae_update(
        event=stepped,
        changes={"entered_in_error": True, "entered_in_error_reason": "Wrong subject"},
        agent_changes={},
        reason="Wrong subject",
        by=alice,
    )
    steps = AdverseEventGrade.objects.filter(adverse_event=stepped)
    assert [(row.entered_in_error, row.entered_in_error_reason) for row in steps] == [
        (True, "Wrong subject"),
        (True, "Wrong subject"),
    ]


def test_a_corrected_event_entered_in_error_takes_its_history_along(stepped, alice):
    ae_correct(
        record=stepped,
        changes={"entered_in_error": True, "entered_in_error_reason": "Duplicate"},
        reason="Duplicate",
        by=alice,
    )
    assert _history(stepped) == []
    assert AdverseEventGrade.objects.filter(adverse_event=stepped).count() == 2


def test_a_nurse_of_another_site_cannot_write_a_history(stepped, charlie):
    with pytest.raises(PermissionDenied):
        ae_update(
            event=stepped,
            changes={},
            agent_changes={},
            reason="x",
            by=charlie,
            grade_changes=[(d(13), 1), (d(16), 3)],
        )
    assert _history(stepped) == [(d(13), 2), (d(16), 3)]


def test_a_locked_event_form_takes_no_change_of_its_history(stepped, alice, data_manager):
    from ecrf.services.locking import lock_place

    lock_place(target=stepped, by=data_manager)
    with pytest.raises(ValidationError, match="locked"):
        ae_update(
            event=stepped,
            changes={},
            agent_changes={},
            reason="After the lock",
            by=alice,
            grade_changes=[(d(13), 1), (d(16), 3)],
        )
    assert _history(stepped) == [(d(13), 2), (d(16), 3)]


def test_an_event_retired_by_the_generic_service_takes_its_history_along(stepped, alice):
    from ecrf.services import record_mark_entered_in_error

    record_mark_entered_in_error(record=stepped, reason="Duplicate of AE2", by=alice)
    assert _history(stepped) == []
    reasons = set(stepped.grade_changes.values_list("entered_in_error_reason", flat=True))
    assert reasons == {"Duplicate of AE2"}
    assert AuditEvent.objects.filter(
        action="ecrf.adverseeventgrade.entered_in_error", reason="Duplicate of AE2"
    ).exists()
