"""Consistency checks across the forms (ecrf/safety/consistency.py), at their boundaries.

Numbers from CTCAE v5.0: 'Alanine aminotransferase increased' grade 2 is ">3.0 - 5.0 x ULN if
baseline was normal", so an ALT of exactly 3.0 x ULN is grade 1 and does not back a grade 2
event while 3.01 x ULN does; 'Hypokalemia' grade 2 is "Symptomatic with <LLN - 3.0 mmol/L", so
a grade 1 potassium backs it; 'Death neonatal' is "Newborn death occurring during the first 28
days after birth".
"""

from __future__ import annotations

import csv
import datetime as dt
from decimal import Decimal
from pathlib import Path

import pytest

from ecrf.ctcae import all_terms, grade_lab
from ecrf.safety.consistency import (
    ACTION_VS_DOSING,
    AE_GRADE_VS_LAB,
    AGE_LIMITED_TERMS,
    ATTRIBUTION_BEFORE_FIRST_DOSE,
    FEMALE_ONLY_TERMS,
    LAB_TERM_TESTS,
    MALE_ONLY_TERMS,
    TERM_IMPOSSIBLE_FOR_SUBJECT,
    AssessmentFacts,
    DoseFacts,
    EventFacts,
    LabFacts,
    SubjectFacts,
    check_action_against_doses,
    check_attribution_timing,
    check_grade_against_labs,
    check_term_for_subject,
    first_doses,
    needed_lab_grade,
    subject_findings,
)

ONSET = dt.date(2026, 3, 15)
ALT = "Alanine aminotransferase increased"
ALT_ULN = Decimal(40)


def _shared_csv() -> Path | None:
    for parent in Path(__file__).resolve().parents:
        candidate = parent / "shared" / "ctcae" / "NCI_CTCAE_v5.0_clean_utf8.csv"
        if candidate.is_file():
            return candidate
    return None


def _event(term=ALT, grade=2, onset=ONSET, resolved=None, event_id="e1"):
    return EventFacts(event_id, term, grade, onset, resolved)


def _lab(test, value, *, on=ONSET, lln=None, uln=None, unit="U/L", baseline=None):
    """A result graded by the project's CTCAE lab grading, as lab_record stores it."""
    graded = grade_lab(test, float(value), unit, lln=lln, uln=uln, baseline=baseline)
    return LabFacts("r1", test, graded.term or "", graded.grade, Decimal(value), unit, lln, uln, on)


def _alt(multiple: str, **kwargs):
    return _lab("ALT", ALT_ULN * Decimal(multiple), uln=ALT_ULN, **kwargs)


# --- ae_grade_vs_lab ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("multiple", "flagged"),
    [
        ("2.8", True),  # grade 1
        ("3.0", True),  # exactly 3.0 x ULN is still grade 1 (">3.0 - 5.0")
        ("3.01", False),  # grade 2
        ("5.0", False),  # top of grade 2
        ("6", False),  # grade 3 backs a grade 2 event too
    ],
)
def test_an_alt_increased_grade_2_needs_an_alt_above_3_x_uln(multiple, flagged):
    detail = check_grade_against_labs(_event(), [_alt(multiple)])
    assert (detail is not None) is flagged


def test_the_finding_states_the_highest_alt_seen_and_the_window():
    detail = check_grade_against_labs(
        _event(resolved=ONSET + dt.timedelta(days=3)), [_alt("2.8"), _alt("1.2")]
    )
    assert detail == (
        "Alanine aminotransferase increased grade 2, but no ALT of grade 2 or more between "
        "2026-03-08 and 2026-03-25; the highest was 112 U/L (2.8 x ULN) (grade 1)."
    )


def test_an_event_with_no_result_of_its_test_around_it_says_so():
    detail = check_grade_against_labs(_event(grade=1), [_lab("AST", 200, uln=ALT_ULN)])
    assert detail.startswith("Alanine aminotransferase increased grade 1, but no ALT result")


@pytest.mark.parametrize(
    ("offset", "resolved_offset", "flagged"),
    [
        (-7, 0, False),  # 7 days before onset: inside
        (-8, 0, True),  # 8 days before onset: outside
        (10, 3, False),  # 7 days after resolution (onset + 3): inside
        (11, 3, True),  # 8 days after resolution: outside
        (7, 0, False),  # resolved on the day of onset: onset + 7 is inside
        (90, None, False),  # an ongoing event's window has no end
    ],
)
def test_the_lab_window_runs_from_7_days_before_onset_to_7_days_after_resolution(
    offset, resolved_offset, flagged
):
    resolved = None if resolved_offset is None else ONSET + dt.timedelta(days=resolved_offset)
    result = _alt("4", on=ONSET + dt.timedelta(days=offset))
    assert (check_grade_against_labs(_event(resolved=resolved), [result]) is not None) is flagged


def test_a_low_term_is_backed_by_the_lowest_value_and_the_other_direction_does_not_count():
    # Neutrophil count decreased grade 3: "<1.0 - 0.5 x 10e9 /L".
    event = _event(term="Neutrophil count decreased", grade=3)

    def neut(value):
        return _lab("NEUT", value, unit="10^9/L", lln=Decimal("1.8"), uln=Decimal("7.5"))

    assert check_grade_against_labs(event, [neut("0.99")]) is None
    assert "since 2026-03-08; the lowest was 1 10^9/L (grade 2)" in check_grade_against_labs(
        event, [neut("1.0")]
    )
    # A high white count is not a low neutrophil count.
    assert check_grade_against_labs(event, [neut("12")]) is not None


@pytest.mark.parametrize(
    ("term", "grade", "needed"),
    [
        (ALT, 2, 2),
        ("Hypokalemia", 2, 1),  # "Symptomatic with <LLN - 3.0 mmol/L"
        ("Hypokalemia", 3, 3),
        ("Hyponatremia", 3, 2),  # "125-129 mmol/L symptomatic"
        ("Lipase increased", 3, 2),  # ">2.0 - 5.0 x ULN with signs or symptoms"
        ("Lipase increased", 4, 3),  # ">5.0 x ULN and with signs or symptoms"
        ("Fever", 4, 3),  # ">40.0 degrees C for >24 hrs"
        ("Anemia", 4, 3),  # "Life-threatening consequences": no number
        ("Anemia", 5, None),  # death is not a lab value
        ("Fatigue", 3, None),  # no lab criterion
        ("Hyperglycemia", 3, None),  # v5.0 grades it by treatment, not by value
    ],
)
def test_the_lab_grade_an_event_needs(term, grade, needed):
    assert needed_lab_grade(term, grade) == needed


def test_a_symptomatic_hypokalemia_grade_2_is_backed_by_a_grade_1_potassium():
    potassium = _lab("K", "3.2", unit="mmol/L", lln=Decimal("3.5"), uln=Decimal("5.1"))
    assert potassium.grade == 1
    assert check_grade_against_labs(_event(term="Hypokalemia", grade=2), [potassium]) is None
    assert check_grade_against_labs(_event(term="Hypokalemia", grade=3), [potassium]) is not None


def test_the_terms_covered_are_the_terms_the_lab_grading_produces():
    assert LAB_TERM_TESTS[ALT] == "ALT"
    assert LAB_TERM_TESTS["Hypokalemia"] == LAB_TERM_TESTS["Hyperkalemia"] == "K"
    assert LAB_TERM_TESTS["Fever"] == "TEMP"
    assert "Hyperglycemia" not in LAB_TERM_TESTS
    known = {term.term for term in all_terms()}
    assert set(LAB_TERM_TESTS) <= known


# --- action_vs_dosing --------------------------------------------------------------------------


def _dose(day_offset, given="400", planned="400", agent="IM"):
    return DoseFacts(agent, ONSET + dt.timedelta(days=day_offset), Decimal(planned), Decimal(given))


def _assessment(action="interrupted", attribution="possible", agent="IM"):
    return AssessmentFacts("a1", "e1", agent, attribution, action)


def test_an_interruption_with_every_dose_given_in_full_is_flagged():
    doses = [_dose(day) for day in range(0, 5)]
    detail = check_action_against_doses(
        _event(resolved=ONSET + dt.timedelta(days=2)), _assessment(), doses
    )
    assert detail == (
        "IM interrupted on the adverse event form, but every IM dose from 2026-03-15 to "
        "2026-03-19 was given as planned."
    )


@pytest.mark.parametrize(
    ("doses", "flagged"),
    [
        ([(0, "400"), (1, "0")], False),  # one dose missed: interrupted
        ([(0, "400"), (1, "300")], False),  # one dose reduced
        ([(0, "400"), (14, "0")], False),  # missed 14 days after onset: still inside
        ([(0, "400"), (15, "0")], True),  # missed 15 days after onset: outside
        ([(-1, "0"), (0, "400")], True),  # missed the day before onset: outside
        ([], False),  # no dose of the agent in the window: nothing contradicts the form
    ],
)
def test_the_dosing_window_runs_from_onset_to_at_least_14_days_after(doses, flagged):
    event = _event(resolved=ONSET + dt.timedelta(days=1))
    facts = [_dose(day, given) for day, given in doses]
    assert (check_action_against_doses(event, _assessment(), facts) is not None) is flagged


def test_an_ongoing_event_counts_doses_up_to_the_last_one_on_record():
    doses = [_dose(day) for day in range(0, 40)] + [_dose(40, "0")]
    assert check_action_against_doses(_event(), _assessment("reduced"), doses) is None
    assert check_action_against_doses(_event(), _assessment("withdrawn"), doses[:-1]) is not None


@pytest.mark.parametrize("action", ["none", "not_applicable", "unknown"])
def test_actions_that_change_no_dose_are_not_checked(action):
    doses = [_dose(day) for day in range(0, 5)]
    assert check_action_against_doses(_event(), _assessment(action), doses) is None


def test_only_the_doses_of_the_agent_acted_on_count():
    doses = [_dose(day) for day in range(0, 5)] + [_dose(1, "0", "3", agent="IL2")]
    assert check_action_against_doses(_event(), _assessment(), doses) is not None


# --- attribution_before_first_dose -------------------------------------------------------------


@pytest.mark.parametrize(
    ("first_offset", "attribution", "flagged"),
    [
        (1, "possible", True),  # first dose the day after onset
        (0, "possible", False),  # first dose on the day of onset
        (-5, "definite", False),
        (1, "probable", True),
        (1, "unlikely", False),  # not related: nothing to check
        (1, "unrelated", False),
    ],
)
def test_an_event_related_to_an_agent_not_yet_given_is_flagged(first_offset, attribution, flagged):
    first = first_doses([_dose(first_offset, "3", "3", agent="IL2")])
    detail = check_attribution_timing(_event(), _assessment("none", attribution, "IL2"), first)
    assert (detail is not None) is flagged


def test_a_missed_first_dose_is_not_a_first_dose_and_an_agent_not_yet_given_is_not_flagged():
    doses = [_dose(-3, "0", "3", agent="IL2"), _dose(2, "3", "3", agent="IL2")]
    first = first_doses(doses)
    assert first == {"IL2": ONSET + dt.timedelta(days=2)}
    detail = check_attribution_timing(_event(), _assessment("none", "probable", "IL2"), first)
    assert detail == (
        "Alanine aminotransferase increased (onset 2026-03-15) is probably related to IL2, but "
        "the first IL2 dose was given on 2026-03-17."
    )
    # No CTX dose on record yet: the doses may be entered after the event.
    assert check_attribution_timing(_event(), _assessment("none", "possible", "CTX"), first) is None


# --- term_impossible_for_subject ---------------------------------------------------------------


def _subject(sex="M", birth_year=1977):
    return SubjectFacts("s1", "A-001", sex, birth_year)


@pytest.mark.parametrize(
    ("term", "sex", "flagged"),
    [
        ("Vaginal hemorrhage", "M", True),
        ("Vaginal hemorrhage", "F", False),
        ("Menorrhagia", "M", True),
        ("Erectile dysfunction", "F", True),
        ("Testicular pain", "M", False),
        ("Prostatic obstruction", "F", True),
        ("Breast pain", "M", False),  # not sex-specific
        ("Breast pain", "F", False),
        ("Vaginal hemorrhage", "U", False),  # unknown sex rules nothing out
    ],
)
def test_terms_of_the_other_sex_are_flagged(term, sex, flagged):
    detail = check_term_for_subject(_event(term=term, grade=1), _subject(sex))
    assert (detail is not None) is flagged


@pytest.mark.parametrize(
    ("birth_year", "onset", "flagged"),
    [
        (1977, dt.date(2024, 5, 1), True),  # the man born in 1977 of the issue
        (2026, dt.date(2027, 1, 28), False),  # born 31 Dec 2026 at the latest: 28 days old
        (2026, dt.date(2027, 1, 29), True),  # 29 days old at the least
        (None, dt.date(2024, 5, 1), False),  # no birth year: nothing ruled out
    ],
)
def test_death_neonatal_is_impossible_after_the_first_28_days(birth_year, onset, flagged):
    event = _event(term="Death neonatal", grade=4, onset=onset)
    assert (check_term_for_subject(event, _subject(birth_year=birth_year)) is not None) is flagged


def test_growth_terms_are_impossible_for_adults():
    event = _event(term="Growth suppression", grade=1, onset=dt.date(2026, 1, 1))
    assert check_term_for_subject(event, _subject(birth_year=1990)) is not None
    assert check_term_for_subject(event, _subject(birth_year=2015)) is None


@pytest.mark.skipif(_shared_csv() is None, reason="NCI's CTCAE v5.0 CSV is not in ../shared")
def test_the_sex_and_age_lists_come_from_the_official_definitions():
    with _shared_csv().open(encoding="utf-8") as handle:
        definitions = {row["CTCAE Term"]: row["Definition"] for row in csv.DictReader(handle)}
    for term in MALE_ONLY_TERMS | FEMALE_ONLY_TERMS | set(AGE_LIMITED_TERMS):
        assert term in definitions, term
    male_words = ("prostat", "testi", "scrot", "penis", "sperm", "ejacul", "erection", "males")
    female_words = ("vagin", "uter", "ovar", "fallopian", "cervix", "vulva", "menses",
                    "menstrua", "fetus", "fetal", "utero", "gestation", "ovum", "menopause")  # fmt: skip
    for term in MALE_ONLY_TERMS:
        assert any(word in (term + definitions[term]).lower() for word in male_words), term
    for term in FEMALE_ONLY_TERMS:
        assert any(word in (term + definitions[term]).lower() for word in female_words), term
    assert "first 28 days" in definitions["Death neonatal"]


# --- all four, one subject ---------------------------------------------------------------------


def test_subject_findings_names_the_record_and_field_of_each_check():
    event = _event(grade=2, resolved=ONSET + dt.timedelta(days=2))
    wrong_sex = _event(term="Vaginal pain", grade=1, event_id="e2")
    assessments = [
        AssessmentFacts("a-im", "e1", "IM", "possible", "interrupted"),
        AssessmentFacts("a-il2", "e1", "IL2", "probable", "none"),
    ]
    doses = [_dose(day) for day in range(-3, 5)] + [_dose(5, "6", "6", agent="IL2")]
    findings = subject_findings(_subject("M"), [event, wrong_sex], assessments, doses, [])
    assert [(f.check, f.record_model, f.record_id, f.field) for f in findings] == [
        (AE_GRADE_VS_LAB, "ecrf.AdverseEvent", "e1", "grade"),
        (ATTRIBUTION_BEFORE_FIRST_DOSE, "ecrf.AdverseEvent", "e1", ""),
        (ACTION_VS_DOSING, "ecrf.AdverseEvent", "e1", ""),
        (TERM_IMPOSSIBLE_FOR_SUBJECT, "ecrf.AdverseEvent", "e2", "ctcae_term"),
    ]
    assert {f.subject_code for f in findings} == {"A-001"}
