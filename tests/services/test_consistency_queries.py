"""Consistency checks as automatic data queries: each opens on save and closes itself when the
data are corrected through the services (ecrf/services/queries.py, ecrf/selectors/consistency.py).

Numbers from CTCAE v5.0: 'Alanine aminotransferase increased' grade 2 is ">3.0 - 5.0 x ULN if
baseline was normal"; 'Death neonatal' is "Newborn death occurring during the first 28 days
after birth"; 'Vaginal hemorrhage' is "bleeding from the vagina".
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from ecrf.models import DataQuery, QueryOrigin, QueryState
from ecrf.safety.consistency import (
    ACTION_VS_DOSING,
    AE_GRADE_VS_LAB,
    ATTRIBUTION_BEFORE_FIRST_DOSE,
    TERM_IMPOSSIBLE_FOR_SUBJECT,
)
from ecrf.selectors.consistency import consistency_rows, findings_for
from ecrf.services import ae_record, dose_record, lab_record
from ecrf.services.adverse_events import ae_correct
from ecrf.services.labs import lab_correct
from ecrf.services.subjects import subject_correct
from tests.factories import FIRST_DOSE, subject_enrolled

UNRELATED = dict.fromkeys(("CTX", "IM", "IL2"), ("unrelated", "none"))


def _day(study_day: int) -> dt.date:
    """The date of a study day of the test subjects (day 1 = FIRST_DOSE, no day 0)."""
    return FIRST_DOSE + dt.timedelta(days=study_day - 1 if study_day > 0 else study_day)


def _consistency(check: str):
    return DataQuery.objects.filter(origin=QueryOrigin.CONSISTENCY, cause__contains=f":{check}:")


def _state(check: str) -> list[str]:
    return list(_consistency(check).order_by("created_at").values_list("state", flat=True))


def _dose(subject, code, study_day, given, *, by, **extra):
    agent = subject.study.agents.get(code=code)
    return dose_record(
        subject=subject, agent=agent, given_on=_day(study_day), given_dose=Decimal(given), by=by,
        **extra,
    )  # fmt: skip


def test_an_alt_grade_2_without_an_alt_above_3_x_uln_is_queried_until_the_value_is_corrected(
    subject, alice
):
    result = lab_record(
        subject=subject,
        test_code="ALT",
        value=Decimal(112),  # 2.8 x ULN: grade 1
        unit="U/L",
        uln=Decimal(40),
        collected_at=dt.datetime.combine(_day(5), dt.time(9), tzinfo=dt.UTC),
        by=alice,
    )
    event = ae_record(
        subject=subject,
        ctcae_term="Alanine aminotransferase increased",
        grade=2,
        onset_on=_day(5),
        assessments=UNRELATED,
        by=alice,
    )
    query = _consistency(AE_GRADE_VS_LAB).get()
    assert (query.state, query.model, query.object_id, query.field) == (
        QueryState.OPEN,
        "ecrf.AdverseEvent",
        str(event.pk),
        "grade",
    )
    assert "the highest was 112 U/L (2.8 x ULN) (grade 1)" in query.message
    lab_correct(result=result, changes={"value": Decimal(121)}, reason="Transcription", by=alice)
    assert _state(AE_GRADE_VS_LAB) == [QueryState.CLOSED]


def test_an_alt_grade_2_query_closes_when_the_grade_is_corrected(subject, alice):
    event = ae_record(
        subject=subject,
        ctcae_term="Alanine aminotransferase increased",
        grade=2,
        onset_on=_day(5),
        assessments=UNRELATED,
        by=alice,
    )
    assert "no ALT result" in _consistency(AE_GRADE_VS_LAB).get().message
    lab_record(
        subject=subject,
        test_code="ALT",
        value=Decimal(90),
        unit="U/L",
        uln=Decimal(40),
        collected_at=dt.datetime.combine(_day(6), dt.time(9), tzinfo=dt.UTC),
        by=alice,
    )
    # Another value seen is another finding: the first query closes, a second one opens.
    assert _state(AE_GRADE_VS_LAB) == [QueryState.CLOSED, QueryState.OPEN]
    ae_correct(record=event, changes={"grade": 1}, reason="Regraded from the lab", by=alice)
    assert _state(AE_GRADE_VS_LAB) == [QueryState.CLOSED, QueryState.CLOSED]


def test_im_interrupted_with_every_dose_given_is_queried_until_a_dose_shows_it(subject, alice):
    for study_day in range(1, 6):
        _dose(subject, "IM", study_day, 400, by=alice)
    event = ae_record(
        subject=subject,
        ctcae_term="Nausea",
        grade=2,
        onset_on=_day(2),
        resolved_on=_day(4),
        assessments={**UNRELATED, "IM": ("possible", "interrupted")},
        by=alice,
    )
    query = _consistency(ACTION_VS_DOSING).get()
    # The action is a field of the adverse event form: the query is on the form as a whole.
    assert (query.model, query.object_id, query.field) == ("ecrf.AdverseEvent", str(event.pk), "")
    assert query.message.startswith(
        "IM interrupted on the adverse event form, but every IM dose from 2026-03-03 to "
        "2026-03-06 was given as planned."
    )
    _dose(subject, "IM", 6, 0, by=alice, reason="Withheld for nausea", adverse_event=event)
    assert _state(ACTION_VS_DOSING) == [QueryState.CLOSED]


def test_an_action_corrected_on_the_form_closes_its_query(subject, alice):
    for study_day in range(1, 4):
        _dose(subject, "IM", study_day, 400, by=alice)
    event = ae_record(
        subject=subject,
        ctcae_term="Nausea",
        grade=1,
        onset_on=_day(2),
        assessments={**UNRELATED, "IM": ("possible", "reduced")},
        by=alice,
    )
    assert _state(ACTION_VS_DOSING) == [QueryState.OPEN]
    assessment = event.agent_assessments.get(agent__code="IM")
    ae_correct(record=assessment, changes={"action_taken": "none"}, reason="No change", by=alice)
    assert _state(ACTION_VS_DOSING) == [QueryState.CLOSED]


def test_an_event_related_to_il2_before_its_first_dose_is_queried_until_corrected(subject, alice):
    event = ae_record(
        subject=subject,
        ctcae_term="Fatigue",
        grade=1,
        onset_on=_day(3),
        assessments={**UNRELATED, "IL2": ("probable", "none")},
        by=alice,
    )
    # No IL-2 given yet: the doses may still be entered.
    assert not _consistency(ATTRIBUTION_BEFORE_FIRST_DOSE).exists()
    _dose(subject, "IL2", 10, 3, by=alice)
    query = _consistency(ATTRIBUTION_BEFORE_FIRST_DOSE).get()
    assert (query.model, query.object_id, query.field) == ("ecrf.AdverseEvent", str(event.pk), "")
    assert query.state == QueryState.OPEN
    assert "probably related to IL2, but the first IL2 dose was given on 2026-03-11" in (
        query.message
    )
    assessment = event.agent_assessments.get(agent__code="IL2")
    ae_correct(
        record=assessment,
        changes={"attribution": "unlikely"},
        reason="IL-2 not started at onset",
        by=alice,
    )
    assert _state(ATTRIBUTION_BEFORE_FIRST_DOSE) == [QueryState.CLOSED]


def test_a_term_of_the_other_sex_is_queried_until_the_sex_is_corrected(subject, alice):
    ae_record(
        subject=subject,
        ctcae_term="Erectile dysfunction",
        grade=1,
        onset_on=_day(3),
        assessments=UNRELATED,
        by=alice,
    )
    query = _consistency(TERM_IMPOSSIBLE_FOR_SUBJECT).get()
    assert query.field == "ctcae_term"
    assert "Erectile dysfunction is a term of male subjects; this subject is female." in (
        query.message
    )
    subject.refresh_from_db()
    subject_correct(subject=subject, changes={"sex": "M"}, reason="Sex mistyped", by=alice)
    assert _state(TERM_IMPOSSIBLE_FOR_SUBJECT) == [QueryState.CLOSED]


def test_death_neonatal_for_an_adult_is_queried_until_the_term_is_corrected(study, site_a, alice):
    adult = subject_enrolled(study, site_a, "A-002", sex="M", birth_year=1977, by=alice)
    event = ae_record(
        subject=adult,
        ctcae_term="Death neonatal",  # CTCAE v5.0 grade 4 only: "Neonatal loss of life"
        grade=4,
        onset_on=_day(20),
        assessments=UNRELATED,
        by=alice,
    )
    assert "Death neonatal cannot occur" in _consistency(TERM_IMPOSSIBLE_FOR_SUBJECT).get().message
    ae_correct(record=event, changes={"ctcae_term": "Sepsis"}, reason="Term mis-coded", by=alice)
    assert _state(TERM_IMPOSSIBLE_FOR_SUBJECT) == [QueryState.CLOSED]


def test_consistency_rows_of_a_study_at_a_cutoff(study, site_a, subject, alice):
    ae_record(
        subject=subject,
        ctcae_term="Erectile dysfunction",
        grade=1,
        onset_on=_day(3),
        assessments=UNRELATED,
        by=alice,
    )
    ae_record(
        subject=subject,
        ctcae_term="Vaginal hemorrhage",
        grade=1,
        onset_on=_day(30),
        assessments=UNRELATED,
        by=alice,
    )
    assert consistency_rows(study, _day(2)) == []
    assert consistency_rows(study, _day(29)) == [
        {
            "subject_id": "A-001",
            "check": TERM_IMPOSSIBLE_FOR_SUBJECT,
            "detail": "Erectile dysfunction is a term of male subjects; this subject is female.",
        }
    ]


@pytest.mark.parametrize("subjects", [1, 4])
def test_the_study_findings_take_the_same_queries_whatever_the_number_of_subjects(
    study, site_a, alice, subjects
):
    people = []
    for number in range(subjects):
        person = subject_enrolled(study, site_a, f"A-1{number:02d}", sex="F", by=alice)
        _dose(person, "IL2", 10, 3, by=alice)
        ae_record(
            subject=person,
            ctcae_term="Testicular pain",
            grade=1,
            onset_on=_day(3),
            assessments={**UNRELATED, "IL2": ("possible", "none")},
            by=alice,
        )
        ae_record(
            subject=person,
            ctcae_term="Alanine aminotransferase increased",
            grade=1,
            onset_on=_day(3),
            assessments=UNRELATED,
            by=alice,
        )
        people.append(person)
    with CaptureQueriesContext(connection) as queries:
        findings = findings_for(people, _day(40))
    assert len(findings) == 3 * subjects
    # Events, their agent rows, doses (an event is related to IL-2), ALT results.
    assert len(queries) == 4
