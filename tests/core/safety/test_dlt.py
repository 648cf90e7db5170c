"""DLT rules and DLT evaluability: protocol DLT definition, default rule set.

Default settings: a DLT window of days 1 to 21 (day 1 = first dose), attribution at least
"possible" to a study agent, and at least 75% of the planned dose of each agent in the window.
Term names are CTCAE v5.0 terms. The subject's first dose is 2026-03-02, so day 12 is
2026-03-13 and the last window day (day 21) is 2026-03-22.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ecrf.ctcae.dictionary import GradeNotAllowedError, UnknownTermError, all_terms, get_term
from ecrf.safety.dlt import (
    ATTRIBUTION_ORDER,
    DLT_RULES,
    ELECTROLYTE_TERMS,
    EXCLUSION_RULES,
    FATIGUE,
    FEBRILE_NEUTROPENIA,
    GI_TERMS,
    HAEMATOLOGICAL_INVESTIGATION_TERMS,
    HAEMATOLOGICAL_SOC,
    LYMPHOCYTE_COUNT_DECREASED,
    NEUTROPHIL_COUNT_DECREASED,
    RULE_FEBRILE_NEUTROPENIA,
    RULE_GRADE_3_HAEMATOLOGICAL,
    RULE_GRADE_3_NON_HAEMATOLOGICAL,
    RULE_GRADE_4_OR_5,
    RULE_GRADE_BELOW_3,
    RULE_LYMPHOPENIA,
    RULE_NOT_RELATED,
    RULE_OUTSIDE_WINDOW,
    RULE_SHORT_ELECTROLYTE,
    RULE_SHORT_FATIGUE,
    RULE_SHORT_GI,
    RULE_SHORT_NEUTROPENIA,
    RULE_SHORT_TRANSAMINASE,
    TRANSAMINASE_TERMS,
    DltFlag,
    DltSettings,
    DoseFacts,
    DoseLevelSummary,
    Evaluability,
    EventFacts,
    evaluate_event,
    evaluate_subject,
    exposure_percentages,
    is_haematological,
    summarise_dose_level,
    unreconciled_lab_toxicities,
    window_end,
)
from ecrf.safety.reconciliation import EventSpan, LabFinding

ROOT = Path(__file__).resolve().parents[3]

FIRST_DOSE = dt.date(2026, 3, 2)
WINDOW_END = dt.date(2026, 3, 22)  # day 21
LATE_CUTOFF = dt.date(2026, 6, 30)


def _day(day: int) -> dt.date:
    """The date of study day ``day`` (day 1 is the first dose)."""
    return FIRST_DOSE + dt.timedelta(days=day - 1)


def _event(
    term=FATIGUE,
    grade=3,
    *,
    onset_day=12,
    duration=10,
    attributions=None,
    event_id="ae1",
):
    """An event of ``duration`` days (None: unresolved), possibly related to IL2 by default."""
    onset = _day(onset_day)
    resolved = None if duration is None else onset + dt.timedelta(days=duration)
    if attributions is None:
        attributions = {"IL2": "possible"}
    return EventFacts(event_id, term, grade, onset, resolved, attributions)


def _evaluate(event, *, cutoff=LATE_CUTOFF, settings=None):
    if settings is None:
        return evaluate_event(event, first_dose_on=FIRST_DOSE, cutoff=cutoff)
    return evaluate_event(event, first_dose_on=FIRST_DOSE, cutoff=cutoff, settings=settings)


def _rule(*args, **kwargs):
    return _evaluate(_event(*args, **kwargs)).rule


# --- The DLT window ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("days_from_day_1", "study_day", "rule"),
    [
        (-6, -6, RULE_OUTSIDE_WINDOW),  # before the first dose (a lead-in)
        (-1, -1, RULE_OUTSIDE_WINDOW),  # the day before the first dose: day -1, no day 0
        (0, 1, RULE_GRADE_3_NON_HAEMATOLOGICAL),  # the first dose day
        (20, 21, RULE_GRADE_3_NON_HAEMATOLOGICAL),  # the last window day
        (21, 22, RULE_OUTSIDE_WINDOW),  # the day after the window
    ],
)
def test_only_an_onset_on_days_1_to_21_counts(days_from_day_1, study_day, rule):
    """Protocol DLT definition, default rule set: onset on days 1 to 21, day 1 the first dose;
    the days before it count back from -1 with no day 0 (DESIGN.md rule 7, SDTM --DY).

    CTCAE v5.0 "Fatigue" grade 3 for 10 days is a DLT inside the window.
    """
    flag = _evaluate(_event(onset_day=days_from_day_1 + 1))
    assert flag.rule == rule
    assert flag.is_dlt is (rule == RULE_GRADE_3_NON_HAEMATOLOGICAL)
    assert flag.onset_day == study_day


def test_a_longer_window_setting_includes_day_22():
    """The window is a study setting: with 28 days, a day 22 onset counts."""
    flag = _evaluate(_event(onset_day=22), settings=DltSettings(window_days=28))
    assert flag.is_dlt
    assert flag.rule == RULE_GRADE_3_NON_HAEMATOLOGICAL


def test_an_event_outside_the_window_says_so_in_the_reason():
    flag = _evaluate(_event(onset_day=22))
    assert flag.reason.endswith(
        "onset day 22; not a DLT: onset outside the DLT window (days 1 to 21)"
    )


# --- Attribution ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("attribution", "is_dlt"),
    [
        ("unrelated", False),
        ("unlikely", False),
        ("possible", True),
        ("probable", True),
        ("definite", True),
    ],
)
def test_an_event_must_be_at_least_possibly_related(attribution, is_dlt):
    """Protocol DLT definition, default rule set: at least "possible" to one study agent.

    CTCAE v5.0 "Fatigue" grade 3 for 10 days on day 12.
    """
    flag = _evaluate(_event(attributions={"IL2": attribution}))
    assert flag.is_dlt is is_dlt
    assert flag.rule == (RULE_GRADE_3_NON_HAEMATOLOGICAL if is_dlt else RULE_NOT_RELATED)


@pytest.mark.parametrize(
    ("attributions", "is_dlt"),
    [
        ({"IM": "unrelated", "IL2": "possible", "CTX": "unlikely"}, True),
        ({"IM": "definite", "IL2": "unrelated"}, True),
        ({"IM": "unlikely", "IL2": "unrelated", "CTX": "unlikely"}, False),
    ],
)
def test_the_most_related_agent_decides(attributions, is_dlt):
    """Related to "at least one study agent": the highest attribution over the agents counts."""
    assert _evaluate(_event(attributions=attributions)).is_dlt is is_dlt


def test_an_event_with_no_attribution_is_not_related():
    flag = _evaluate(_event(attributions={}))
    assert flag.rule == RULE_NOT_RELATED
    assert "with no attribution recorded" in flag.reason


@pytest.mark.parametrize(
    ("attribution", "is_dlt"),
    [("unlikely", False), ("possible", False), ("probable", True), ("definite", True)],
)
def test_a_minimum_attribution_of_probable_excludes_possible(attribution, is_dlt):
    """The minimum attribution is a study setting: "probable" leaves out "possible"."""
    settings = DltSettings(min_attribution="probable")
    flag = _evaluate(_event(attributions={"IL2": attribution}), settings=settings)
    assert flag.is_dlt is is_dlt
    if not is_dlt:
        assert flag.reason.endswith("not a DLT: not at least probably related to a study agent")


# --- Grades 1 and 2 ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("term", "grade"),
    [
        ("Fatigue", 1),
        ("Fatigue", 2),
        ("Capillary leak syndrome", 2),
        ("Neutrophil count decreased", 2),
        ("Hypokalemia", 2),
        ("Alanine aminotransferase increased", 2),
        ("Pneumonitis", 2),
    ],
)
def test_grade_1_or_2_is_never_a_dlt(term, grade):
    """Protocol DLT definition, default rule set: grades 1-2 are never DLTs, however long."""
    flag = _evaluate(_event(term, grade, duration=60, attributions={"IL2": "definite"}))
    assert not flag.is_dlt
    assert flag.rule == RULE_GRADE_BELOW_3


# --- Grades 4 and 5 ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("term", "grade", "duration"),
    [
        ("Capillary leak syndrome", 4, 1),
        ("Capillary leak syndrome", 5, 0),
        ("Hypokalemia", 4, 1),  # the 3-day electrolyte exception is for grade 3 only
        ("Alanine aminotransferase increased", 4, 2),  # the 7-day exception is grade 3 only
        ("Diarrhea", 4, 1),
        ("Platelet count decreased", 4, 2),  # haematological events are DLTs at grade 4
        ("Anemia", 4, 2),
        ("Sepsis", 5, 3),
    ],
)
def test_any_grade_4_or_5_event_is_a_dlt(term, grade, duration):
    """Protocol DLT definition, default rule set: any grade 4 or 5 event is a DLT."""
    flag = _evaluate(_event(term, grade, duration=duration))
    assert flag.is_dlt
    assert flag.rule == RULE_GRADE_4_OR_5


@pytest.mark.parametrize(
    ("duration", "is_dlt"),
    [(0, False), (7, False), (8, True), (None, True)],
)
def test_grade_4_neutrophil_count_decreased_is_a_dlt_after_7_days(duration, is_dlt):
    """Protocol DLT definition, default rule set: CTCAE v5.0 "Neutrophil count decreased"
    grade 4 lasting 7 days or less is not a DLT; 8 days is. Unresolved: runs to the cutoff."""
    flag = _evaluate(_event(NEUTROPHIL_COUNT_DECREASED, 4, duration=duration))
    assert flag.is_dlt is is_dlt
    assert flag.rule == (RULE_GRADE_4_OR_5 if is_dlt else RULE_SHORT_NEUTROPENIA)


@pytest.mark.parametrize("grade", [3, 4])
def test_lymphocyte_count_decreased_is_never_a_dlt(grade):
    """Protocol DLT definition, default rule set: CTCAE v5.0 "Lymphocyte count decreased" at
    any grade (grades 1-4 exist) is not a DLT, however long and however related."""
    flag = _evaluate(
        _event(LYMPHOCYTE_COUNT_DECREASED, grade, duration=None, attributions={"IL2": "definite"})
    )
    assert not flag.is_dlt
    assert flag.rule == RULE_LYMPHOPENIA


@pytest.mark.parametrize("grade", [3, 4, 5])
def test_febrile_neutropenia_grade_3_or_more_is_a_dlt(grade):
    """Protocol DLT definition, default rule set: CTCAE v5.0 "Febrile neutropenia" grade 3 or
    more is a DLT, even for a single day and although it is a haematological term."""
    flag = _evaluate(_event(FEBRILE_NEUTROPENIA, grade, duration=1))
    assert flag.is_dlt
    assert flag.rule == RULE_FEBRILE_NEUTROPENIA


# --- Grade 3 -------------------------------------------------------------------------------


def test_grade_3_capillary_leak_syndrome_is_a_dlt():
    """Protocol DLT definition, default rule set: any grade 3 non-haematological event.

    CTCAE v5.0 "Capillary leak syndrome" (Vascular disorders) grade 3, even for 1 day.
    """
    flag = _evaluate(_event("Capillary leak syndrome", 3, duration=1))
    assert flag.is_dlt
    assert flag.rule == RULE_GRADE_3_NON_HAEMATOLOGICAL


def test_grade_3_platelet_count_decreased_is_not_a_dlt():
    """Protocol DLT definition, default rule set: grade 3 haematological events other than
    febrile neutropenia are not DLTs. CTCAE v5.0 "Platelet count decreased" (Investigations)."""
    flag = _evaluate(_event("Platelet count decreased", 3, duration=30))
    assert not flag.is_dlt
    assert flag.rule == RULE_GRADE_3_HAEMATOLOGICAL


def test_grade_3_anemia_is_not_a_dlt():
    """Protocol DLT definition, default rule set: CTCAE v5.0 "Anemia" (Blood and lymphatic
    system disorders) grade 3 is haematological, so not a DLT."""
    flag = _evaluate(_event("Anemia", 3, duration=30))
    assert not flag.is_dlt
    assert flag.rule == RULE_GRADE_3_HAEMATOLOGICAL


@pytest.mark.parametrize(
    "term",
    sorted(
        term
        for term in HAEMATOLOGICAL_INVESTIGATION_TERMS - {LYMPHOCYTE_COUNT_DECREASED}
        if 3 in get_term(term).grades
    ),
)
def test_grade_3_blood_counts_of_the_investigations_soc_are_not_dlts(term):
    """Protocol DLT definition, default rule set: the blood counts of CTCAE v5.0
    "Investigations" are haematological, so grade 3 is not a DLT."""
    assert _rule(term, 3, duration=30) == RULE_GRADE_3_HAEMATOLOGICAL


@pytest.mark.parametrize(
    "term",
    ["INR increased", "Fibrinogen decreased", "Activated partial thromboplastin time prolonged"],
)
def test_grade_3_coagulation_tests_are_not_haematological(term):
    """Coagulation tests of CTCAE v5.0 "Investigations" are not blood counts: grade 3 is a DLT."""
    assert _rule(term, 3, duration=1) == RULE_GRADE_3_NON_HAEMATOLOGICAL


@pytest.mark.parametrize("term", sorted(GI_TERMS))
@pytest.mark.parametrize(("duration", "is_dlt"), [(0, False), (3, False), (4, True)])
def test_grade_3_nausea_vomiting_or_diarrhea_is_a_dlt_after_3_days(term, duration, is_dlt):
    """Protocol DLT definition, default rule set: CTCAE v5.0 "Nausea", "Vomiting" or "Diarrhea"
    grade 3 lasting 3 days or less is not a DLT; 4 days is."""
    flag = _evaluate(_event(term, 3, duration=duration))
    assert flag.is_dlt is is_dlt
    assert flag.rule == (RULE_GRADE_3_NON_HAEMATOLOGICAL if is_dlt else RULE_SHORT_GI)


@pytest.mark.parametrize("term", sorted(ELECTROLYTE_TERMS))
@pytest.mark.parametrize(("duration", "is_dlt"), [(3, False), (4, True)])
def test_a_grade_3_electrolyte_abnormality_is_a_dlt_after_3_days(term, duration, is_dlt):
    """Protocol DLT definition, default rule set: the CTCAE v5.0 electrolyte terms
    (Hypo-/Hyperkalemia, -natremia, -calcemia, -magnesemia, Hypophosphatemia) at grade 3
    lasting 3 days or less are not DLTs; 4 days is."""
    flag = _evaluate(_event(term, 3, duration=duration))
    assert flag.is_dlt is is_dlt
    assert flag.rule == (RULE_GRADE_3_NON_HAEMATOLOGICAL if is_dlt else RULE_SHORT_ELECTROLYTE)


@pytest.mark.parametrize("term", sorted(TRANSAMINASE_TERMS))
@pytest.mark.parametrize(("duration", "is_dlt"), [(7, False), (8, True)])
def test_grade_3_alt_or_ast_increased_is_a_dlt_after_7_days(term, duration, is_dlt):
    """Protocol DLT definition, default rule set: CTCAE v5.0 "Alanine aminotransferase
    increased" or "Aspartate aminotransferase increased" grade 3 lasting 7 days or less is not
    a DLT; 8 days is."""
    flag = _evaluate(_event(term, 3, duration=duration))
    assert flag.is_dlt is is_dlt
    assert flag.rule == (RULE_GRADE_3_NON_HAEMATOLOGICAL if is_dlt else RULE_SHORT_TRANSAMINASE)


def test_grade_3_fatigue_lasting_7_days_is_not_a_dlt():
    """Protocol DLT definition, default rule set: CTCAE v5.0 "Fatigue" grade 3 lasting 7 days
    or less is not a DLT."""
    flag = _evaluate(_event(FATIGUE, 3, duration=7))
    assert not flag.is_dlt
    assert flag.rule == RULE_SHORT_FATIGUE
    assert flag.duration_days == 7


def test_grade_3_fatigue_lasting_8_days_is_a_dlt():
    """Protocol DLT definition, default rule set: CTCAE v5.0 "Fatigue" grade 3 for 8 days."""
    flag = _evaluate(_event(FATIGUE, 3, duration=8))
    assert flag.is_dlt
    assert flag.rule == RULE_GRADE_3_NON_HAEMATOLOGICAL
    assert flag.duration_days == 8


@pytest.mark.parametrize(("days_to_cutoff", "is_dlt"), [(7, False), (8, True)])
def test_an_unresolved_event_lasts_until_the_cutoff(days_to_cutoff, is_dlt):
    """Protocol DLT definition, default rule set: an unresolved event lasts from onset to the
    cutoff. Ongoing CTCAE v5.0 "Fatigue" grade 3: cutoff - onset 7 days is not a DLT, 8 is."""
    event = _event(FATIGUE, 3, duration=None)
    flag = _evaluate(event, cutoff=event.onset_on + dt.timedelta(days=days_to_cutoff))
    assert flag.is_dlt is is_dlt
    assert flag.duration_days == days_to_cutoff
    assert f"for {days_to_cutoff} days (ongoing at cutoff)" in flag.reason


def test_a_term_is_matched_whatever_its_case_and_reported_in_ctcae_spelling():
    flag = _evaluate(_event("  fatigue ", 3, duration=7))
    assert flag.rule == RULE_SHORT_FATIGUE
    assert flag.term == FATIGUE
    assert flag.reason.startswith("Fatigue grade 3")


# --- Reason text ---------------------------------------------------------------------------


def test_the_reason_names_term_grade_duration_relation_and_onset_day():
    """The protocol's example: CTCAE v5.0 "Fatigue" grade 3 for 10 days, possibly related to
    IL2, onset day 12."""
    flag = _evaluate(_event(FATIGUE, 3, onset_day=12, duration=10, event_id=41))
    assert flag == DltFlag(
        event_id=41,
        is_dlt=True,
        rule=RULE_GRADE_3_NON_HAEMATOLOGICAL,
        reason="Fatigue grade 3 for 10 days, possibly related to IL2, onset day 12",
        onset_day=12,
        duration_days=10,
        term=FATIGUE,
        grade=3,
    )


def test_the_reason_names_every_most_related_agent():
    attributions = {"IM": "probable", "CTX": "possible", "IL2": "probable"}
    flag = _evaluate(_event("Diarrhea", 4, duration=1, onset_day=3, attributions=attributions))
    assert flag.reason == "Diarrhea grade 4 for 1 day, probably related to IL2 and IM, onset day 3"


@pytest.mark.parametrize(
    ("attributions", "phrase"),
    [
        ({"IL2": "definite"}, "definitely related to IL2"),
        ({"IL2": "unlikely", "IM": "unrelated"}, "unlikely related to IL2"),
        ({"IL2": "unrelated", "IM": "unrelated"}, "unrelated to IL2 and IM"),
    ],
)
def test_the_reason_states_the_highest_attribution(attributions, phrase):
    assert f", {phrase}, " in _evaluate(_event(attributions=attributions)).reason


def test_the_reason_of_an_exclusion_says_why_it_is_not_a_dlt():
    flag = _evaluate(_event("Platelet count decreased", 3, duration=30))
    assert flag.reason == (
        "Platelet count decreased grade 3 for 30 days, possibly related to IL2, onset day 12; "
        "not a DLT: grade 3 haematological events other than febrile neutropenia are not DLTs"
    )


# --- Invalid input -------------------------------------------------------------------------


def test_a_grade_the_term_does_not_allow_is_refused():
    """CTCAE v5.0 "Fatigue" has grades 1 to 3 only."""
    with pytest.raises(GradeNotAllowedError):
        _evaluate(_event(FATIGUE, 4))


def test_an_unknown_term_is_refused():
    with pytest.raises(UnknownTermError):
        _evaluate(_event("Tiredness", 3))


def test_an_unknown_attribution_is_refused():
    with pytest.raises(ValueError, match="Unknown attribution 'likely'"):
        _evaluate(_event(attributions={"IL2": "likely"}))


def test_an_event_resolved_before_its_onset_is_refused():
    with pytest.raises(ValueError, match="before its onset"):
        _evaluate(_event(duration=-1))


def test_an_unresolved_event_with_onset_after_the_cutoff_has_lasted_0_days():
    flag = _evaluate(_event(duration=None), cutoff=_day(11))
    assert flag.duration_days == 0
    assert flag.rule == RULE_SHORT_FATIGUE


@pytest.mark.parametrize(
    "kwargs",
    [
        {"window_days": 0},
        {"min_attribution": "likely"},
        {"min_exposure_pct": -1},
        {"min_exposure_pct": 101},
    ],
)
def test_invalid_settings_are_refused(kwargs):
    with pytest.raises(ValueError):
        DltSettings(**kwargs)


# --- Properties ----------------------------------------------------------------------------

TERMS_WITH_GRADES = [(term.term, term.grades) for term in all_terms()]


@st.composite
def events(draw):
    term, grades = draw(st.sampled_from(TERMS_WITH_GRADES))
    return _event(
        term,
        draw(st.sampled_from(grades)),
        onset_day=draw(st.integers(-10, 30)),
        duration=draw(st.integers(0, 40)),
        attributions=draw(
            st.dictionaries(
                st.sampled_from(["CTX", "IM", "IL2"]), st.sampled_from(ATTRIBUTION_ORDER)
            )
        ),
    )


@given(events())
def test_the_rule_code_agrees_with_the_verdict(event):
    flag = _evaluate(event)
    assert flag.rule in (DLT_RULES if flag.is_dlt else EXCLUSION_RULES)
    if event.grade < 3:
        assert not flag.is_dlt


@given(events(), st.integers(1, 30))
def test_a_longer_event_is_never_less_of_a_dlt(event, extra_days):
    """Every exception of the default rule set is for short events only."""
    longer = EventFacts(
        event.event_id,
        event.term,
        event.grade,
        event.onset_on,
        event.resolved_on + dt.timedelta(days=extra_days),
        event.attributions,
    )
    assert _evaluate(longer).is_dlt >= _evaluate(event).is_dlt


@given(events())
def test_a_more_related_event_is_never_less_of_a_dlt(event):
    definite = dict.fromkeys(event.attributions, "definite")
    more = EventFacts(
        event.event_id, event.term, event.grade, event.onset_on, event.resolved_on, definite
    )
    assert _evaluate(more).is_dlt >= _evaluate(event).is_dlt


# --- CTCAE v5.0 term names -----------------------------------------------------------------

RULE_TERMS = sorted(
    {FEBRILE_NEUTROPENIA, NEUTROPHIL_COUNT_DECREASED, LYMPHOCYTE_COUNT_DECREASED, FATIGUE}
    | GI_TERMS
    | ELECTROLYTE_TERMS
    | TRANSAMINASE_TERMS
    | HAEMATOLOGICAL_INVESTIGATION_TERMS
)


@pytest.mark.parametrize("term", RULE_TERMS)
def test_every_term_of_the_rules_is_spelled_as_in_ctcae(term):
    """Every term named by the protocol DLT definition exists exactly in CTCAE v5.0."""
    assert get_term(term).term == term


def test_the_haematological_soc_exists_in_ctcae():
    assert get_term(FEBRILE_NEUTROPENIA).soc == HAEMATOLOGICAL_SOC
    assert get_term("Anemia").soc == HAEMATOLOGICAL_SOC


def test_the_blood_counts_listed_are_all_the_investigations_blood_counts():
    """Every CTCAE v5.0 "Investigations" term about a blood cell count or haemoglobin is in
    the list, and nothing else is: a new count term must be classified on purpose."""
    markers = ("count", "cell", "lymphocyte", "hemoglobin", "neutrophil", "platelet")
    counts = {
        term.term
        for term in all_terms()
        if term.soc == "Investigations"
        and any(marker in term.term.casefold() for marker in markers)
    }
    assert counts == HAEMATOLOGICAL_INVESTIGATION_TERMS
    assert all(is_haematological(term) for term in counts)
    assert not is_haematological("Alanine aminotransferase increased")


# --- Evaluability --------------------------------------------------------------------------


def _dose(agent, day, planned, given, category=""):
    return DoseFacts(agent, _day(day), Decimal(planned), Decimal(given), category)


def _full_doses(agent="IM", days=range(1, 15), planned="400"):
    return [_dose(agent, day, planned, planned) for day in days]


def _subject(
    *,
    first_dose_on=FIRST_DOSE,
    off_study_on=None,
    doses=None,
    dlt_flags=(),
    cutoff=LATE_CUTOFF,
    settings=None,
):
    kwargs = {} if settings is None else {"settings": settings}
    return evaluate_subject(
        first_dose_on=first_dose_on,
        off_study_on=off_study_on,
        doses=_full_doses() if doses is None else doses,
        dlt_flags=dlt_flags,
        cutoff=cutoff,
        **kwargs,
    )


def test_a_subject_without_a_first_dose_is_not_evaluable():
    assert _subject(first_dose_on=None, doses=[]) == Evaluability(
        False, "Not evaluable: no first dose"
    )


def test_a_dlt_makes_a_subject_evaluable_before_the_window_ends():
    """Protocol DLT definition, default rule set: a subject with a DLT in the window is
    evaluable whatever the exposure and even if the window has not ended by the cutoff."""
    flag = _evaluate(_event(FATIGUE, 3, onset_day=12, duration=None), cutoff=_day(13))
    assert flag.is_dlt is False  # 1 day so far: not (yet) a DLT by the rules
    decided = dataclasses.replace(flag, is_dlt=True)  # the investigator's decision
    result = _subject(dlt_flags=[flag, decided], cutoff=_day(13), doses=[], off_study_on=_day(14))
    assert result == Evaluability(True, "Evaluable: DLT in the window (Fatigue grade 3, day 12)")


def test_a_flag_that_is_not_a_dlt_does_not_make_a_subject_evaluable():
    flag = _evaluate(_event(FATIGUE, 3, onset_day=12, duration=2))
    assert not _subject(dlt_flags=[flag], cutoff=_day(13)).evaluable


def test_every_dlt_is_named_in_onset_order():
    late = _evaluate(_event("Diarrhea", 4, onset_day=15, duration=1, event_id="b"))
    early = _evaluate(_event(FATIGUE, 3, onset_day=12, duration=10, event_id="a"))
    result = _subject(dlt_flags=[late, early])
    assert result.reason == (
        "Evaluable: DLT in the window (Fatigue grade 3, day 12; Diarrhea grade 4, day 15)"
    )


def test_a_dlt_flag_without_a_term_is_named_by_its_event():
    flag = DltFlag(7, True, "investigator", "Decided by the investigator", 5, 2)
    assert _subject(dlt_flags=[flag]).reason == "Evaluable: DLT in the window (event 7, day 5)"


@pytest.mark.parametrize(
    ("cutoff", "evaluable"),
    [(WINDOW_END, True), (WINDOW_END - dt.timedelta(days=1), False)],
)
def test_the_window_must_have_ended_by_the_cutoff(cutoff, evaluable):
    """Protocol DLT definition, default rule set: the last window day, first dose + 21 - 1 =
    2026-03-22, must be on or before the cutoff."""
    result = _subject(cutoff=cutoff)
    assert result.evaluable is evaluable
    if not evaluable:
        assert result.reason == (
            "Not evaluable: the DLT window ends 2026-03-22, after the cutoff 2026-03-21"
        )


@pytest.mark.parametrize(
    ("off_study_on", "evaluable"),
    [
        (WINDOW_END - dt.timedelta(days=1), False),
        (WINDOW_END, True),
        (WINDOW_END + dt.timedelta(days=1), True),
    ],
)
def test_a_subject_off_study_before_the_last_window_day_is_not_evaluable(off_study_on, evaluable):
    """Protocol DLT definition, default rule set: off study on or after day 21 (2026-03-22)."""
    result = _subject(off_study_on=off_study_on)
    assert result.evaluable is evaluable
    if not evaluable:
        assert result.reason == (
            "Not evaluable: off study on 2026-03-21, before the end of the DLT window (2026-03-22)"
        )


def test_off_study_is_reported_before_an_open_window():
    """Leaving the study is final, so it is the reason given even when the window is open."""
    result = _subject(off_study_on=dt.date(2026, 3, 10), cutoff=dt.date(2026, 3, 15))
    assert result.reason == (
        "Not evaluable: off study on 2026-03-10, before the end of the DLT window (2026-03-22)"
    )


@pytest.mark.parametrize(
    ("given", "evaluable"),
    [("750", True), ("749", False), ("1000", True), ("1100", True)],
)
def test_at_least_75_percent_of_the_planned_dose_is_required(given, evaluable):
    """Protocol DLT definition, default rule set: exactly 75% of the planned dose in the
    window passes, 74.9% does not (IL2, 1000 planned in all on days 10-14)."""
    doses = (
        _full_doses() + [_dose("IL2", 10, "1000", given)] + _full_doses("IL2", range(11, 15), "0")
    )
    result = _subject(doses=doses)
    assert result.evaluable is evaluable
    if not evaluable:
        assert result.reason == (
            "Not evaluable: received 74.9% of the planned IL2 dose in the DLT window (75% required)"
        )


def test_the_exposure_is_totalled_over_the_window_days():
    """3 MIU of IL2 planned on each of days 10-14 (15 in all); 11.25 given in all is 75%."""
    doses = _full_doses() + [
        _dose("IL2", day, "3", given)
        for day, given in zip(range(10, 15), ["3", "3", "3", "2.25", "0"], strict=True)
    ]
    assert _subject(doses=doses).evaluable


def test_a_shortfall_just_under_the_minimum_is_not_rounded_up_in_the_reason():
    doses = _full_doses() + [_dose("IL2", 10, "10000", "7499")]
    result = _subject(doses=doses)
    assert not result.evaluable
    assert "received 74.9% of the planned IL2 dose" in result.reason


def test_the_minimum_exposure_is_a_setting():
    doses = _full_doses() + [_dose("IL2", 10, "100", "80")]
    assert _subject(doses=doses).evaluable
    result = _subject(doses=doses, settings=DltSettings(min_exposure_pct=90))
    assert result.reason == (
        "Not evaluable: received 80% of the planned IL2 dose in the DLT window (90% required)"
    )


def test_one_under_dosed_agent_of_several_makes_the_subject_not_evaluable():
    """IM given in full, IL2 at 60%: each agent must reach 75% on its own."""
    doses = _full_doses("IM") + [_dose("IL2", day, "5", "3") for day in range(10, 15)]
    assert _subject(doses=doses) == Evaluability(
        False,
        "Not evaluable: received 60% of the planned IL2 dose in the DLT window (75% required)",
    )


def test_every_under_dosed_agent_is_named():
    doses = [_dose("IM", 1, "400", "200"), _dose("IL2", 10, "5", "3")]
    assert _subject(doses=doses).reason == (
        "Not evaluable: received 50% of the planned IM dose and 60% of the planned IL2 dose "
        "in the DLT window (75% required)"
    )


def test_an_evaluable_subject_is_told_the_exposure_of_each_agent():
    """The protocol's example: 100% of planned IM, 95% of planned IL2."""
    doses = _full_doses("IM") + [_dose("IL2", 10, "20", "19")]
    assert _subject(doses=doses) == Evaluability(
        True, "Evaluable: completed the 21-day window with 100% of planned IM, 95% of planned IL2"
    )


def test_an_agent_with_no_planned_dose_in_the_window_is_ignored():
    """CTX is planned only before the first dose here, and at 0 on day 8: it does not count."""
    doses = (
        _full_doses("IM")
        + [_dose("CTX", -5, "50", "0"), _dose("CTX", 8, "0", "0")]
        + [_dose("IL2", 10, "3", "3")]
    )
    result = _subject(doses=doses)
    assert result == Evaluability(
        True, "Evaluable: completed the 21-day window with 100% of planned IM, 100% of planned IL2"
    )


@pytest.mark.parametrize("day", [-5, 0, 22])
def test_doses_outside_the_window_do_not_count(day):
    """A lead-in dose on day -5 (or one on day 0 or 22) neither helps nor hurts the exposure:
    IL2 at 60% in the window stays at 60% with a full dose outside it."""
    doses = _full_doses("IM") + [_dose("IL2", 10, "5", "3"), _dose("IL2", day, "5", "5")]
    assert "received 60% of the planned IL2 dose" in _subject(doses=doses).reason
    missed = _full_doses("IM") + [_dose("IL2", day, "5", "0")]
    assert _subject(doses=missed).evaluable


def test_a_subject_with_no_planned_dose_in_the_window_completes_it():
    result = _subject(doses=[_dose("CTX", -5, "50", "50")])
    assert result == Evaluability(
        True, "Evaluable: completed the 21-day window; no planned doses recorded in it"
    )


# Under-dosing for toxicity (issue #12; protocol: a dose missed or reduced because of an adverse
# event does not make the subject non-evaluable, study setting
# dlt.underdosing_for_toxicity_evaluable, default true). IL-2 3 MIU/day on days 10-14: 15 MIU
# planned in the window.


def _il2(categories, given=("3", "3", "0", "0", "0")):
    return _full_doses("IM") + [
        _dose("IL2", day, "3", dose, category if dose != "3" else "")
        for day, dose, category in zip(range(10, 15), given, categories, strict=True)
    ]


TOXICITY = ["adverse_event"] * 5
LOGISTICS = ["logistics"] * 5


def test_two_of_five_il2_doses_for_toxicity_is_evaluable_and_says_why():
    """Issue #12: 'a subject who received 2 of 5 IL-2 doses because of toxicity' is evaluable."""
    assert _subject(doses=_il2(TOXICITY)) == Evaluability(
        True,
        "Evaluable: completed the 21-day window with 100% of planned IM, 40% of planned IL2 "
        "(the shortfall for adverse events); protocol: under-dosing for toxicity stays evaluable",
    )


@pytest.mark.parametrize("category", ["logistics", "patient_decision", "other", ""])
def test_two_of_five_il2_doses_for_any_other_reason_is_not_evaluable(category):
    result = _subject(doses=_il2([category] * 5))
    assert result == Evaluability(
        False,
        "Not evaluable: received 40% of the planned IL2 dose in the DLT window (75% required)",
    )


def test_with_the_setting_off_a_shortfall_for_toxicity_counts_against_exposure():
    settings = DltSettings(underdosing_for_toxicity_evaluable=False)
    result = _subject(doses=_il2(TOXICITY), settings=settings)
    assert result == Evaluability(
        False,
        "Not evaluable: received 40% of the planned IL2 dose in the DLT window (75% required)",
    )


@pytest.mark.parametrize(
    ("given", "evaluable"),
    # One IL2 dose of 1000 missed for toxicity, one of 1000 reduced for logistics: counted
    # planned is 1000 (the other dose's given 0 for the toxicity one), 75% of it is 750.
    [("750", True), ("749", False)],
)
def test_the_75_percent_boundary_holds_for_the_doses_not_changed_for_toxicity(given, evaluable):
    """Protocol DLT definition: 75% of the planned dose passes, 74.9% does not; the planned
    dose of a dose missed for an adverse event is taken to be the dose given (0)."""
    doses = _full_doses("IM") + [
        _dose("IL2", 10, "1000", "0", "adverse_event"),
        _dose("IL2", 11, "1000", given, "logistics"),
    ]
    result = _subject(doses=doses)
    assert result.evaluable is evaluable
    if not evaluable:
        assert result.reason == (
            "Not evaluable: received 37.4% of the planned IL2 dose (74.9% leaving out the "
            "shortfall for adverse events) in the DLT window (75% required)"
        )


@pytest.mark.parametrize(("day_12", "evaluable"), [("1", True), ("0.9", False)])
def test_a_logistics_shortfall_still_counts_next_to_a_toxicity_one(day_12, evaluable):
    """IL2 3 MIU on days 10-14; day 14 missed for toxicity (left out: 12 MIU counted), days 12
    and 13 reduced for logistics. 3 + 3 + 1 + 2 = 9 of 12 is exactly 75%: evaluable; with
    0.9 on day 12, 8.9 of 12 is 74.1%: not."""
    categories = ["", "", "logistics", "logistics", "adverse_event"]
    result = _subject(doses=_il2(categories, ("3", "3", day_12, "2", "0")))
    assert result.evaluable is evaluable


def test_a_toxicity_shortfall_that_leaves_enough_exposure_is_not_singled_out():
    """IL2 at 80% with one reduced dose for toxicity: the minimum is met anyway, so the reason
    is the usual one."""
    doses = _il2(TOXICITY, ("3", "3", "3", "3", "0"))
    assert _subject(doses=doses).reason == (
        "Evaluable: completed the 21-day window with 100% of planned IM, 80% of planned IL2"
    )


def test_the_window_ends_on_study_day_21():
    """Day 1 = first dose 2026-03-02; day 21 = 2026-03-22 (the protocol's 21-day window)."""
    assert window_end(FIRST_DOSE) == WINDOW_END
    assert window_end(FIRST_DOSE, DltSettings(window_days=28)) == dt.date(2026, 3, 29)


def test_the_exposure_listing_is_the_raw_share_given_rounded_down_to_one_decimal():
    """The listing shows what was given, toxicity or not: 40% of IL2; 7499 of 10000 is 74.9."""
    assert exposure_percentages(_il2(TOXICITY), FIRST_DOSE) == {"IM": 100.0, "IL2": 40.0}
    doses = [_dose("IL2", 10, "10000", "7499"), _dose("IL2", 22, "5", "0")]
    assert exposure_percentages(doses, FIRST_DOSE) == {"IL2": 74.9}


# Unreconciled lab toxicity (issue #12: "Grade 3-4 lab results inside the DLT window with no
# matching adverse event (synthetic: hyponatraemia grade 4) never reach the DLT rules"). The
# window is study days 1-21 (2026-03-02 to 2026-03-22); matching is the lab-AE reconciliation's
# (same CTCAE term, onset within 7 days of the sample or ongoing then).


def _finding(day, grade=4, term="Hyponatremia", result_id=1):
    return LabFinding(result_id, "SODIUM", term, grade, _day(day))


def _unreconciled(findings, events=(), cutoff=LATE_CUTOFF, settings=None):
    return unreconciled_lab_toxicities(
        findings,
        events,
        first_dose_on=FIRST_DOSE,
        cutoff=cutoff,
        settings=settings or DltSettings(),
    )


@pytest.mark.parametrize(("day", "listed"), [(-1, False), (1, True), (21, True), (22, False)])
def test_a_lab_only_grade_4_is_unreconciled_inside_the_window_only(day, listed):
    """Day -1 is the last lead-in day (no day 0); days 1 and 21 are the window's ends."""
    assert bool(_unreconciled([_finding(day)])) is listed


@pytest.mark.parametrize(("grade", "listed"), [(2, False), (3, True), (4, True)])
def test_grade_3_or_more_is_a_potential_dlt(grade, listed):
    assert bool(_unreconciled([_finding(5, grade)])) is listed


@pytest.mark.parametrize(
    ("event", "listed"),
    [
        (EventSpan("Hyponatremia", _day(12), None), False),  # onset 7 days after the sample
        (EventSpan("Hyponatremia", _day(13), None), True),  # 8 days after: no match
        (EventSpan("Hyponatremia", _day(1), _day(6)), False),  # ongoing on the sample's day
        (EventSpan("Hypokalemia", _day(5), None), True),  # another term explains nothing
    ],
)
def test_an_adverse_event_of_the_term_reconciles_the_result(event, listed):
    assert bool(_unreconciled([_finding(5)], [event])) is listed


def test_a_result_after_the_cutoff_is_not_yet_listed():
    assert _unreconciled([_finding(10)], cutoff=_day(9)) == []
    assert _unreconciled([_finding(10)], cutoff=_day(10)) == [_finding(10)]


def test_a_longer_window_setting_lists_day_22():
    assert _unreconciled([_finding(22)], settings=DltSettings(window_days=28)) == [_finding(22)]


# --- Dose level summary ---------------------------------------------------------------------

EVALUABLE = Evaluability(True, "Evaluable: completed the 21-day window")
WITH_DLT = Evaluability(True, "Evaluable: DLT in the window (Fatigue grade 3, day 12)")
NOT_EVALUABLE = Evaluability(False, "Not evaluable: no first dose")


@pytest.mark.parametrize(
    ("subjects", "summary"),
    [
        ([], DoseLevelSummary(0, 0, 0, 0)),
        ([(EVALUABLE, False)] * 3, DoseLevelSummary(3, 3, 0, 0)),
        (
            [(EVALUABLE, False), (WITH_DLT, True), (NOT_EVALUABLE, False)],
            DoseLevelSummary(treated=3, evaluable=2, with_dlt=1, replacements_needed=1),
        ),
        (
            [(WITH_DLT, True), (WITH_DLT, True), (NOT_EVALUABLE, False), (NOT_EVALUABLE, False)],
            DoseLevelSummary(treated=4, evaluable=2, with_dlt=2, replacements_needed=2),
        ),
    ],
)
def test_a_dose_level_counts_treated_evaluable_dlt_and_replacements(subjects, summary):
    """Each treated subject who is not evaluable must be replaced."""
    assert summarise_dose_level(subjects) == summary


def test_a_dlt_in_a_subject_who_is_not_evaluable_is_refused():
    with pytest.raises(ValueError, match="always evaluable"):
        summarise_dose_level([(NOT_EVALUABLE, True)])


# --- Independence from Django ----------------------------------------------------------------


def test_the_rules_import_and_run_without_django():
    """The DLT rules are pure: a script with no Django settings can use them."""
    script = (
        "import sys, datetime as dt\n"
        "from ecrf.safety.dlt import EventFacts, evaluate_event\n"
        "e = EventFacts(1, 'Fatigue', 3, dt.date(2026, 3, 13), dt.date(2026, 3, 23), {'IL2': 'possible'})\n"
        "print(evaluate_event(e, first_dose_on=dt.date(2026, 3, 2), cutoff=dt.date(2026, 4, 1)).reason)\n"
        "assert 'django' not in sys.modules, 'django was imported'\n"
    )
    env = {key: value for key, value in os.environ.items() if key != "DJANGO_SETTINGS_MODULE"}
    result = subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == (
        "Fatigue grade 3 for 10 days, possibly related to IL2, onset day 12"
    )
