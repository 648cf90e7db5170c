"""DLT rules and DLT evaluability: the DLT window, the attribution, the default rule set.

Default settings: a DLT window of days 1 to 21 (day 1 = first dose), attribution at least
"possible" to a study agent, and at least 75% of the planned dose of each agent in the window.
The events are decided by the default rule set, ``studies/dlt-default.json``, unless a test
passes another: its rules are named here by their ids. Term names are CTCAE v5.0 terms. The
subject's first dose is 2026-03-02, so day 12 is 2026-03-13 and the last window day (day 21)
is 2026-03-22.

The vocabulary of the rules itself is table-tested in ``test_dlt_rules.py``; this file tests
what the default rule set says about events, through ``evaluate_event``.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import os
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ecrf.ctcae.dictionary import GradeNotAllowedError, UnknownTermError, all_terms, get_term
from ecrf.safety.dlt import (
    ATTRIBUTION_ORDER,
    RULE_NO_RULE,
    RULE_NOT_RELATED,
    RULE_OUTSIDE_WINDOW,
    DltFlag,
    DltSettings,
    DoseFacts,
    DoseLevelSummary,
    Evaluability,
    EventFacts,
    evaluate_event,
    evaluate_subject,
    exposure_percentages,
    summarise_dose_level,
    unreconciled_lab_toxicities,
    window_end,
    window_exposure,
)
from ecrf.safety.dlt_rules import (
    DEFAULT_RULES_PATH,
    HAEMATOLOGICAL_INVESTIGATION_TERMS,
    HAEMATOLOGICAL_SOC,
    NO_CONTEXT,
    GradeStep,
    LabValue,
    NextCycle,
    OtherEvent,
    SubjectContext,
    default_rules,
    is_haematological,
    parse_rules,
)
from ecrf.safety.reconciliation import EventSpan, LabFinding

ROOT = Path(__file__).resolve().parents[3]

FIRST_DOSE = dt.date(2026, 3, 2)
WINDOW_END = dt.date(2026, 3, 22)  # day 21
LATE_CUTOFF = dt.date(2026, 6, 30)

FATIGUE = "Fatigue"
FEBRILE_NEUTROPENIA = "Febrile neutropenia"
NEUTROPHIL_COUNT_DECREASED = "Neutrophil count decreased"
LYMPHOCYTE_COUNT_DECREASED = "Lymphocyte count decreased"
PLATELET_COUNT_DECREASED = "Platelet count decreased"
GI_TERMS = ("Diarrhea", "Nausea", "Vomiting")
TRANSAMINASE_TERMS = ("Alanine aminotransferase increased", "Aspartate aminotransferase increased")
# The electrolyte terms of the default rule set's short_electrolyte rule. All but
# Hypophosphatemia are graded from a lab value (ecrf.ctcae.labs), so they are in the lab_only
# group too.
LAB_GRADED_ELECTROLYTES = (
    "Hypercalcemia",
    "Hyperkalemia",
    "Hypermagnesemia",
    "Hypernatremia",
    "Hypocalcemia",
    "Hypokalemia",
    "Hypomagnesemia",
    "Hyponatremia",
)
HYPOPHOSPHATEMIA = "Hypophosphatemia"

# The ids of the default rule set (studies/dlt-default.json), in its order.
TREATMENT_RELATED_DEATH = "treatment_related_death"
LYMPHOPENIA = "lymphopenia"
CYCLE_2_DELAY = "cycle_2_delay"
FEBRILE_NEUTROPENIA_RULE = "febrile_neutropenia"
THROMBOCYTOPENIA_BLEEDING = "thrombocytopenia_bleeding"
THROMBOCYTOPENIA_GRADE_4 = "thrombocytopenia_grade_4"
SHORT_HAEMATOLOGICAL_GRADE_4 = "short_haematological_grade_4"
HAEMATOLOGICAL_GRADE_4 = "haematological_grade_4"
GRADE_3_HAEMATOLOGICAL = "grade_3_haematological"
HYS_LAW = "hys_law"
SHORT_GI = "short_gi"
SHORT_ELECTROLYTE = "short_electrolyte"
SHORT_TRANSAMINASE = "short_transaminase"
SHORT_FATIGUE = "short_fatigue"
RESOLVING_LAB_ONLY = "resolving_lab_only"
GRADE_3_NON_HAEMATOLOGICAL = "grade_3_non_haematological"
DEFAULT_IDS = (
    TREATMENT_RELATED_DEATH,
    LYMPHOPENIA,
    CYCLE_2_DELAY,
    FEBRILE_NEUTROPENIA_RULE,
    THROMBOCYTOPENIA_BLEEDING,
    THROMBOCYTOPENIA_GRADE_4,
    SHORT_HAEMATOLOGICAL_GRADE_4,
    HAEMATOLOGICAL_GRADE_4,
    GRADE_3_HAEMATOLOGICAL,
    HYS_LAW,
    SHORT_GI,
    SHORT_ELECTROLYTE,
    SHORT_TRANSAMINASE,
    SHORT_FATIGUE,
    RESOLVING_LAB_ONLY,
    GRADE_3_NON_HAEMATOLOGICAL,
)
DLT_IDS = frozenset(rule.id for rule in default_rules().rules if rule.is_dlt)
NOT_DLT_IDS = frozenset(rule.id for rule in default_rules().rules if not rule.is_dlt)
CHECK_CODES = frozenset({RULE_OUTSIDE_WINDOW, RULE_NOT_RELATED, RULE_NO_RULE})

REFERENCE_RULES = parse_rules(
    json.loads((ROOT / "studies" / "IL2-IM-CTX.json").read_text(encoding="utf-8"))["dlt"]["rules"]
)


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
    grades=(),
    despite_supportive_care=False,
):
    """An event of ``duration`` days (None: unresolved), possibly related to IL2 by default.
    ``grades`` are (days after onset, grade) steps of its grade history."""
    onset = _day(onset_day)
    resolved = None if duration is None else onset + dt.timedelta(days=duration)
    if attributions is None:
        attributions = {"IL2": "possible"}
    history = tuple(GradeStep(onset + dt.timedelta(days=d), g) for d, g in grades)
    return EventFacts(
        event_id, term, grade, onset, resolved, attributions, history, despite_supportive_care
    )


def _evaluate(event, *, cutoff=LATE_CUTOFF, settings=None, rules=None, context=NO_CONTEXT):
    kwargs = {} if settings is None else {"settings": settings}
    return evaluate_event(
        event, first_dose_on=FIRST_DOSE, cutoff=cutoff, rules=rules, context=context, **kwargs
    )


def _rule(*args, **kwargs):
    return _evaluate(_event(*args, **kwargs)).rule


def _days_text(count):
    return f"{count} day" if count == 1 else f"{count} days"


def _explanation(rule_id, rules=None):
    """The end of the reason of an event decided by the rule ``rule_id``."""
    rule = (rules or default_rules()).rule(rule_id)
    verdict = "DLT" if rule.is_dlt else "not a DLT"
    return f"; {verdict}: rule {rule.id}: {rule.text}"


# --- The default rule set --------------------------------------------------------------------


def test_the_default_rule_set_has_its_rules_in_the_order_of_its_file():
    """studies/dlt-default.json: the first rule that holds decides, so the order is the
    definition."""
    assert tuple(rule.id for rule in default_rules().rules) == DEFAULT_IDS


def test_the_rule_named_in_a_flag_is_its_id_and_the_reason_ends_with_its_text():
    flag = _evaluate(_event(FATIGUE, 3, duration=10))
    assert flag.rule == GRADE_3_NON_HAEMATOLOGICAL
    assert flag.reason.endswith(
        "; DLT: rule grade_3_non_haematological: "
        "Any other non-haematological toxicity of grade 3 or more is a DLT."
    )


# --- The DLT window ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("days_from_day_1", "study_day", "rule"),
    [
        (-6, -6, RULE_OUTSIDE_WINDOW),  # before the first dose (a lead-in)
        (-1, -1, RULE_OUTSIDE_WINDOW),  # the day before the first dose: day -1, no day 0
        (0, 1, GRADE_3_NON_HAEMATOLOGICAL),  # the first dose day
        (20, 21, GRADE_3_NON_HAEMATOLOGICAL),  # the last window day
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
    assert flag.is_dlt is (rule == GRADE_3_NON_HAEMATOLOGICAL)
    assert flag.onset_day == study_day


def test_a_longer_window_setting_includes_day_22():
    """The window is a study setting: with 28 days, a day 22 onset counts."""
    flag = _evaluate(_event(onset_day=22), settings=DltSettings(window_days=28))
    assert flag.is_dlt
    assert flag.rule == GRADE_3_NON_HAEMATOLOGICAL


def test_an_event_outside_the_window_says_so_in_the_reason():
    flag = _evaluate(_event(onset_day=22))
    assert flag.reason.endswith(
        "onset day 22; not a DLT: onset outside the DLT window (days 1 to 21)"
    )


def test_the_window_is_checked_before_any_rule():
    """A grade 5 event (CTCAE v5.0: death) on day 22 is outside the window, not a
    treatment-related death by the rules."""
    flag = _evaluate(_event("Sepsis", 5, onset_day=22, duration=0))
    assert not flag.is_dlt
    assert flag.rule == RULE_OUTSIDE_WINDOW


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
    assert flag.rule == (GRADE_3_NON_HAEMATOLOGICAL if is_dlt else RULE_NOT_RELATED)


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
    ("term", "grade", "rule"),
    [
        ("Fatigue", 1, RULE_NO_RULE),
        ("Fatigue", 2, RULE_NO_RULE),
        ("Capillary leak syndrome", 2, RULE_NO_RULE),
        ("Neutrophil count decreased", 2, GRADE_3_HAEMATOLOGICAL),
        ("Lymphocyte count decreased", 2, LYMPHOPENIA),
        ("Hypokalemia", 2, RULE_NO_RULE),
        ("Alanine aminotransferase increased", 2, RULE_NO_RULE),
        ("Pneumonitis", 2, RULE_NO_RULE),
    ],
)
def test_grade_1_or_2_is_never_a_dlt_without_a_cycle_delay_or_hys_law(term, grade, rule):
    """Default rule set: a grade 1-2 event is not a DLT however long, unless it delays cycle 2
    (cycle_2_delay) or meets Hy's law (hys_law); with neither, a non-haematological one is
    taken by no rule at all."""
    flag = _evaluate(_event(term, grade, duration=60, attributions={"IL2": "definite"}))
    assert not flag.is_dlt
    assert flag.rule == rule


def test_an_event_no_rule_takes_is_not_a_dlt_and_says_so():
    flag = _evaluate(_event(FATIGUE, 2, duration=5))
    assert flag.reason == (
        "Fatigue grade 2 for 5 days, possibly related to IL2, onset day 12; "
        "not a DLT: no rule of the DLT definition applies"
    )


# --- Grade 5 -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "term", ["Capillary leak syndrome", "Sepsis", "Anemia", FEBRILE_NEUTROPENIA, "Hypokalemia"]
)
def test_a_related_death_is_a_dlt_by_the_first_rule(term):
    """Default rule set: grade 5 (CTCAE v5.0: death related to the AE) at least possibly related
    is a DLT, whatever the term: treatment_related_death comes first, before the rules of
    febrile neutropenia, the haematological events and the lab abnormalities."""
    flag = _evaluate(_event(term, 5, duration=0))
    assert flag.is_dlt
    assert flag.rule == TREATMENT_RELATED_DEATH


# --- Grade 4 -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("term", "duration"),
    [
        ("Capillary leak syndrome", 1),
        ("Diarrhea", 1),  # the 3-day GI exception is for grade 3 only (max_grade 3)
        ("Vomiting", 1),
        ("Pneumonitis", 2),
        ("Sepsis", 3),
    ],
)
def test_a_grade_4_clinical_event_is_a_dlt_however_short(term, duration):
    """Default rule set: a grade 4 non-haematological event with a clinical picture of its own
    (not in the lab_only group) is a DLT even for a day."""
    flag = _evaluate(_event(term, 4, duration=duration))
    assert flag.is_dlt
    assert flag.rule == GRADE_3_NON_HAEMATOLOGICAL


@pytest.mark.parametrize(("duration", "is_dlt"), [(0, False), (7, False), (8, True)])
def test_grade_4_neutrophil_count_decreased_is_a_dlt_after_7_days(duration, is_dlt):
    """Default rule set: CTCAE v5.0 "Neutrophil count decreased" grade 4 (<500/mm3) that comes
    down within 7 days is not a DLT; 8 days at grade 4 is."""
    flag = _evaluate(_event(NEUTROPHIL_COUNT_DECREASED, 4, duration=duration))
    assert flag.is_dlt is is_dlt
    assert flag.rule == (HAEMATOLOGICAL_GRADE_4 if is_dlt else SHORT_HAEMATOLOGICAL_GRADE_4)


def test_an_ongoing_grade_4_neutropenia_of_3_days_is_a_potential_dlt():
    """Default rule set: "at most 7 days" holds only once the event has come down. CTCAE v5.0
    "Neutrophil count decreased" grade 4 since 3 days before the cutoff and still unresolved is
    not yet known to be short, so it is a (potential) DLT by haematological_grade_4."""
    event = _event(NEUTROPHIL_COUNT_DECREASED, 4, duration=None)
    flag = _evaluate(event, cutoff=event.onset_on + dt.timedelta(days=3))
    assert flag.is_dlt
    assert flag.rule == HAEMATOLOGICAL_GRADE_4
    assert flag.duration_days == 3
    assert flag.reason.startswith(
        "Neutrophil count decreased grade 4 for 3 days (ongoing at cutoff), "
        "possibly related to IL2, onset day 12; DLT: rule haematological_grade_4: "
    )


def test_an_ongoing_neutropenia_that_came_down_from_grade_4_within_7_days_is_not_a_dlt():
    """Default rule set: grade 4 for 3 days, then grade 2 and still ongoing at the cutoff: it
    has come down below grade 4, after 3 days there, so the 7-day exclusion holds."""
    event = _event(NEUTROPHIL_COUNT_DECREASED, 4, duration=None, grades=[(0, 4), (3, 2)])
    flag = _evaluate(event, cutoff=event.onset_on + dt.timedelta(days=20))
    assert not flag.is_dlt
    assert flag.rule == SHORT_HAEMATOLOGICAL_GRADE_4


@pytest.mark.parametrize(("duration", "is_dlt"), [(2, False), (7, False), (8, True)])
def test_grade_4_white_blood_cell_decreased_is_a_dlt_after_7_days_like_neutrophils(
    duration, is_dlt
):
    """Default rule set: CTCAE v5.0 "White blood cell decreased" grade 4 (<1000/mm3) for 2
    days is not a DLT, as for "Neutrophil count decreased" (it was a DLT under the old rules,
    which excepted neutrophils only)."""
    flag = _evaluate(_event("White blood cell decreased", 4, duration=duration))
    assert flag.is_dlt is is_dlt
    assert flag.rule == (HAEMATOLOGICAL_GRADE_4 if is_dlt else SHORT_HAEMATOLOGICAL_GRADE_4)


@pytest.mark.parametrize(("duration", "is_dlt"), [(2, False), (8, True)])
def test_grade_4_anemia_is_a_dlt_after_7_days(duration, is_dlt):
    """Default rule set: CTCAE v5.0 "Anemia" (Blood and lymphatic system disorders) grade 4 is
    another grade 4 haematological toxicity: 7 days or less is not a DLT."""
    assert _evaluate(_event("Anemia", 4, duration=duration)).is_dlt is is_dlt


@pytest.mark.parametrize("duration", [0, 2, 30])
def test_grade_4_platelet_count_decreased_is_a_dlt_however_short(duration):
    """Default rule set: CTCAE v5.0 "Platelet count decreased" grade 4 (<25,000/mm3) is a DLT;
    its own rule comes before the 7-day exclusion of other haematological events."""
    flag = _evaluate(_event(PLATELET_COUNT_DECREASED, 4, duration=duration))
    assert flag.is_dlt
    assert flag.rule == THROMBOCYTOPENIA_GRADE_4


@pytest.mark.parametrize(
    ("term", "grade"),
    [
        (LYMPHOCYTE_COUNT_DECREASED, 1),
        (LYMPHOCYTE_COUNT_DECREASED, 3),
        (LYMPHOCYTE_COUNT_DECREASED, 4),
        ("Lymphocyte count increased", 3),
        ("CD4 lymphocytes decreased", 3),
        ("CD4 lymphocytes decreased", 4),
    ],
)
def test_lymphocyte_counts_are_never_a_dlt(term, grade):
    """Default rule set: CTCAE v5.0 "Lymphocyte count decreased" (grades 1-4), "Lymphocyte
    count increased" (grades 2-3) and "CD4 lymphocytes decreased" (grades 1-4) are not DLTs at
    any grade, however long and however related. CD4 decreased grade 4 was a DLT under the old
    rules, which excepted lymphocyte count decreased only."""
    flag = _evaluate(_event(term, grade, duration=None, attributions={"IL2": "definite"}))
    assert not flag.is_dlt
    assert flag.rule == LYMPHOPENIA


@pytest.mark.parametrize(
    ("grade", "rule"),
    [(3, FEBRILE_NEUTROPENIA_RULE), (4, FEBRILE_NEUTROPENIA_RULE), (5, TREATMENT_RELATED_DEATH)],
)
def test_febrile_neutropenia_grade_3_or_more_is_a_dlt(grade, rule):
    """Default rule set: CTCAE v5.0 "Febrile neutropenia" (grades 3-5) is a DLT, even for a
    single day and although it is a haematological term; grade 5 is a death first."""
    flag = _evaluate(_event(FEBRILE_NEUTROPENIA, grade, duration=1))
    assert flag.is_dlt
    assert flag.rule == rule


# --- Lab abnormalities with no clinical event of their own ------------------------------------


@pytest.mark.parametrize(
    "term", ["GGT increased", "Lipase increased", "Serum amylase increased", "Hypoalbuminemia"]
)
@pytest.mark.parametrize(("duration", "is_dlt"), [(1, False), (7, False), (8, True)])
def test_a_grade_3_lab_abnormality_resolving_within_7_days_is_not_a_dlt(term, duration, is_dlt):
    """Default rule set: CTCAE v5.0 "GGT increased" (grade 3 >5.0-20.0 x ULN), "Lipase
    increased" and "Serum amylase increased" (grade 3 >2.0-5.0 x ULN with signs or symptoms,
    >5.0 x ULN asymptomatic) and "Hypoalbuminemia" (grade 3 <2 g/dL) resolving within 7 days
    are not DLTs (resolving_lab_only); under the old rules any grade 3 non-haematological event
    was. Resolved after 8 days, they are."""
    flag = _evaluate(_event(term, 3, duration=duration))
    assert flag.is_dlt is is_dlt
    assert flag.rule == (GRADE_3_NON_HAEMATOLOGICAL if is_dlt else RESOLVING_LAB_ONLY)


@pytest.mark.parametrize(
    ("grades", "is_dlt"),
    [
        ([(0, 4), (5, 1)], False),  # grade 1 or less from day 5: resolves within 7 days
        ([(0, 4), (7, 1)], False),  # from day 7: still within 7 days
        ([(0, 4), (8, 1)], True),  # from day 8: too late
        ([(0, 4), (3, 2)], True),  # down to grade 2 on day 3, resolved only on day 20
    ],
)
def test_grade_4_cholesterol_high_resolving_to_grade_1_within_7_days_is_not_a_dlt(grades, is_dlt):
    """Default rule set: CTCAE v5.0 "Cholesterol high" grade 4 (>500 mg/dL, >12.92 mmol/L) that
    comes down to grade 1 (>ULN - 300 mg/dL) or less within 7 days is not a DLT; the event
    resolves on day 20."""
    flag = _evaluate(_event("Cholesterol high", 4, duration=20, grades=grades))
    assert flag.is_dlt is is_dlt
    assert flag.rule == (GRADE_3_NON_HAEMATOLOGICAL if is_dlt else RESOLVING_LAB_ONLY)


@pytest.mark.parametrize(
    ("term", "rule"),
    [
        ("INR increased", GRADE_3_NON_HAEMATOLOGICAL),
        ("Fibrinogen decreased", GRADE_3_NON_HAEMATOLOGICAL),
        ("Activated partial thromboplastin time prolonged", GRADE_3_NON_HAEMATOLOGICAL),
    ],
)
def test_grade_3_coagulation_tests_are_not_haematological(term, rule):
    """Coagulation tests of CTCAE v5.0 "Investigations" are not blood counts, and no rule
    excuses a short one: grade 3 for 10 days or for 1 day is a DLT."""
    assert _rule(term, 3, duration=10) == GRADE_3_NON_HAEMATOLOGICAL
    assert _rule(term, 3, duration=1) == rule


# --- Grade 3 -------------------------------------------------------------------------------


def test_grade_3_capillary_leak_syndrome_is_a_dlt():
    """Default rule set: any grade 3 non-haematological event.

    CTCAE v5.0 "Capillary leak syndrome" (Vascular disorders) grade 3, even for 1 day.
    """
    flag = _evaluate(_event("Capillary leak syndrome", 3, duration=1))
    assert flag.is_dlt
    assert flag.rule == GRADE_3_NON_HAEMATOLOGICAL


def test_grade_3_platelet_count_decreased_without_bleeding_is_not_a_dlt():
    """Default rule set: CTCAE v5.0 "Platelet count decreased" grade 3 (<50,000-25,000/mm3)
    with no bleeding is another grade 3 haematological event, not a DLT."""
    flag = _evaluate(_event(PLATELET_COUNT_DECREASED, 3, duration=30))
    assert not flag.is_dlt
    assert flag.rule == GRADE_3_HAEMATOLOGICAL


@pytest.mark.parametrize(
    ("bleeding_grade", "onset_day", "resolved_day", "is_dlt"),
    [
        (2, 14, 16, True),  # grade 2 epistaxis during the thrombocytopenia (days 12-22)
        (1, 14, 16, False),  # grade 1 is not clinically significant
        (2, 5, 11, False),  # ended the day before the thrombocytopenia began
        (2, 5, 12, True),  # ended on its first day
        (2, 22, None, True),  # began on its last day
        (2, 23, None, False),  # began the day after it resolved
    ],
)
def test_grade_3_platelet_count_decreased_with_a_concurrent_grade_2_bleeding_is_a_dlt(
    bleeding_grade, onset_day, resolved_day, is_dlt
):
    """Default rule set: CTCAE v5.0 "Platelet count decreased" grade 3 with a bleeding event of
    grade 2 or more (CTCAE v5.0 "Epistaxis" grade 2: medical intervention indicated) at the same
    time is a DLT (thrombocytopenia_bleeding). The thrombocytopenia runs from day 12 to day 22."""
    epistaxis = OtherEvent(
        "Epistaxis",
        bleeding_grade,
        _day(onset_day),
        None if resolved_day is None else _day(resolved_day),
    )
    flag = _evaluate(
        _event(PLATELET_COUNT_DECREASED, 3, duration=10),
        context=SubjectContext(other_events=(epistaxis,)),
    )
    assert flag.is_dlt is is_dlt
    assert flag.rule == (THROMBOCYTOPENIA_BLEEDING if is_dlt else GRADE_3_HAEMATOLOGICAL)


def test_a_concurrent_event_that_is_not_a_bleeding_does_not_count():
    """CTCAE v5.0 "Nausea" grade 2 is not one of the bleeding terms."""
    nausea = OtherEvent("Nausea", 2, _day(14), None)
    flag = _evaluate(
        _event(PLATELET_COUNT_DECREASED, 3, duration=10),
        context=SubjectContext(other_events=(nausea,)),
    )
    assert flag.rule == GRADE_3_HAEMATOLOGICAL


def test_grade_3_anemia_is_not_a_dlt():
    """Default rule set: CTCAE v5.0 "Anemia" (Blood and lymphatic system disorders) grade 3 is
    haematological, so not a DLT."""
    flag = _evaluate(_event("Anemia", 3, duration=30))
    assert not flag.is_dlt
    assert flag.rule == GRADE_3_HAEMATOLOGICAL


@pytest.mark.parametrize(
    "term",
    sorted(
        term
        for term in HAEMATOLOGICAL_INVESTIGATION_TERMS
        - {LYMPHOCYTE_COUNT_DECREASED, "CD4 lymphocytes decreased", "Lymphocyte count increased"}
        if 3 in get_term(term).grades
    ),
)
def test_grade_3_blood_counts_of_the_investigations_soc_are_not_dlts(term):
    """Default rule set: the blood counts of CTCAE v5.0 "Investigations" are haematological,
    so grade 3 is not a DLT."""
    assert _rule(term, 3, duration=30) == GRADE_3_HAEMATOLOGICAL


@pytest.mark.parametrize("term", GI_TERMS)
@pytest.mark.parametrize(("duration", "is_dlt"), [(0, False), (3, False), (4, True)])
def test_grade_3_nausea_vomiting_or_diarrhea_is_a_dlt_after_3_days(term, duration, is_dlt):
    """Default rule set: CTCAE v5.0 "Nausea", "Vomiting" or "Diarrhea" grade 3 that comes down
    within 3 days (72 hours) is not a DLT; 4 days is."""
    flag = _evaluate(_event(term, 3, duration=duration))
    assert flag.is_dlt is is_dlt
    assert flag.rule == (GRADE_3_NON_HAEMATOLOGICAL if is_dlt else SHORT_GI)


@pytest.mark.parametrize("term", (*LAB_GRADED_ELECTROLYTES, HYPOPHOSPHATEMIA))
def test_a_grade_3_electrolyte_abnormality_of_3_days_is_not_a_dlt(term):
    """Default rule set: the CTCAE v5.0 electrolyte terms (Hypo-/Hyperkalemia, -natremia,
    -calcemia, -magnesemia, Hypophosphatemia) at grade 3 that come down within 3 days are not
    DLTs (short_electrolyte); 8 days is a DLT."""
    assert _rule(term, 3, duration=3) == SHORT_ELECTROLYTE
    assert _rule(term, 3, duration=8) == GRADE_3_NON_HAEMATOLOGICAL


@pytest.mark.parametrize("term", (*LAB_GRADED_ELECTROLYTES, HYPOPHOSPHATEMIA))
def test_a_grade_3_electrolyte_abnormality_of_4_days_is_a_dlt(term):
    """Default rule set: only short_electrolyte (3 days) excuses a grade 3 electrolyte
    abnormality; resolving_lab_only names the lab abnormalities it excuses, and no electrolyte
    is among them."""
    assert _rule(term, 3, duration=4) == GRADE_3_NON_HAEMATOLOGICAL


@pytest.mark.parametrize(
    "term", [*TRANSAMINASE_TERMS, "Hypokalemia", "Hyponatremia", "Creatinine increased"]
)
@pytest.mark.parametrize("duration", [1, 2, 7])
def test_a_grade_4_organ_or_electrolyte_lab_abnormality_is_a_dlt_however_short(term, duration):
    """Default rule set: CTCAE v5.0 "Alanine aminotransferase increased" grade 4 (>20.0 x ULN),
    "Hypokalemia" grade 4 (<2.5 mmol/L) or "Creatinine increased" grade 4 (>6.0 x ULN) is a
    DLT even when it resolves within a day: their short-duration rules are for grade 3 only."""
    assert _rule(term, 4, duration=duration) == GRADE_3_NON_HAEMATOLOGICAL


@pytest.mark.parametrize(
    "term", ["GGT increased", "Lipase increased", "CPK increased", "Cholesterol high"]
)
@pytest.mark.parametrize(("duration", "is_dlt"), [(2, False), (7, False), (8, True)])
def test_a_grade_4_enzyme_or_lipid_rise_resolving_within_7_days_is_not_a_dlt(
    term, duration, is_dlt
):
    """Default rule set, resolving_lab_only: CTCAE v5.0 "GGT increased" grade 4 (>20.0 x ULN),
    "Lipase increased" grade 4 (>5.0 x ULN with signs or symptoms), "CPK increased" grade 4
    (>10.0 x ULN) or "Cholesterol high" grade 4 (>500 mg/dL) that resolves within 7 days is not
    a DLT; 8 days is."""
    flag = _evaluate(_event(term, 4, duration=duration))
    assert flag.is_dlt is is_dlt
    assert flag.rule == (GRADE_3_NON_HAEMATOLOGICAL if is_dlt else RESOLVING_LAB_ONLY)


def test_grade_3_fatigue_lasting_7_days_is_not_a_dlt():
    """Default rule set: CTCAE v5.0 "Fatigue" grade 3 that comes down within 7 days is not a
    DLT."""
    flag = _evaluate(_event(FATIGUE, 3, duration=7))
    assert not flag.is_dlt
    assert flag.rule == SHORT_FATIGUE
    assert flag.duration_days == 7


def test_grade_3_fatigue_lasting_8_days_is_a_dlt():
    """Default rule set: CTCAE v5.0 "Fatigue" grade 3 for 8 days."""
    flag = _evaluate(_event(FATIGUE, 3, duration=8))
    assert flag.is_dlt
    assert flag.rule == GRADE_3_NON_HAEMATOLOGICAL
    assert flag.duration_days == 8


def test_grade_3_fatigue_that_came_down_to_grade_2_within_7_days_is_not_a_dlt():
    """Default rule set: the days count at grade 3 or more, from the grade history: 5 days at
    grade 3, then grade 2 until it resolved on day 30."""
    flag = _evaluate(_event(FATIGUE, 3, duration=30, grades=[(0, 3), (5, 2)]))
    assert flag.rule == SHORT_FATIGUE
    assert flag.duration_days == 30


@pytest.mark.parametrize("days_to_cutoff", [1, 7, 8])
def test_an_unresolved_event_still_at_its_grade_is_a_potential_dlt(days_to_cutoff):
    """Default rule set: an unresolved event lasts from onset to the cutoff, and "at most 7
    days" holds only once it has come down. Ongoing CTCAE v5.0 "Fatigue" grade 3 is a
    (potential) DLT at a cutoff 1, 7 or 8 days after onset; once it comes down within 7 days
    it is not."""
    event = _event(FATIGUE, 3, duration=None)
    flag = _evaluate(event, cutoff=event.onset_on + dt.timedelta(days=days_to_cutoff))
    assert flag.is_dlt
    assert flag.rule == GRADE_3_NON_HAEMATOLOGICAL
    assert flag.duration_days == days_to_cutoff
    assert f"for {_days_text(days_to_cutoff)} (ongoing at cutoff)" in flag.reason


def test_a_grade_step_after_the_cutoff_is_not_known_at_the_cutoff():
    """Fatigue grade 3 from day 12, down to grade 2 on day 15, unresolved: at a cutoff on day
    14 it is still at grade 3 (a potential DLT); at one on day 16 it has come down after 3
    days (not a DLT)."""
    event = _event(FATIGUE, 3, duration=None, grades=[(0, 3), (3, 2)])
    assert _evaluate(event, cutoff=_day(14)).rule == GRADE_3_NON_HAEMATOLOGICAL
    assert _evaluate(event, cutoff=_day(16)).rule == SHORT_FATIGUE


def test_a_term_is_matched_whatever_its_case_and_reported_in_ctcae_spelling():
    flag = _evaluate(_event("  fatigue ", 3, duration=7))
    assert flag.rule == SHORT_FATIGUE
    assert flag.term == FATIGUE
    assert flag.reason.startswith("Fatigue grade 3")


# --- Beyond the event: Hy's law and the start of cycle 2 ------------------------------------


def _liver_labs(day, alt="130", bili="2.5"):
    """ALT with ULN 40 U/L and total bilirubin with ULN 1.2 mg/dL, collected on ``day``."""
    return (
        LabValue("ALT", Decimal(alt), Decimal("40"), _day(day)),
        LabValue("BILI", Decimal(bili), Decimal("1.2"), _day(day)),
    )


@pytest.mark.parametrize(
    ("alt", "bili", "rule"),
    [
        ("130", "2.5", HYS_LAW),  # 3.25 x ULN and 2.08 x ULN
        ("120", "2.5", RULE_NO_RULE),  # ALT exactly 3 x ULN is not above it
        ("130", "2.4", RULE_NO_RULE),  # bilirubin exactly 2 x ULN is not above it
    ],
)
def test_a_grade_2_alt_increase_meeting_hys_law_is_a_dlt(alt, bili, rule):
    """Default rule set: Hy's law (FDA, Guidance for Industry: Drug-Induced Liver Injury, 2009:
    ALT or AST > 3 x ULN with total bilirubin > 2 x ULN) on a day of the event is a DLT at any
    grade. CTCAE v5.0 "Alanine aminotransferase increased" grade 2 is >3.0-5.0 x ULN."""
    context = SubjectContext(labs=_liver_labs(14, alt, bili))
    flag = _evaluate(_event("Alanine aminotransferase increased", 2, duration=10), context=context)
    assert flag.rule == rule
    assert flag.is_dlt is (rule == HYS_LAW)


def test_hys_law_comes_before_the_7_day_transaminase_exclusion():
    """Default rule set: a grade 3 ALT increase of 2 days meeting Hy's law is a DLT."""
    context = SubjectContext(labs=_liver_labs(13))
    flag = _evaluate(_event("Alanine aminotransferase increased", 3, duration=2), context=context)
    assert flag.rule == HYS_LAW


@pytest.mark.parametrize(("days_late", "rule"), [(14, RULE_NO_RULE), (15, CYCLE_2_DELAY)])
def test_a_grade_2_event_that_delays_cycle_2_by_more_than_14_days_is_a_dlt(days_late, rule):
    """Default rule set: a toxicity of grade 2 or more ongoing on the planned day 1 of cycle 2
    (day 22 of 21-day cycles) that starts more than 14 days late is a DLT. CTCAE v5.0
    "Fatigue" grade 2 from day 12, ongoing."""
    planned = _day(22)
    next_cycle = NextCycle(planned, planned + dt.timedelta(days=days_late))
    flag = _evaluate(
        _event(FATIGUE, 2, duration=None), context=SubjectContext(next_cycle=next_cycle)
    )
    assert flag.rule == rule
    assert flag.is_dlt is (rule == CYCLE_2_DELAY)


def test_a_cycle_delay_does_not_make_a_lymphopenia_a_dlt():
    """Default rule set: lymphopenia comes before cycle_2_delay."""
    planned = _day(22)
    context = SubjectContext(next_cycle=NextCycle(planned, planned + dt.timedelta(days=30)))
    flag = _evaluate(_event(LYMPHOCYTE_COUNT_DECREASED, 3, duration=None), context=context)
    assert flag.rule == LYMPHOPENIA


# --- Every rule of the default set decides some event ----------------------------------------

_PLANNED_CYCLE_2 = _day(22)
_LATE_CYCLE_2 = SubjectContext(
    next_cycle=NextCycle(_PLANNED_CYCLE_2, _PLANNED_CYCLE_2 + dt.timedelta(days=15))
)
_EPISTAXIS_GRADE_2 = SubjectContext(other_events=(OtherEvent("Epistaxis", 2, _day(14), _day(16)),))
_HYS_LAW_LABS = SubjectContext(labs=_liver_labs(14))

EVENT_PER_RULE = [
    (TREATMENT_RELATED_DEATH, _event("Sepsis", 5, duration=0), NO_CONTEXT),
    (LYMPHOPENIA, _event(LYMPHOCYTE_COUNT_DECREASED, 3), NO_CONTEXT),
    (CYCLE_2_DELAY, _event(FATIGUE, 2, duration=None), _LATE_CYCLE_2),
    (FEBRILE_NEUTROPENIA_RULE, _event(FEBRILE_NEUTROPENIA, 3, duration=1), NO_CONTEXT),
    (THROMBOCYTOPENIA_BLEEDING, _event(PLATELET_COUNT_DECREASED, 3), _EPISTAXIS_GRADE_2),
    (THROMBOCYTOPENIA_GRADE_4, _event(PLATELET_COUNT_DECREASED, 4, duration=2), NO_CONTEXT),
    (SHORT_HAEMATOLOGICAL_GRADE_4, _event(NEUTROPHIL_COUNT_DECREASED, 4, duration=5), NO_CONTEXT),
    (HAEMATOLOGICAL_GRADE_4, _event(NEUTROPHIL_COUNT_DECREASED, 4, duration=8), NO_CONTEXT),
    (GRADE_3_HAEMATOLOGICAL, _event("Anemia", 3), NO_CONTEXT),
    (HYS_LAW, _event("Alanine aminotransferase increased", 2), _HYS_LAW_LABS),
    (SHORT_GI, _event("Nausea", 3, duration=2), NO_CONTEXT),
    (SHORT_ELECTROLYTE, _event("Hypokalemia", 3, duration=2), NO_CONTEXT),
    (SHORT_TRANSAMINASE, _event("Aspartate aminotransferase increased", 3, duration=5), NO_CONTEXT),
    (SHORT_FATIGUE, _event(FATIGUE, 3, duration=5), NO_CONTEXT),
    (RESOLVING_LAB_ONLY, _event("GGT increased", 3, duration=5), NO_CONTEXT),
    (GRADE_3_NON_HAEMATOLOGICAL, _event("Capillary leak syndrome", 3, duration=1), NO_CONTEXT),
]


@pytest.mark.parametrize(("rule_id", "event", "context"), EVENT_PER_RULE)
def test_each_rule_of_the_default_set_decides_an_event_and_names_itself(rule_id, event, context):
    """One event per rule of studies/dlt-default.json, CTCAE v5.0 terms and grades: the flag
    names the rule, its verdict is the rule's outcome and the reason ends with its text."""
    flag = _evaluate(event, context=context)
    assert flag.rule == rule_id
    assert flag.is_dlt is default_rules().rule(rule_id).is_dlt
    assert flag.reason.endswith(_explanation(rule_id))


def test_every_rule_of_the_default_set_is_reached_by_some_event():
    """No rule of the default set is shadowed entirely by the rules before it."""
    assert [rule_id for rule_id, _event, _context in EVENT_PER_RULE] == list(DEFAULT_IDS)


# --- Another rule set ------------------------------------------------------------------------


def test_a_rule_set_passed_in_decides_instead_of_the_default():
    rules = parse_rules(
        [
            {
                "id": "any_fatigue",
                "text": "Fatigue of any grade is a DLT.",
                "outcome": "dlt",
                "events": {"terms": ["Fatigue"]},
            }
        ]
    )
    flag = _evaluate(_event(FATIGUE, 1, duration=1), rules=rules)
    assert flag.is_dlt
    assert flag.rule == "any_fatigue"
    assert flag.reason.endswith("; DLT: rule any_fatigue: Fatigue of any grade is a DLT.")
    assert _evaluate(_event("Nausea", 3, duration=1), rules=rules).rule == RULE_NO_RULE


def test_the_window_and_attribution_are_checked_before_a_rule_set_passed_in():
    rules = parse_rules([{"id": "everything", "text": "Every event is a DLT.", "outcome": "dlt"}])
    assert _evaluate(_event(onset_day=22), rules=rules).rule == RULE_OUTSIDE_WINDOW
    unrelated = _event(attributions={"IL2": "unlikely"})
    assert _evaluate(unrelated, rules=rules).rule == RULE_NOT_RELATED


# --- Reason text ---------------------------------------------------------------------------


def test_the_reason_names_term_grade_duration_relation_onset_day_and_rule():
    """The protocol's example: CTCAE v5.0 "Fatigue" grade 3 for 10 days, possibly related to
    IL2, onset day 12."""
    flag = _evaluate(_event(FATIGUE, 3, onset_day=12, duration=10, event_id=41))
    assert flag == DltFlag(
        event_id=41,
        is_dlt=True,
        rule=GRADE_3_NON_HAEMATOLOGICAL,
        reason=(
            "Fatigue grade 3 for 10 days, possibly related to IL2, onset day 12; "
            "DLT: rule grade_3_non_haematological: "
            "Any other non-haematological toxicity of grade 3 or more is a DLT."
        ),
        onset_day=12,
        duration_days=10,
        term=FATIGUE,
        grade=3,
    )


def test_the_reason_names_every_most_related_agent():
    attributions = {"IM": "probable", "CTX": "possible", "IL2": "probable"}
    flag = _evaluate(_event("Diarrhea", 4, duration=1, onset_day=3, attributions=attributions))
    assert flag.reason.startswith(
        "Diarrhea grade 4 for 1 day, probably related to IL2 and IM, onset day 3; DLT: "
    )


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


def test_the_reason_of_an_exclusion_says_which_rule_and_why():
    flag = _evaluate(_event(PLATELET_COUNT_DECREASED, 3, duration=30))
    assert flag.reason == (
        "Platelet count decreased grade 3 for 30 days, possibly related to IL2, onset day 12; "
        "not a DLT: rule grade_3_haematological: Other grade 3 haematological toxicity is not "
        "a DLT."
    )


@pytest.mark.parametrize("rule_id", DEFAULT_IDS)
def test_every_rule_of_the_default_set_states_its_verdict_in_its_text(rule_id):
    """A rule's text is printed after its verdict: it must say the same ("is a DLT" for a DLT
    rule, "not a DLT"/"not DLTs" for an exclusion)."""
    rule = default_rules().rule(rule_id)
    if rule.is_dlt:
        assert rule.text.endswith("is a DLT.")
    else:
        assert "not a DLT" in rule.text or "not DLTs" in rule.text


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
    """It has not come down by the cutoff (it had not begun), so no "at most 7 days" exclusion
    holds: grade 3 fatigue is taken by grade_3_non_haematological."""
    flag = _evaluate(_event(duration=None), cutoff=_day(11))
    assert flag.duration_days == 0
    assert "for 0 days (ongoing at cutoff)" in flag.reason
    assert flag.rule == GRADE_3_NON_HAEMATOLOGICAL


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
RULE_SETS = {"default": None, "reference": REFERENCE_RULES}


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


@settings(max_examples=300, deadline=None)
@given(events())
def test_the_rule_code_agrees_with_the_verdict(event):
    """A DLT is named by a DLT rule of the default set; an event that is not a DLT by an
    exclusion of the set or by a check made before the rules. With no labs and no next cycle
    (so neither hys_law nor cycle_2_delay can hold), grades 1-2 are never DLTs."""
    flag = _evaluate(event)
    assert flag.rule in (DLT_IDS if flag.is_dlt else NOT_DLT_IDS | CHECK_CODES)
    if event.grade < 3:
        assert not flag.is_dlt


@pytest.mark.parametrize("rule_set", RULE_SETS)
@settings(max_examples=300, deadline=None)
@given(event=events(), extra_days=st.integers(1, 30))
def test_a_longer_event_is_never_less_of_a_dlt(rule_set, event, extra_days):
    """Every exclusion of the default and the reference rule sets is for short events ("at
    most N days", "resolves within N days") or independent of the duration, and no DLT rule
    asks for a short event: lasting longer can only take an exclusion away."""
    longer = dataclasses.replace(
        event, resolved_on=event.resolved_on + dt.timedelta(days=extra_days)
    )
    rules = RULE_SETS[rule_set]
    assert _evaluate(longer, rules=rules).is_dlt >= _evaluate(event, rules=rules).is_dlt


@pytest.mark.parametrize("rule_set", RULE_SETS)
@settings(max_examples=300, deadline=None)
@given(events())
def test_an_event_still_ongoing_is_never_less_of_a_dlt_than_the_same_event_resolved(
    rule_set, event
):
    """At a cutoff on the day an event resolved, the same event recorded as still ongoing has
    lasted as long, but has not come down: no "at most" or "resolves" exclusion holds for it."""
    ongoing = dataclasses.replace(event, resolved_on=None)
    rules = RULE_SETS[rule_set]
    resolved_flag = _evaluate(event, rules=rules)
    ongoing_flag = _evaluate(ongoing, cutoff=event.resolved_on, rules=rules)
    assert ongoing_flag.duration_days == resolved_flag.duration_days
    assert ongoing_flag.is_dlt >= resolved_flag.is_dlt


@settings(max_examples=300, deadline=None)
@given(events())
def test_a_more_related_event_is_never_less_of_a_dlt(event):
    definite = dict.fromkeys(event.attributions, "definite")
    more = dataclasses.replace(event, attributions=definite)
    assert _evaluate(more).is_dlt >= _evaluate(event).is_dlt


@pytest.mark.parametrize("rule_set", RULE_SETS)
@settings(max_examples=300, deadline=None)
@given(data=st.data())
def test_a_higher_grade_of_the_same_event_is_never_less_of_a_dlt(rule_set, data):
    """With no grade history, a worse grade of the same term, onset and duration is at least as
    much a DLT: every exclusion stops at a grade (max_grade) above which a DLT rule takes over."""
    term, grades = data.draw(st.sampled_from(TERMS_WITH_GRADES))
    low, high = sorted(data.draw(st.lists(st.sampled_from(grades), min_size=2, max_size=2)))
    duration = data.draw(st.integers(0, 40) | st.none())
    rules = RULE_SETS[rule_set]
    lower = _evaluate(_event(term, low, duration=duration), rules=rules)
    higher = _evaluate(_event(term, high, duration=duration), rules=rules)
    assert higher.is_dlt >= lower.is_dlt


# --- CTCAE v5.0 term names -----------------------------------------------------------------


def _stated_terms(rules_data):
    return sorted({term for rule in rules_data for term in rule.get("events", {}).get("terms", [])})


DEFAULT_FILE_TERMS = _stated_terms(json.loads(DEFAULT_RULES_PATH.read_text("utf-8"))["rules"])


@pytest.mark.parametrize("term", DEFAULT_FILE_TERMS)
def test_every_term_of_the_default_rule_set_is_spelled_as_in_ctcae(term):
    """Every term named by studies/dlt-default.json exists exactly (case included) in CTCAE
    v5.0, as the file is read by people too."""
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
    flag = _evaluate(_event(FATIGUE, 3, onset_day=12, duration=1), cutoff=_day(13))
    assert flag.is_dlt is False  # came down after 1 day: not a DLT by the rules
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


def test_a_run_of_identical_doses_counts_as_its_days():
    """A loader may give identical doses as one run of N days: 3 MIU planned on days 10-14 with
    2.25 MIU given on each of days 10-13 as one run and 2.25 on day 14 is 75% exactly, the
    minimum, as five single doses are; one more day of 2.25 planned at 3 (day 15) is not."""
    runs = [DoseFacts("IL2", _day(10), Decimal("3"), Decimal("2.25"), "", days=4)]
    day_14 = [_dose("IL2", 14, "3", "2.25")]
    singles = [_dose("IL2", day, "3", "2.25") for day in range(10, 15)]
    for doses in (runs + day_14, singles):
        assert _subject(doses=_full_doses() + doses).evaluable
    short = DoseFacts("IL2", _day(10), Decimal("3"), Decimal("2.2"), "", days=5)
    assert _subject(doses=_full_doses() + [short]).reason == (
        "Not evaluable: received 73.3% of the planned IL2 dose in the DLT window (75% required)"
    )
    excused = DoseFacts("IL2", _day(10), Decimal("3"), Decimal("1"), "adverse_event", days=5)
    exposure = window_exposure([excused], _day(1), _day(21))["IL2"]
    assert (exposure.given, exposure.planned, exposure.counted_planned) == (5, 15, 5)


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
        "Fatigue grade 3 for 10 days, possibly related to IL2, onset day 12; "
        "DLT: rule grade_3_non_haematological: "
        "Any other non-haematological toxicity of grade 3 or more is a DLT."
    )
