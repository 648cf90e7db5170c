"""Properties of CTCAE v5.0 lab grading that must hold for any valid input.

For every test, unit and direction: a value further from normal in the direction of a term
never gets a lower grade for that term, with LLN, ULN and baseline held fixed; the grade is
always 0..4 and the term is None exactly when the grade is 0.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from ecrf.ctcae.labs import LAB_TESTS, grade_lab, grade_labs
from ecrf.synthetic.labs import TYPICAL

PAIRS = sorted(TYPICAL)


def _term_grade(result, term: str) -> int:
    """The grade of ``term`` in ``result``: 0 when the result names another term."""
    return result.grade if result.term == term else 0


@st.composite
def graded_pairs(draw):
    """A test and unit, limits around a typical reference range, an optional baseline and two
    values spread on a log scale around normal, far enough to reach every grade."""
    test, unit = draw(st.sampled_from(PAIRS))
    lln0, uln0, sigma, _ = TYPICAL[(test, unit)]
    scale = draw(st.floats(0.5, 2.0))
    narrow = draw(st.floats(0.0, 1.0))
    uln = uln0 * scale
    # The LLN moves between 0 and the typical LLN, so that reference ranges of any width occur.
    lln = lln0 * scale * narrow
    baseline = draw(st.none() | st.floats(0.0, 4.0).map(lambda m: m * uln))
    center = math.sqrt(lln0 * uln0)
    spread = st.floats(-5.0, 5.0).map(lambda z: center * math.exp(sigma * z))
    first, second = sorted((draw(spread), draw(spread)))
    return test, unit, lln, uln, baseline, first, second


@settings(max_examples=1000, deadline=None)
@given(graded_pairs())
def test_a_worse_value_never_gets_a_lower_grade(case):
    """CTCAE v5.0 grades rise with distance from normal for every lab term: e.g.
    'Neutrophil count decreased' G1 <LLN - 1500/mm3 ... G4 <500/mm3, 'Alanine aminotransferase
    increased' G1 >ULN - 3.0 x ULN ... G4 >20.0 x ULN (or x an abnormal baseline). For a lower
    value the low term's grade is at least as high; for a higher value the high term's grade
    is at least as high."""
    test, unit, lln, uln, baseline, lower, higher = case
    spec = LAB_TESTS[test]
    limits = {"lln": lln, "uln": uln, "baseline": baseline}
    low_result = grade_lab(test, lower, unit, **limits)
    high_result = grade_lab(test, higher, unit, **limits)
    if spec.low_term is not None:
        assert _term_grade(low_result, spec.low_term) >= _term_grade(high_result, spec.low_term)
    if spec.high_term is not None:
        assert _term_grade(high_result, spec.high_term) >= _term_grade(low_result, spec.high_term)


@settings(max_examples=1000, deadline=None)
@given(graded_pairs())
def test_a_grade_is_always_0_to_4_with_a_term_exactly_when_above_0(case):
    """CTCAE v5.0 lab grades run from 1 to 4 (grade 5, death, is never a lab value); grade 0
    means no CTCAE abnormality and carries no term. The term is always one of the test's."""
    test, unit, lln, uln, baseline, lower, higher = case
    spec = LAB_TESTS[test]
    for value in (lower, higher):
        result = grade_lab(test, value, unit, lln=lln, uln=uln, baseline=baseline)
        assert 0 <= result.grade <= 4
        assert (result.term is None) == (result.grade == 0)
        assert result.term in (None, spec.low_term, spec.high_term)


@settings(max_examples=200, deadline=None)
@given(st.lists(graded_pairs(), min_size=1, max_size=40))
def test_grade_labs_agrees_with_grade_lab_on_any_batch(cases):
    """The vectorised path applies the same CTCAE v5.0 criteria as grade_lab, row by row."""
    rows = [
        (test, value, unit, lln, uln, math.nan if baseline is None else baseline)
        for test, unit, lln, uln, baseline, lower, higher in cases
        for value in (lower, higher)
    ]
    frame = pd.DataFrame(rows, columns=["test", "value", "unit", "lln", "uln", "baseline"])
    graded = grade_labs(frame)
    for position, (test, value, unit, lln, uln, baseline) in enumerate(rows):
        result = grade_lab(test, value, unit, lln=lln, uln=uln, baseline=baseline)
        assert graded["term"].iat[position] == result.term
        assert graded["grade"].iat[position] == result.grade


def test_grades_never_fall_along_a_dense_sweep_of_every_test_and_unit():
    """CTCAE v5.0 grades rise with distance from normal: sweeping each test and unit over
    20,000 values from 0 to far above ULN (typical limits, with and without an abnormal
    baseline), the low term's grade never rises and the high term's grade never falls as the
    value rises."""
    for (test, unit), (lln, uln, _, _) in TYPICAL.items():
        spec = LAB_TESTS[test]
        top = max(uln, 1.0) * 30
        values = np.linspace(0.0, top, 20_000)
        for baseline in (math.nan, uln * 1.6):
            frame = pd.DataFrame(
                {
                    "test": test,
                    "value": values,
                    "unit": unit,
                    "lln": lln,
                    "uln": uln,
                    "baseline": baseline,
                }
            )
            graded = grade_labs(frame)
            for term, rising in ((spec.low_term, False), (spec.high_term, True)):
                if term is None:
                    continue
                grades = np.where(graded["term"] == term, graded["grade"], 0)
                steps = np.diff(grades)
                assert (steps >= 0).all() if rising else (steps <= 0).all(), (test, unit, term)
