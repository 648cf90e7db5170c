"""The DLT rule vocabulary (ecrf.safety.dlt_rules), element by element at its boundaries.

Pure module, plain values, no ORM. Terms, SOCs and grades are CTCAE v5.0's; Hy's law is the
FDA's (Guidance for Industry: Drug-Induced Liver Injury: Premarketing Clinical Evaluation,
2009): ALT or AST > 3 x ULN and total bilirubin > 2 x ULN. Every event here has its onset on
ONSET (2026-03-13); ``_on(n)`` is the day n days after it.
"""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from pathlib import Path

import pytest

from ecrf.safety import dlt_rules as r
from ecrf.safety.dlt_rules import (
    NO_CONTEXT,
    Course,
    DltRulesError,
    GradeStep,
    LabValue,
    NextCycle,
    OtherEvent,
    SubjectContext,
    bleeding_during,
    course_of,
    cycle_delay_days,
    decide,
    default_rules,
    group_terms,
    holds,
    hys_law_during,
    parse_rules,
    rule_problems,
    rules_digest,
)

ROOT = Path(__file__).resolve().parents[3]
ONSET = dt.date(2026, 3, 13)
CUTOFF = dt.date(2026, 6, 30)


def _on(days: int) -> dt.date:
    return ONSET + dt.timedelta(days=days)


def _data(**keys):
    """One rule as a study file states it: a DLT rule with the given keys."""
    return {"id": "r", "text": "A rule.", "outcome": "dlt", **keys}


def _rule(**keys):
    return parse_rules([_data(**keys)]).rules[0]


def _course(grade=3, *, steps=(), resolved=None, cutoff=CUTOFF):
    """The course of an event of worst grade ``grade`` from ONSET; ``steps`` are (days after
    onset, grade); ``resolved`` is days after onset (None: unresolved)."""
    return course_of(
        grade=grade,
        onset_on=ONSET,
        resolved_on=None if resolved is None else _on(resolved),
        steps=[GradeStep(_on(d), g) for d, g in steps],
        cutoff=cutoff,
    )


def _holds(
    rule, term="Fatigue", grade=3, course=None, *, care=False, context=NO_CONTEXT, cutoff=CUTOFF
):
    return holds(
        rule,
        term=term,
        grade=grade,
        course=course if course is not None else _course(grade, resolved=10),
        despite_supportive_care=care,
        context=context,
        cutoff=cutoff,
    )


def _problems(data, path="dlt.rules"):
    rule_set, problems = rule_problems(data, path)
    assert (rule_set is None) is bool(problems)
    return problems


# --- events: terms, SOCs and groups -------------------------------------------------------


@pytest.mark.parametrize(
    ("stated", "term", "covered"),
    [
        ("Fatigue", "Fatigue", True),
        ("fatigue", "Fatigue", True),  # any case
        ("  FATIGUE ", "Fatigue", True),  # surrounding blanks
        ("Fatigue", "Nausea", False),
        ("Alanine aminotransferase increased", "Alanine aminotransferase increased", True),
        ("Alanine aminotransferase increased", "Aspartate aminotransferase increased", False),
    ],
)
def test_a_term_of_the_rule_covers_that_ctcae_term_only(stated, term, covered):
    """CTCAE v5.0 terms, matched whatever their case and stored in CTCAE spelling."""
    assert _rule(events={"terms": [stated]}).covers(term) is covered


@pytest.mark.parametrize("stated", ["Fatigue", "fatigue", "  FATIGUE ", "FaTiGuE"])
def test_a_term_is_stored_in_ctcae_spelling(stated):
    rule_set = parse_rules([_data(events={"terms": [stated]})])
    assert rule_set.rules[0].terms == {"Fatigue"}
    assert rule_set.data[0]["events"] == {"terms": ["Fatigue"]}


def test_a_soc_must_be_spelled_as_in_ctcae():
    """Unlike terms, SOCs are matched exactly; the problem names the CTCAE spelling."""
    assert _problems([_data(events={"socs": ["investigations"]})]) == [
        "dlt.rules[0].events.socs[0]: 'investigations' is not a CTCAE v5.0 system organ "
        "class. Closest: Investigations."
    ]


@pytest.mark.parametrize(
    ("term", "covered"),
    [
        ("Anemia", True),  # Blood and lymphatic system disorders
        ("Febrile neutropenia", True),  # Blood and lymphatic system disorders
        ("Neutrophil count decreased", False),  # Investigations, although a blood count
        ("Fatigue", False),  # General disorders and administration site conditions
    ],
)
def test_a_soc_of_the_rule_covers_the_terms_of_that_soc(term, covered):
    """CTCAE v5.0 system organ classes, by the SOC each term is filed under."""
    rule = _rule(events={"socs": ["Blood and lymphatic system disorders"]})
    assert rule.covers(term) is covered


@pytest.mark.parametrize(
    ("group", "term", "member"),
    [
        ("haematological", "Anemia", True),  # Blood and lymphatic system disorders
        ("haematological", "Neutrophil count decreased", True),  # a count of Investigations
        ("haematological", "White blood cell decreased", True),
        ("haematological", "CD4 lymphocytes decreased", True),
        ("haematological", "INR increased", False),  # a coagulation test, not a count
        ("haematological", "Alanine aminotransferase increased", False),
        ("non_haematological", "Fatigue", True),
        ("non_haematological", "INR increased", True),
        ("non_haematological", "Platelet count decreased", False),
        ("non_haematological", "Anemia", False),
        ("lab_only", "GGT increased", True),  # graded from a lab value alone
        ("lab_only", "Lipase increased", True),
        ("lab_only", "Serum amylase increased", True),
        ("lab_only", "Hypoalbuminemia", True),
        ("lab_only", "Cholesterol high", True),
        ("lab_only", "Hypokalemia", True),
        ("lab_only", "Neutrophil count decreased", False),  # blood counts are excluded
        ("lab_only", "Fever", False),  # body temperature is a vital sign
        ("lab_only", "Fatigue", False),  # no lab value grades it
        ("lab_only", "Hypophosphatemia", False),  # not graded by ecrf.ctcae.labs
        ("bleeding", "Epistaxis", True),  # named otherwise
        ("bleeding", "Bruising", True),
        ("bleeding", "Hematuria", True),
        ("bleeding", "Gastric hemorrhage", True),  # a "... hemorrhage" term
        ("bleeding", "Intracranial hemorrhage", True),
        ("bleeding", "Intestinal stoma site bleeding", True),  # a "... bleeding" term
        ("bleeding", "Platelet count decreased", False),
        ("bleeding", "Anemia", False),
    ],
)
def test_a_group_covers_its_ctcae_terms(group, term, member):
    """The named groups of ``GROUPS`` over CTCAE v5.0 terms."""
    assert (term in group_terms(group)) is member
    assert _rule(events={"groups": [group]}).covers(term) is member


def test_haematological_and_non_haematological_split_ctcae_in_two():
    """Every CTCAE v5.0 term (837 in all) is in exactly one of the two groups."""
    haem, other = group_terms("haematological"), group_terms("non_haematological")
    assert not haem & other
    assert len(haem | other) == 837


def test_an_event_is_covered_when_it_is_in_any_of_terms_socs_or_groups():
    rule = _rule(events={"terms": ["Fatigue"], "socs": ["Investigations"], "groups": ["bleeding"]})
    assert all(rule.covers(t) for t in ("Fatigue", "GGT increased", "Epistaxis"))
    assert not rule.covers("Nausea")


def test_a_rule_without_events_covers_every_term():
    rule = _rule()
    assert not rule.scoped
    assert all(rule.covers(t) for t in ("Fatigue", "Anemia", "Epistaxis", "Sepsis"))


def test_a_rule_applies_only_to_the_events_it_covers():
    rule = _rule(events={"terms": ["Nausea"]})
    assert _holds(rule, "Nausea")
    assert not _holds(rule, "Vomiting")


# --- grade and max_grade ---------------------------------------------------------------------


@pytest.mark.parametrize(("grade", "expected"), [(2, False), (3, True), (4, True), (5, False)])
def test_the_worst_grade_must_lie_from_grade_to_max_grade(grade, expected):
    """grade 3, max_grade 4: one below the minimum and one above the maximum do not hold."""
    rule = _rule(grade=3, max_grade=4)
    assert _holds(rule, "Diarrhea", grade) is expected


@pytest.mark.parametrize("grade", [1, 2, 3, 4, 5])
def test_grade_defaults_to_1_and_max_grade_to_5(grade):
    rule = _rule()
    assert (rule.grade, rule.max_grade) == (1, 5)
    assert _holds(rule, "Diarrhea", grade)


@pytest.mark.parametrize(("grade", "expected"), [(4, False), (5, True)])
def test_grade_5_states_a_death(grade, expected):
    """CTCAE v5.0: grade 5 is death related to the adverse event."""
    assert _holds(_rule(grade=5), "Sepsis", grade) is expected


def test_a_rule_of_a_single_grade():
    rule = _rule(grade=4, max_grade=4)
    assert [g for g in (1, 2, 3, 4, 5) if _holds(rule, "Diarrhea", g)] == [4]


# --- The course of an event ------------------------------------------------------------------


def test_an_event_with_no_grade_history_was_at_its_grade_throughout():
    course = _course(3, resolved=6)
    assert course.steps == (GradeStep(ONSET, 3),)
    assert (course.end_on, course.ongoing) == (_on(6), False)
    assert course.days_at_or_above(3) == 6
    assert course.days_at_or_above(4) == 0


def test_the_days_at_or_above_a_grade_come_from_the_grade_history():
    """Grade 2 from day 0, grade 3 from day 2, grade 1 from day 5, resolved on day 9: 3 days
    at grade 3 or more, 5 at grade 2 or more, 9 at grade 1 or more."""
    course = _course(3, steps=[(0, 2), (2, 3), (5, 1)], resolved=9)
    assert [course.days_at_or_above(g) for g in (1, 2, 3, 4)] == [9, 5, 3, 0]
    assert course.first_at_or_above(3) == _on(2)
    assert course.first_at_or_above(4) is None


def test_every_spell_at_or_above_the_grade_counts():
    """Grade 3 on days 0-2, grade 2 on days 2-4, grade 3 again on days 4-6: 4 days at 3."""
    course = _course(3, steps=[(0, 3), (2, 2), (4, 3)], resolved=6)
    assert course.days_at_or_above(3) == 4


def test_an_unresolved_event_runs_to_the_cutoff():
    course = _course(4, resolved=None, cutoff=_on(3))
    assert (course.end_on, course.ongoing) == (_on(3), True)
    assert course.days_at_or_above(4) == 3
    assert course.still_at_or_above(4)


def test_a_resolution_after_the_cutoff_is_not_known_at_the_cutoff():
    course = _course(3, resolved=20, cutoff=_on(10))
    assert (course.end_on, course.ongoing) == (_on(10), True)


def test_a_grade_step_after_the_cutoff_is_left_out():
    course = _course(4, steps=[(0, 4), (5, 2)], cutoff=_on(4))
    assert course.steps == (GradeStep(ONSET, 4),)
    assert course.still_at_or_above(4)


def test_a_history_that_starts_after_the_onset_gets_a_step_at_the_onset():
    """The first recorded grade is taken to have held from the onset."""
    course = _course(3, steps=[(2, 3), (4, 1)], resolved=6)
    assert course.steps[0] == GradeStep(ONSET, 3)
    assert course.days_at_or_above(3) == 4


def test_steps_are_read_in_date_order():
    course = _course(3, steps=[(5, 1), (0, 2), (2, 3)], resolved=9)
    assert [s.grade for s in course.steps] == [2, 3, 1]


def test_an_event_that_had_not_begun_at_the_cutoff_has_lasted_0_days():
    course = course_of(grade=3, onset_on=ONSET, resolved_on=None, steps=(), cutoff=_on(-2))
    assert (course.end_on, course.ongoing) == (ONSET, True)
    assert course.days_at_or_above(1) == 0


# --- duration --------------------------------------------------------------------------------


def _spell_at_3(days):
    """Grade 2 from day 0, grade 3 from day 2 for ``days`` days, then grade 1 until day 20."""
    return _course(3, steps=[(0, 2), (2, 3), (2 + days, 1)], resolved=20)


@pytest.mark.parametrize(("days", "expected"), [(2, False), (3, False), (4, True)])
def test_more_than_days_holds_for_n_plus_1_days_at_or_above_the_grade(days, expected):
    """more_than_days 3: N-1 and N days at grade 3 or more do not hold, N+1 does."""
    rule = _rule(grade=3, duration={"more_than_days": 3})
    assert _holds(rule, "Diarrhea", 3, _spell_at_3(days)) is expected


@pytest.mark.parametrize(("days", "expected"), [(2, True), (3, True), (4, False)])
def test_at_most_days_holds_for_up_to_n_days_at_or_above_the_grade(days, expected):
    """at_most_days 3: N-1 and N days at grade 3 or more hold, N+1 does not."""
    rule = _rule(grade=3, duration={"at_most_days": 3})
    assert _holds(rule, "Diarrhea", 3, _spell_at_3(days)) is expected


def test_more_than_0_days_needs_one_day_and_at_most_0_days_allows_none():
    rule_more = _rule(grade=3, duration={"more_than_days": 0})
    rule_at_most = _rule(grade=3, duration={"at_most_days": 0})
    same_day = _course(3, resolved=0)
    one_day = _course(3, resolved=1)
    assert (
        _holds(rule_more, "Diarrhea", 3, same_day),
        _holds(rule_more, "Diarrhea", 3, one_day),
    ) == (False, True)
    assert (
        _holds(rule_at_most, "Diarrhea", 3, same_day),
        _holds(rule_at_most, "Diarrhea", 3, one_day),
    ) == (True, False)


@pytest.mark.parametrize("days_to_cutoff", [1, 3])
def test_at_most_days_does_not_hold_while_the_event_is_still_at_the_grade(days_to_cutoff):
    """An ongoing event still at grade 3 at the cutoff is not yet known to be short, even
    after fewer than N days."""
    rule = _rule(grade=3, duration={"at_most_days": 3})
    course = _course(3, resolved=None, cutoff=_on(days_to_cutoff))
    assert not _holds(rule, "Diarrhea", 3, course, cutoff=_on(days_to_cutoff))


def test_at_most_days_holds_for_an_ongoing_event_that_came_down_below_the_grade():
    """Grade 3 for 2 days, then grade 1, still ongoing at the cutoff on day 10."""
    rule = _rule(grade=3, duration={"at_most_days": 3})
    course = _course(3, steps=[(0, 3), (2, 1)], resolved=None, cutoff=_on(10))
    assert course.ongoing
    assert _holds(rule, "Diarrhea", 3, course, cutoff=_on(10))


def test_more_than_days_counts_an_ongoing_event_to_the_cutoff():
    rule = _rule(grade=4, duration={"more_than_days": 7})
    for days, expected in [(7, False), (8, True)]:
        course = _course(4, resolved=None, cutoff=_on(days))
        assert _holds(rule, "Anemia", 4, course, cutoff=_on(days)) is expected


def test_the_duration_counts_at_the_rules_grade_not_the_events():
    """A grade 4 event 2 days at grade 4 and 5 days at grade 3: 7 days at 3 or more."""
    course = _course(4, steps=[(0, 4), (2, 3)], resolved=7)
    assert _holds(_rule(grade=3, duration={"more_than_days": 6}), "Diarrhea", 4, course)
    assert not _holds(_rule(grade=4, duration={"more_than_days": 6}), "Diarrhea", 4, course)


# --- resolves --------------------------------------------------------------------------------


@pytest.mark.parametrize(("day_down", "expected"), [(6, True), (7, True), (8, False)])
def test_resolves_holds_when_the_event_came_down_within_n_days_of_reaching_the_grade(
    day_down, expected
):
    """resolves to grade 1 within 7 days of first reaching grade 3: grade 2 from day 0, grade 3
    from day 1, grade 1 from day 1 + 6/7/8; the event resolves on day 30."""
    rule = _rule(grade=3, resolves={"to_grade": 1, "within_days": 7})
    course = _course(3, steps=[(0, 2), (1, 3), (1 + day_down, 1)], resolved=30)
    assert _holds(rule, "GGT increased", 3, course) is expected


def test_resolves_needs_the_event_to_come_down_to_the_grade_named_or_lower():
    """Down to grade 2 on day 2 is not down to grade 1; the resolution on day 12 is too late."""
    rule = _rule(grade=3, resolves={"to_grade": 1, "within_days": 7})
    course = _course(3, steps=[(0, 3), (2, 2)], resolved=12)
    assert not _holds(rule, "GGT increased", 3, course)
    assert _holds(
        _rule(grade=3, resolves={"to_grade": 2, "within_days": 7}), "GGT increased", 3, course
    )


@pytest.mark.parametrize(("resolved", "expected"), [(7, True), (8, False)])
def test_a_resolution_is_a_coming_down_to_grade_0(resolved, expected):
    """With no history, the event came down (to grade 0) on its resolution date."""
    rule = _rule(grade=3, resolves={"to_grade": 0, "within_days": 7})
    assert _holds(rule, "GGT increased", 3, _course(3, resolved=resolved)) is expected


def test_an_ongoing_event_has_not_resolved():
    rule = _rule(grade=3, resolves={"to_grade": 1, "within_days": 7})
    course = _course(3, steps=[(0, 3), (2, 2)], resolved=None, cutoff=_on(20))
    assert not _holds(rule, "GGT increased", 3, course, cutoff=_on(20))


def test_an_ongoing_event_that_came_down_to_the_grade_named_has_resolved_enough():
    rule = _rule(grade=3, resolves={"to_grade": 1, "within_days": 7})
    course = _course(3, steps=[(0, 3), (2, 1)], resolved=None, cutoff=_on(20))
    assert _holds(rule, "GGT increased", 3, course, cutoff=_on(20))


# --- requires: bleeding and despite_supportive_care -----------------------------------------


def _epistaxis(grade, onset, resolved):
    """CTCAE v5.0 "Epistaxis": grade 1 mild, no intervention; grade 2 moderate, medical
    intervention indicated (e.g. nasal packing, cauterization)."""
    return OtherEvent("Epistaxis", grade, _on(onset), None if resolved is None else _on(resolved))


@pytest.mark.parametrize(
    ("bleeding", "expected"),
    [
        (_epistaxis(2, 2, 4), True),  # grade 2, during the event (days 0-10)
        (_epistaxis(1, 2, 4), False),  # grade 1 is below the minimum
        (_epistaxis(3, 2, 4), True),
        (_epistaxis(2, -5, -1), False),  # ended the day before onset
        (_epistaxis(2, -5, 0), True),  # ended on the day of onset
        (_epistaxis(2, 10, None), True),  # began on the event's last day
        (_epistaxis(2, 11, None), False),  # began the day after it resolved
        (_epistaxis(2, -5, None), True),  # began before and still ongoing
        (OtherEvent("Gastric hemorrhage", 2, _on(3), _on(4)), True),
        (OtherEvent("Nausea", 3, _on(3), _on(4)), False),  # not a bleeding term
    ],
)
def test_requires_bleeding_needs_a_bleeding_of_grade_2_or_more_overlapping_the_event(
    bleeding, expected
):
    """The platelet count decreased event runs from day 0 to day 10."""
    rule = _rule(events={"terms": ["Platelet count decreased"]}, grade=3, requires=["bleeding"])
    course = _course(3, resolved=10)
    context = SubjectContext(other_events=(bleeding,))
    assert bleeding_during(course, [bleeding], CUTOFF) is expected
    assert _holds(rule, "Platelet count decreased", 3, course, context=context) is expected


def test_requires_bleeding_does_not_hold_without_other_events():
    rule = _rule(requires=["bleeding"])
    assert not _holds(rule, "Platelet count decreased", 3)


def test_an_unresolved_bleeding_runs_to_the_cutoff():
    """A bleeding from day -5, unresolved, overlaps an event from day 0 only if the cutoff is
    on day 0 or later."""
    course = _course(3, resolved=10)
    bleeding = _epistaxis(2, -5, None)
    assert bleeding_during(course, [bleeding], _on(0))
    assert not bleeding_during(course, [bleeding], _on(-1))


@pytest.mark.parametrize(("care", "expected"), [(True, True), (False, False)])
def test_requires_despite_supportive_care_needs_it_recorded_on_the_event(care, expected):
    rule = _rule(events={"terms": ["Nausea"]}, grade=3, requires=["despite_supportive_care"])
    assert _holds(rule, "Nausea", 3, care=care) is expected


def test_every_requirement_must_hold():
    rule = _rule(requires=["bleeding", "despite_supportive_care"])
    context = SubjectContext(other_events=(_epistaxis(2, 2, 4),))
    assert _holds(rule, "Platelet count decreased", 3, care=True, context=context)
    assert not _holds(rule, "Platelet count decreased", 3, care=False, context=context)
    assert not _holds(rule, "Platelet count decreased", 3, care=True)


# --- lab: hys_law ----------------------------------------------------------------------------

ALT_ULN = Decimal("40")  # U/L
BILI_ULN = Decimal("1.2")  # mg/dL


def _lab(test, x_uln, day=3, uln=None):
    """A result of ``x_uln`` times its ULN, collected ``day`` days after onset."""
    uln = uln if uln is not None else (BILI_ULN if test == "BILI" else ALT_ULN)
    return LabValue(test, Decimal(x_uln) * uln, uln, _on(day))


@pytest.mark.parametrize(
    ("labs", "expected"),
    [
        ([_lab("ALT", "3.01"), _lab("BILI", "2.01")], True),
        ([_lab("ALT", "3"), _lab("BILI", "2.01")], False),  # ALT exactly 3 x ULN is not > 3
        ([_lab("ALT", "3.01"), _lab("BILI", "2")], False),  # bilirubin exactly 2 x ULN is not > 2
        ([_lab("AST", "3.01"), _lab("BILI", "2.01")], True),  # AST works as ALT
        ([_lab("AST", "3"), _lab("BILI", "2.5")], False),
        ([_lab("ALT", "10"), _lab("BILI", "5", day=4)], False),  # different days do not combine
        ([_lab("ALT", "10"), _lab("ALT", "1", day=4), _lab("BILI", "5", day=4)], False),
        ([_lab("ALT", "10", day=4), _lab("BILI", "5", day=2), _lab("BILI", "5", day=4)], True),
        ([_lab("ALT", "10")], False),  # no bilirubin
        ([_lab("BILI", "5")], False),  # no aminotransferase
        ([_lab("ALP", "10"), _lab("BILI", "5")], False),  # alkaline phosphatase is not ALT/AST
        ([], False),
    ],
)
def test_hys_law_needs_alt_or_ast_above_3_and_bilirubin_above_2_x_uln_on_one_day(labs, expected):
    """FDA DILI guidance 2009 (Hy's law): ALT or AST > 3 x ULN and total bilirubin > 2 x ULN,
    both strictly above, here on the same collection day during the event (days 0-10)."""
    course = _course(2, resolved=10)
    assert hys_law_during(course, labs) is expected
    rule = _rule(lab="hys_law")
    context = SubjectContext(labs=tuple(labs))
    assert (
        _holds(rule, "Alanine aminotransferase increased", 2, course, context=context) is expected
    )


def test_a_result_without_a_uln_never_counts_for_hys_law():
    course = _course(2, resolved=10)
    no_uln = [LabValue("ALT", Decimal("1000"), None, _on(3)), _lab("BILI", "5")]
    assert not hys_law_during(course, no_uln)
    bili_no_uln = [_lab("ALT", "10"), LabValue("BILI", Decimal("50"), None, _on(3))]
    assert not hys_law_during(course, bili_no_uln)


@pytest.mark.parametrize(("day", "expected"), [(-1, False), (0, True), (10, True), (11, False)])
def test_hys_law_counts_only_collections_during_the_event(day, expected):
    """The event runs from day 0 to its resolution on day 10, both ends included."""
    course = _course(2, resolved=10)
    labs = [_lab("ALT", "4", day=day), _lab("BILI", "3", day=day)]
    assert hys_law_during(course, labs) is expected


def test_without_labs_a_hys_law_rule_does_not_hold():
    assert not _holds(_rule(lab="hys_law"), "Alanine aminotransferase increased", 3)


# --- cycle_delay -----------------------------------------------------------------------------

PLANNED = _on(5)  # the planned day 1 of cycle 2, during the event


def _delay_rule():
    return _rule(grade=2, cycle_delay={"more_than_days": 14})


@pytest.mark.parametrize(("days_late", "expected"), [(13, False), (14, False), (15, True)])
def test_cycle_delay_holds_when_cycle_2_started_more_than_n_days_late(days_late, expected):
    """more_than_days 14: 14 days late does not hold, 15 does. The event is ongoing on the
    planned day 1 of cycle 2 (day 5 of the event)."""
    course = _course(2, resolved=None, cutoff=_on(40))
    next_cycle = NextCycle(PLANNED, PLANNED + dt.timedelta(days=days_late))
    assert cycle_delay_days(course, next_cycle, _on(40)) == days_late
    context = SubjectContext(next_cycle=next_cycle)
    assert _holds(_delay_rule(), "Fatigue", 2, course, context=context, cutoff=_on(40)) is expected


@pytest.mark.parametrize(("days_to_cutoff", "expected"), [(14, False), (15, True)])
def test_a_cycle_2_not_started_by_the_cutoff_is_late_by_the_days_to_the_cutoff(
    days_to_cutoff, expected
):
    cutoff = PLANNED + dt.timedelta(days=days_to_cutoff)
    course = _course(2, resolved=None, cutoff=cutoff)
    next_cycle = NextCycle(PLANNED)
    assert cycle_delay_days(course, next_cycle, cutoff) == days_to_cutoff
    context = SubjectContext(next_cycle=next_cycle)
    assert _holds(_delay_rule(), "Fatigue", 2, course, context=context, cutoff=cutoff) is expected


def test_a_cycle_2_not_started_because_treatment_ended_for_another_reason_is_no_delay():
    """Treatment ended before cycle 2 for a reason other than an adverse event (e.g. the
    patient's decision): the event did not delay it."""
    cutoff = PLANNED + dt.timedelta(days=30)
    course = _course(2, resolved=None, cutoff=cutoff)
    next_cycle = NextCycle(PLANNED, None, ended_for_other_reason=True)
    assert cycle_delay_days(course, next_cycle, cutoff) is None
    context = SubjectContext(next_cycle=next_cycle)
    assert not _holds(_delay_rule(), "Fatigue", 2, course, context=context, cutoff=cutoff)


@pytest.mark.parametrize(
    ("onset_days", "resolved_days", "delayed"),
    [
        (0, 4, False),  # resolved the day before the planned day 1
        (0, 5, True),  # resolved on the planned day 1
        (0, None, True),  # ongoing
        (5, None, True),  # began on the planned day 1
        (6, None, False),  # began the day after it
    ],
)
def test_only_an_event_ongoing_on_the_planned_day_can_delay_cycle_2(
    onset_days, resolved_days, delayed
):
    course = course_of(
        grade=2,
        onset_on=_on(onset_days),
        resolved_on=None if resolved_days is None else _on(resolved_days),
        steps=(),
        cutoff=_on(40),
    )
    next_cycle = NextCycle(PLANNED, PLANNED + dt.timedelta(days=20))
    assert (cycle_delay_days(course, next_cycle, _on(40)) is not None) is delayed
    context = SubjectContext(next_cycle=next_cycle)
    assert _holds(_delay_rule(), "Fatigue", 2, course, context=context, cutoff=_on(40)) is delayed


def test_without_a_next_cycle_a_cycle_delay_rule_does_not_hold():
    course = _course(2, resolved=None, cutoff=_on(40))
    assert cycle_delay_days(course, None, _on(40)) is None
    assert not _holds(_delay_rule(), "Fatigue", 2, course, cutoff=_on(40))


def test_a_cycle_2_started_after_the_cutoff_had_not_started_at_the_cutoff():
    cutoff = PLANNED + dt.timedelta(days=10)
    course = _course(2, resolved=None, cutoff=cutoff)
    next_cycle = NextCycle(PLANNED, PLANNED + dt.timedelta(days=20))
    context = SubjectContext(next_cycle=next_cycle)
    assert not _holds(_delay_rule(), "Fatigue", 2, course, context=context, cutoff=cutoff)
    assert cycle_delay_days(course, next_cycle, cutoff) == 10


# --- outcome, order and no rule --------------------------------------------------------------


def _decide(rules, term="Fatigue", grade=3, course=None, **kwargs):
    return decide(
        rules,
        term=term,
        grade=grade,
        course=course if course is not None else _course(grade, resolved=10),
        cutoff=CUTOFF,
        **kwargs,
    )


@pytest.mark.parametrize(("outcome", "is_dlt"), [("dlt", True), ("not_dlt", False)])
def test_the_outcome_says_whether_the_rule_makes_a_dlt(outcome, is_dlt):
    rules = parse_rules([_data(outcome=outcome)])
    decided = _decide(rules)
    assert decided.outcome == outcome
    assert decided.is_dlt is is_dlt


def test_the_first_rule_that_holds_decides():
    exclusion = {
        "id": "short",
        "text": "Short fatigue is not a DLT.",
        "outcome": "not_dlt",
        "events": {"terms": ["Fatigue"]},
        "duration": {"at_most_days": 7},
    }
    dlt = {"id": "grade_3", "text": "Grade 3 is a DLT.", "outcome": "dlt", "grade": 3}
    short = _course(3, resolved=5)
    assert _decide(parse_rules([exclusion, dlt]), course=short).id == "short"
    assert _decide(parse_rules([dlt, exclusion]), course=short).id == "grade_3"
    # When the first does not hold, the next one decides.
    assert _decide(parse_rules([exclusion, dlt]), course=_course(3, resolved=9)).id == "grade_3"


def test_when_no_rule_holds_nothing_is_decided():
    rules = parse_rules([_data(events={"terms": ["Nausea"]})])
    assert _decide(rules, "Fatigue") is None


def test_decide_passes_the_subject_context_and_supportive_care_to_the_rules():
    rules = parse_rules([_data(requires=["bleeding", "despite_supportive_care"])])
    context = SubjectContext(other_events=(_epistaxis(2, 2, 4),))
    term = "Platelet count decreased"
    assert _decide(rules, term, context=context, despite_supportive_care=True).id == "r"
    assert _decide(rules, term, context=context) is None


# --- Validation: every problem named by its path -------------------------------------------

KNOWN_KEYS = (
    "id, text, outcome, events, grade, max_grade, duration, resolves, requires, lab, cycle_delay"
)
GROUPS_LIST = "haematological, non_haematological, lab_only, bleeding"


@pytest.mark.parametrize(
    ("keys", "problem"),
    [
        ({"grade": 6}, "dlt.rules[0].grade: must be 1-5, not 6"),
        ({"grade": 0}, "dlt.rules[0].grade: must be 1-5, not 0"),
        ({"grade": "3"}, "dlt.rules[0].grade: must be 1-5, not '3'"),
        ({"grade": 3.0}, "dlt.rules[0].grade: must be 1-5, not 3.0"),
        ({"grade": True}, "dlt.rules[0].grade: must be 1-5, not True"),
        ({"max_grade": 6}, "dlt.rules[0].max_grade: must be 1-5, not 6"),
        ({"max_grade": 0}, "dlt.rules[0].max_grade: must be 1-5, not 0"),
        (
            {"grade": 4, "max_grade": 3},
            "dlt.rules[0].max_grade: must be at least the rule's grade (4), not 3",
        ),
        (
            {"events": {"terms": ["Fatigeu"]}},
            "dlt.rules[0].events.terms[0]: Unknown CTCAE v5.0 term 'Fatigeu'. "
            "Closest matches: Fatigue.",
        ),
        (
            {"events": {"socs": ["Blood disorders"]}},
            "dlt.rules[0].events.socs[0]: 'Blood disorders' is not a CTCAE v5.0 system organ "
            "class. Closest: Eye disorders, Cardiac disorders, Vascular disorders.",
        ),
        (
            {"events": {"groups": ["haematologic"]}},
            f"dlt.rules[0].events.groups[0]: 'haematologic' is not a group; the groups are "
            f"{GROUPS_LIST}",
        ),
        (
            {"events": {"terms": ["Fatigue"], "terms_": ["Nausea"]}},
            "dlt.rules[0].events.terms_: is not a known key (known: terms, socs, groups)",
        ),
        ({"events": {}}, "dlt.rules[0].events: must name at least one term, SOC or group"),
        ({"events": ["Fatigue"]}, "dlt.rules[0].events: must be an object"),
        ({"events": {"terms": []}}, "dlt.rules[0].events.terms: must be a non-empty list of texts"),
        (
            {"events": {"terms": "Fatigue"}},
            "dlt.rules[0].events.terms: must be a non-empty list of texts",
        ),
        (
            {"events": {"groups": [3]}},
            "dlt.rules[0].events.groups: must be a non-empty list of texts",
        ),
        (
            {"requires": ["bleed"]},
            "dlt.rules[0].requires[0]: 'bleed' is not a requirement; the requirements are "
            "bleeding, despite_supportive_care",
        ),
        ({"requires": "bleeding"}, "dlt.rules[0].requires: must be a non-empty list of texts"),
        ({"requires": []}, "dlt.rules[0].requires: must be a non-empty list of texts"),
        ({"lab": "hy_law"}, "dlt.rules[0].lab: must be one of hys_law, not 'hy_law'"),
        ({"lab": None}, "dlt.rules[0].lab: must be one of hys_law, not None"),
        ({"grades": 3}, f"dlt.rules[0].grades: is not a known key (known: {KNOWN_KEYS})"),
        (
            {"duration": {"more_than_days": 3, "at_most_days": 7}},
            "dlt.rules[0].duration: must have exactly one of more_than_days or at_most_days",
        ),
        (
            {"duration": {}},
            "dlt.rules[0].duration: must have exactly one of more_than_days or at_most_days",
        ),
        ({"duration": 7}, "dlt.rules[0].duration: must be an object"),
        (
            {"duration": {"more_than_days": -1}},
            "dlt.rules[0].duration.more_than_days: must be a whole number of days from 0 to 365, "
            "not -1",
        ),
        (
            {"duration": {"at_most_days": 366}},
            "dlt.rules[0].duration.at_most_days: must be a whole number of days from 0 to 365, "
            "not 366",
        ),
        (
            {"duration": {"at_most_days": 7.5}},
            "dlt.rules[0].duration.at_most_days: must be a whole number of days from 0 to 365, "
            "not 7.5",
        ),
        (
            {"grade": 3, "resolves": {"to_grade": 3, "within_days": 7}},
            "dlt.rules[0].resolves.to_grade: must be 0-4 and below the rule's grade (3), not 3",
        ),
        (
            {"grade": 3, "resolves": {"to_grade": 4, "within_days": 7}},
            "dlt.rules[0].resolves.to_grade: must be 0-4 and below the rule's grade (3), not 4",
        ),
        (
            {"grade": 3, "resolves": {"to_grade": -1, "within_days": 7}},
            "dlt.rules[0].resolves.to_grade: must be 0-4 and below the rule's grade (3), not -1",
        ),
        (
            {"grade": 3, "resolves": {"to_grade": 1}},
            "dlt.rules[0].resolves.within_days: is required",
        ),
        (
            {"grade": 3, "resolves": {"within_days": 7}},
            "dlt.rules[0].resolves.to_grade: is required",
        ),
        (
            {"grade": 3, "resolves": {"to_grade": 1, "within_days": 366}},
            "dlt.rules[0].resolves.within_days: must be a whole number of days from 0 to 365, "
            "not 366",
        ),
        (
            {"grade": 3, "resolves": {"to_grade": 1, "within_days": 7, "by": 2}},
            "dlt.rules[0].resolves.by: is not a known key (known: to_grade, within_days)",
        ),
        ({"resolves": 7}, "dlt.rules[0].resolves: must be an object"),
        (
            {"cycle_delay": {"more_than_days": 366}},
            "dlt.rules[0].cycle_delay.more_than_days: must be a whole number of days from 0 to "
            "365, not 366",
        ),
        (
            {"cycle_delay": {"more_than_days": -1}},
            "dlt.rules[0].cycle_delay.more_than_days: must be a whole number of days from 0 to "
            "365, not -1",
        ),
        ({"cycle_delay": {}}, "dlt.rules[0].cycle_delay: must have exactly one of more_than_days"),
        ({"outcome": "DLT"}, "dlt.rules[0].outcome: must be one of dlt, not_dlt, not 'DLT'"),
        (
            {"text": ""},
            "dlt.rules[0].text: must be a non-empty text of at most 200 characters",
        ),
        (
            {"text": "   "},
            "dlt.rules[0].text: must be a non-empty text of at most 200 characters",
        ),
        (
            {"text": "x" * 201},
            "dlt.rules[0].text: must be a non-empty text of at most 200 characters",
        ),
        ({"text": 3}, "dlt.rules[0].text: must be a non-empty text of at most 200 characters"),
    ],
)
def test_a_bad_value_is_named_by_its_path(keys, problem):
    assert _problems([_data(**keys)]) == [problem]


@pytest.mark.parametrize(
    "rule_id",
    ["Febrile", "febrile-neutropenia", "febrile neutropenia", "", "x" * 41, "fièvre", 3, None],
)
def test_a_bad_id_is_refused(rule_id):
    """1-40 lower-case ASCII letters, digits and '_'."""
    bad = "dlt.rules[0].id: must be 1-40 lower-case letters, digits and '_' (e.g. 'febrile_neutropenia')"
    assert _problems([_data(id=rule_id)]) == [bad]


@pytest.mark.parametrize("rule_id", ["a", "x" * 40, "grade_3", "3_day_gi", "_"])
def test_a_good_id_is_accepted(rule_id):
    assert _problems([_data(id=rule_id)]) == []


@pytest.mark.parametrize(
    "keys",
    [
        {"grade": 1},
        {"grade": 5},
        {"max_grade": 1},
        {"grade": 5, "max_grade": 5},
        {"text": "x" * 200},
        {"text": "  padded  "},
        {"duration": {"more_than_days": 0}},
        {"duration": {"at_most_days": 365}},
        {"grade": 3, "resolves": {"to_grade": 0, "within_days": 0}},
        {"grade": 3, "resolves": {"to_grade": 2, "within_days": 365}},
        {"grade": 5, "resolves": {"to_grade": 4, "within_days": 7}},
        {"cycle_delay": {"more_than_days": 0}},
        {"events": {"socs": ["Investigations"], "groups": ["lab_only"], "terms": ["fatigue"]}},
        {"requires": ["bleeding", "despite_supportive_care"]},
        {"lab": "hys_law"},
        {"outcome": "not_dlt"},
    ],
)
def test_the_boundaries_of_every_value_are_accepted(keys):
    assert _problems([_data(**keys)]) == []


def test_a_trimmed_text_is_what_the_rule_states():
    assert _rule(text="  Short fatigue is not a DLT.  ").text == "Short fatigue is not a DLT."


@pytest.mark.parametrize("missing", ["id", "text", "outcome"])
def test_id_text_and_outcome_are_required(missing):
    data = _data()
    del data[missing]
    assert _problems([data]) == [f"dlt.rules[0].{missing}: is required"]


def test_a_duplicate_id_names_the_rule_that_has_it_first():
    data = [_data(id="a"), _data(id="b"), _data(id="a")]
    assert _problems(data) == ["dlt.rules[2].id: 'a' is the id of rules[0] already"]


def test_the_path_names_the_index_of_the_rule():
    data = [_data(id="a"), _data(id="b"), _data(id="c"), _data(id="d", grade=6)]
    assert _problems(data) == ["dlt.rules[3].grade: must be 1-5, not 6"]


@pytest.mark.parametrize("data", [{}, {"rules": []}, "rules", None, 3, []])
def test_a_section_that_is_not_a_non_empty_list_is_refused(data):
    assert _problems(data) == ["dlt.rules: must be a list of rules"]


@pytest.mark.parametrize("item", ["a rule", 3, None, ["id", "a"]])
def test_a_rule_that_is_not_an_object_is_refused(item):
    assert _problems([_data(id="a"), item]) == ["dlt.rules[1]: must be an object"]


def test_every_problem_is_named_at_once():
    data = [
        _data(id="a", grade=6, lab="x"),
        {"id": "a", "text": "", "outcome": "maybe", "events": {"terms": ["Tiredness"]}},
    ]
    problems = _problems(data)
    assert problems == [
        "dlt.rules[0].grade: must be 1-5, not 6",
        "dlt.rules[0].lab: must be one of hys_law, not 'x'",
        "dlt.rules[1].text: must be a non-empty text of at most 200 characters",
        "dlt.rules[1].outcome: must be one of dlt, not_dlt, not 'maybe'",
        "dlt.rules[1].events.terms[0]: Unknown CTCAE v5.0 term 'Tiredness'. "
        "Closest matches: Hoarseness.",
        "dlt.rules[1].id: 'a' is the id of rules[0] already",
    ]


def test_the_path_prefix_is_the_callers():
    assert _problems([_data(grade=6)], "IL2-IM-CTX.json: dlt.rules") == [
        "IL2-IM-CTX.json: dlt.rules[0].grade: must be 1-5, not 6"
    ]


def test_parse_rules_raises_with_every_problem():
    with pytest.raises(DltRulesError) as raised:
        parse_rules([_data(grade=6), _data(id="r")])
    assert raised.value.problems == [
        "dlt.rules[0].grade: must be 1-5, not 6",
        "dlt.rules[1].id: 'r' is the id of rules[0] already",
    ]
    assert str(raised.value) == (
        "DLT rules refused:\n"
        "- dlt.rules[0].grade: must be 1-5, not 6\n"
        "- dlt.rules[1].id: 'r' is the id of rules[0] already"
    )


def test_an_invalid_grade_is_the_only_problem_of_a_rule_that_is_otherwise_valid():
    data = [_data(grade=6, resolves={"to_grade": 1, "within_days": 7})]
    assert _problems(data) == ["dlt.rules[0].grade: must be 1-5, not 6"]


# --- The default rule set, the reference trial's and the digest --------------------------------


def _file_rules(name, *keys):
    data = json.loads((ROOT / "studies" / name).read_text(encoding="utf-8"))
    for key in keys:
        data = data[key]
    return data


def test_the_default_rule_set_parses():
    rules = default_rules()
    assert rules.rules[0].id == "treatment_related_death"
    assert rules.rules[-1].id == "grade_3_non_haematological"
    assert (rules.needs_labs, rules.needs_other_events, rules.needs_next_cycle) == (
        True,
        True,
        True,
    )
    assert rule_problems(_file_rules("dlt-default.json", "rules"))[1] == []


def test_the_reference_trials_rules_parse():
    """studies/IL2-IM-CTX.json states its protocol's definition under dlt.rules."""
    data = _file_rules("IL2-IM-CTX.json", "dlt", "rules")
    rules = parse_rules(data)
    assert [rule.id for rule in rules.rules] == [item["id"] for item in data]
    assert (rules.needs_labs, rules.needs_other_events, rules.needs_next_cycle) == (
        False,
        True,
        False,
    )


def test_a_rule_is_found_by_its_id():
    rules = default_rules()
    assert rules.rule("short_fatigue").terms == {"Fatigue"}
    assert rules.rule("no_such_rule") is None


def test_the_parsed_rule_carries_every_value_of_the_vocabulary():
    rule = _rule(
        outcome="not_dlt",
        events={"terms": ["nausea"], "socs": ["Investigations"], "groups": ["bleeding"]},
        grade=3,
        max_grade=4,
        duration={"at_most_days": 3},
        resolves={"to_grade": 1, "within_days": 7},
        requires=["despite_supportive_care"],
        lab="hys_law",
        cycle_delay={"more_than_days": 14},
    )
    assert rule == r.DltRule(
        id="r",
        text="A rule.",
        outcome="not_dlt",
        terms=frozenset({"Nausea"}),
        socs=frozenset({"Investigations"}),
        groups=frozenset({"bleeding"}),
        grade=3,
        max_grade=4,
        more_than_days=None,
        at_most_days=3,
        resolves_to_grade=1,
        resolves_within_days=7,
        requires=frozenset({"despite_supportive_care"}),
        lab="hys_law",
        cycle_delay_more_than_days=14,
    )


DIGEST_RULES = """[
  {"id": "short_fatigue", "text": "Grade 3 fatigue that comes down within 7 days is not a DLT.",
   "outcome": "not_dlt", "events": {"terms": ["Fatigue"]}, "grade": 3, "max_grade": 3,
   "duration": {"at_most_days": 7}},
  {"id": "grade_3", "text": "Grade 3 is a DLT.", "outcome": "dlt", "grade": 3}
]"""
# The same rules: other key order, other spacing, the term in another case, padded text.
DIGEST_RULES_LAID_OUT_DIFFERENTLY = """[{"duration":{"at_most_days":7},"max_grade":3,"grade":3,
"events":{"terms":["FATIGUE"]},"outcome":"not_dlt",
"text":"  Grade 3 fatigue that comes down within 7 days is not a DLT. ","id":"short_fatigue"},
{"grade":3,"outcome":"dlt","text":"Grade 3 is a DLT.","id":"grade_3"}]"""


def test_the_digest_is_the_same_for_the_same_rules_laid_out_differently():
    one = parse_rules(json.loads(DIGEST_RULES))
    other = parse_rules(json.loads(DIGEST_RULES_LAID_OUT_DIFFERENTLY))
    assert one.digest == other.digest
    assert len(one.digest) == 64
    assert one.digest == rules_digest(list(one.data))


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ('"at_most_days": 7', '"at_most_days": 8'),
        ('"max_grade": 3', '"max_grade": 4'),
        ('"outcome": "dlt"', '"outcome": "not_dlt"'),
        ('"Fatigue"', '"Nausea"'),
        ("is a DLT.", "is a DLT!"),
    ],
)
def test_the_digest_differs_when_one_value_changes(old, new):
    changed = DIGEST_RULES.replace(old, new, 1)
    assert changed != DIGEST_RULES
    assert parse_rules(json.loads(changed)).digest != parse_rules(json.loads(DIGEST_RULES)).digest


def test_the_digest_differs_when_the_order_of_the_rules_changes():
    """The first rule that holds decides: the order is part of the definition."""
    data = json.loads(DIGEST_RULES)
    assert parse_rules(data).digest != parse_rules(data[::-1]).digest


def test_the_stored_rules_are_normalised():
    rules = parse_rules(json.loads(DIGEST_RULES_LAID_OUT_DIFFERENTLY))
    first = rules.data[0]
    assert list(first) == ["id", "text", "outcome", "events", "grade", "max_grade", "duration"]
    assert first["events"] == {"terms": ["Fatigue"]}
    assert first["text"] == "Grade 3 fatigue that comes down within 7 days is not a DLT."


def test_the_module_is_pure():
    """No Django: the rules import and run on plain values (DESIGN.md rule 1)."""
    source = Path(r.__file__).read_text(encoding="utf-8")
    assert "django" not in source
    assert isinstance(_course(), Course)
