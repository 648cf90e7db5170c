"""Dose-escalation designs: the 3+3 design (Storer 1989) and BOIN (Liu and Yuan 2015).

Storer BE. Design and analysis of phase I clinical trials. Biometrics 1989;45:925-937.
Liu S, Yuan Y. Bayesian optimal interval designs for phase I clinical trials. J R Stat Soc
Ser C Appl Stat 2015;64:507-523.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ecrf.escalation import (
    Recommendation,
    boin_boundaries,
    boin_select_mtd,
    parse_outcomes,
    recommend,
)

ROOT = Path(__file__).resolve().parents[2]


def _cohort(dose: int, dlts: int, patients: int) -> str:
    """One cohort at ``dose`` with ``dlts`` DLTs among ``patients`` patients."""
    return f"{dose}{'T' * dlts}{'N' * (patients - dlts)}"


# --------------------------------------------------------------------------------------------
# The module itself
# --------------------------------------------------------------------------------------------


def test_the_module_imports_without_django():
    env = {key: value for key, value in os.environ.items() if key != "DJANGO_SETTINGS_MODULE"}
    code = "import ecrf.escalation, sys; assert 'django' not in sys.modules"
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr


def test_a_recommendation_is_a_frozen_dataclass():
    rec = recommend("3+3", "", 3)
    assert isinstance(rec, Recommendation)
    with pytest.raises(AttributeError):
        rec.dose = 2  # type: ignore[misc]


# --------------------------------------------------------------------------------------------
# Parsing and argument errors
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("outcomes", "num_doses", "expected"),
    [
        ("", 3, []),
        ("   ", 3, []),
        ("1NNN 2NTN", 3, [(1, "NNN"), (2, "NTN")]),
        (" 1nnn\t2NtN\n", 3, [(1, "NNN"), (2, "NTN")]),
        ("10NNT", 10, [(10, "NNT")]),
        ("1N 1NN", 1, [(1, "N"), (1, "NN")]),
    ],
)
def test_outcomes_are_parsed_into_cohorts_by_dose_level(outcomes, num_doses, expected):
    assert parse_outcomes(outcomes, num_doses) == expected


@pytest.mark.parametrize(
    ("outcomes", "message"),
    [
        ("1NN 2", "outcomes: position 5: expected N or T after dose level 2"),
        ("1NN 2 NNN", "outcomes: position 5: expected N or T after dose level 2"),
        ("7NNN", "outcomes: dose level 7 at position 0 is outside 1-4"),
        ("1NNN 12NNN", "outcomes: dose level 12 at position 5 is outside 1-4"),
        ("0NNN", "outcomes: dose level 0 at position 0 is outside 1-4"),
        ("NNN", "outcomes: position 0: expected a dose level number"),
        ("1NNN -2NNN", "outcomes: position 5: expected a dose level number"),
        ("1NXN", "outcomes: position 2: expected N, T or a space after dose level 1"),
        ("1NNN2NNN", "outcomes: position 4: expected N, T or a space after dose level 1"),
    ],
)
def test_malformed_outcomes_report_the_position_of_the_problem(outcomes, message):
    with pytest.raises(ValueError) as error:
        parse_outcomes(outcomes, 4)
    assert str(error.value).startswith(message)


def test_recommend_rejects_malformed_outcomes_too():
    with pytest.raises(ValueError, match="position 5"):
        recommend("3+3", "1NN 2", 4)


@pytest.mark.parametrize("design", ["3 + 3", "crm", "", "BOIN"])
def test_an_unknown_design_is_rejected_naming_the_allowed_designs(design):
    with pytest.raises(ValueError, match=r'"3\+3", "boin"'):
        recommend(design, "1NNN", 3, target=0.3)


def test_boin_without_a_target_is_rejected():
    with pytest.raises(ValueError, match="target"):
        recommend("boin", "1NNN", 3)


@pytest.mark.parametrize("target", [0, 1, -0.1, 1.5, True, "0.3", 0.8])
def test_boin_with_a_target_outside_the_open_unit_interval_or_without_valid_p_tox_is_rejected(
    target,
):
    """0.8 is inside (0, 1) but its default p_tox = 1.4 x 0.8 = 1.12 is not a probability."""
    with pytest.raises(ValueError):
        recommend("boin", "1NNN", 3, target=target)


def test_the_target_is_ignored_for_three_plus_three():
    assert recommend("3+3", "1NNN", 3, target=7) == recommend("3+3", "1NNN", 3)


@pytest.mark.parametrize("num_doses", [0, -1, 1.5, True])
def test_the_number_of_doses_must_be_a_positive_integer(num_doses):
    with pytest.raises(ValueError, match="num_doses"):
        recommend("3+3", "", num_doses)


# --------------------------------------------------------------------------------------------
# 3+3
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("outcomes", "allow_deescalate", "dose", "proceed", "mtd"),
    [
        ("", True, 1, True, None),
        ("1NNN", True, 2, True, None),
        ("1NNN 2TNN", True, 2, True, None),
        ("1NNN 2TNN 2NNN", True, 3, True, None),
        ("1NNN 2TNN 2NTN", True, 1, True, None),
        ("1NNN 2TNN 2NTN 1NNN", True, 1, False, 1),
        ("1NNN 2TNN 2NTN 1TNN", True, 1, False, 1),
        ("1NNN 2TNN 2NTN 1TTN", True, None, False, None),
        ("1NNN 2TTN", False, 1, False, 1),
        ("1NNN 2TTN", True, 1, True, None),
        ("1TTN", True, None, False, None),
        ("1TTN", False, None, False, None),
        ("1NNN 2NNN 3NNN 4NNN", True, 4, True, None),
        ("1NNN 2NNN 3NNN 4NNN 4NNN", True, 4, False, 4),
        ("1NNN 2NNN 3NNN 4TNN 4NNN", True, 4, False, 4),
        ("1NNN 2NNN 3NNN 4TNN 4NTN", True, 3, True, None),
        ("1TNN 1NNN", True, 2, True, None),
        ("1TNN 1TNN", True, None, False, None),
        ("1NNN 2TNN 2NNN 3TTN", True, 2, False, 2),
    ],
)
def test_three_plus_three_follows_the_classic_paths(outcomes, allow_deescalate, dose, proceed, mtd):
    """Storer (1989): 0/3 escalate; 1/3 expand to 6; 1/6 escalate; 2 or more DLTs: the dose is
    exceeded and the MTD is the highest dose below it with at most 1 DLT in 6 patients (after
    expanding it to 6 if de-escalation is allowed). Past the highest dose, the highest dose is
    the MTD once it has 6 patients with at most 1 DLT."""
    rec = recommend("3+3", outcomes, 4, allow_deescalate=allow_deescalate)
    assert (rec.dose, rec.proceed, rec.mtd) == (dose, proceed, mtd)


@pytest.mark.parametrize(
    ("outcomes", "dose"),
    [("1NN", 1), ("1N", 1), ("1NNN 2NN", 2), ("1NNN 2N 2N", 2), ("1NN 1N", 2)],
)
def test_three_plus_three_completes_an_incomplete_cohort_of_three_before_escalating(outcomes, dose):
    """A cohort of fewer than 3 evaluable patients (e.g. after a drop-out) without DLT is
    completed to 3 at the same dose; 3 patients in two cohorts count as one cohort of 3."""
    rec = recommend("3+3", outcomes, 4)
    assert (rec.dose, rec.proceed, rec.mtd) == (dose, True, None)


def test_three_plus_three_expands_a_dose_with_one_dlt_in_fewer_than_six_patients():
    assert recommend("3+3", "1NNN 2TN", 4).dose == 2
    assert recommend("3+3", "1NNN 2TNN 2N", 4).dose == 2


def test_three_plus_three_escalating_into_a_treated_dose_uses_its_counts():
    """After a cohort went back down to dose 2 (a deviation), dose 3 already has 1 of 3 with a
    DLT, so it is expanded to 6; had it 0 of 3, the escalation would go on to dose 4."""
    assert recommend("3+3", "1NNN 2NNN 3TNN 2NNN", 4).dose == 3
    assert recommend("3+3", "1NNN 2NNN 3NNN 2NNN", 4).dose == 4


def test_three_plus_three_never_reenters_an_exceeded_dose():
    """Dose 2 was exceeded; dose 1 with 0 of 6 would escalate, but it becomes the MTD."""
    rec = recommend("3+3", "1NNN 2TTN 1NNN", 4)
    assert (rec.dose, rec.proceed, rec.mtd) == (1, False, 1)


def test_three_plus_three_de_escalation_can_cascade_down_to_no_mtd():
    """Dose 3 exceeded, dose 2 expanded and exceeded, dose 1 expanded and exceeded."""
    path = "1NNN 2NNN 3TTN 2TNN 2TNN"
    assert recommend("3+3", path, 4).dose == 1
    assert recommend("3+3", path + " 1NNN", 4).mtd == 1
    rec = recommend("3+3", path + " 1TTN", 4)
    assert (rec.dose, rec.proceed, rec.mtd) == (None, False, None)


@pytest.mark.parametrize(
    ("outcomes", "reason"),
    [
        (
            "1NNN 2NTN",
            "1 of 3 evaluable patients at dose level 2 had a DLT: expand dose level 2 to 6 "
            "patients.",
        ),
        ("1NNN", "0 of 3 evaluable patients at dose level 1 had a DLT: escalate to dose level 2."),
        ("", "No patient has been treated yet: start at dose level 1."),
        (
            "1TTN",
            "2 of 3 evaluable patients at dose level 1 had a DLT, so even the lowest dose "
            "exceeds the MTD: stop the trial without an MTD.",
        ),
    ],
)
def test_three_plus_three_reasons_are_sentences_with_the_numbers(outcomes, reason):
    assert recommend("3+3", outcomes, 4).reason == reason


# --------------------------------------------------------------------------------------------
# BOIN boundaries and decision table
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("target", "lambda_e", "lambda_d"),
    [(0.25, 0.197, 0.298), (0.30, 0.236, 0.359)],
)
def test_boin_boundaries_reproduce_the_published_values(target, lambda_e, lambda_d):
    """Liu and Yuan (2015), boundaries for p_saf = 0.6 x target and p_tox = 1.4 x target:
    0.197 / 0.298 for target 0.25 and 0.236 / 0.359 for 0.30 (also the BOIN R package,
    get.boundary: lambda_e = 0.2364907, lambda_d = 0.3585195 for 0.30)."""
    computed = boin_boundaries(target)
    assert (round(computed[0], 3), round(computed[1], 3)) == (lambda_e, lambda_d)


def test_boin_boundaries_accept_explicit_p_saf_and_p_tox():
    assert boin_boundaries(0.3, 0.18, 0.42) == pytest.approx(boin_boundaries(0.3))
    with pytest.raises(ValueError, match="p_saf"):
        boin_boundaries(0.3, p_saf=0.3)
    with pytest.raises(ValueError, match="p_tox"):
        boin_boundaries(0.3, p_tox=1.0)


# Liu and Yuan (2015) decision tables, as printed by the BOIN R package 2.7.2 get.boundary
# (full_boundary_tab) for target 0.30: n -> (escalate if DLTs <=, de-escalate if DLTs >=,
# eliminate if DLTs >= or None for NA). The elimination numbers are those of
# Pr(p > target | y, n) > 0.95 under Beta(1, 1): for 0.30, "NA NA 3 3 4 4 5 5 5 6 6 7".
PUBLISHED_TABLE = {
    0.30: {
        1: (0, 1, None),
        2: (0, 1, None),
        3: (0, 2, 3),
        4: (0, 2, 3),
        5: (1, 2, 4),
        6: (1, 3, 4),
        7: (1, 3, 5),
        8: (1, 3, 5),
        9: (2, 4, 5),
        10: (2, 4, 6),
        11: (2, 4, 6),
        12: (2, 5, 7),
    },
    0.25: {
        1: (0, 1, None),
        2: (0, 1, None),
        3: (0, 1, 3),
        4: (0, 2, 3),
        5: (0, 2, 3),
        6: (1, 2, 4),
        7: (1, 3, 4),
        8: (1, 3, 4),
        9: (1, 3, 5),
        10: (1, 3, 5),
        11: (2, 4, 6),
        12: (2, 4, 6),
    },
}


def _table_rows():
    return [
        pytest.param(target, n, *entries, id=f"{target}-n{n}")
        for target, table in PUBLISHED_TABLE.items()
        for n, entries in table.items()
    ]


@pytest.mark.parametrize(("target", "n", "escalate_max", "deescalate_min", "_"), _table_rows())
def test_boin_escalates_stays_and_deescalates_as_in_the_published_table(
    target, n, escalate_max, deescalate_min, _
):
    """Liu and Yuan (2015); BOIN R package get.boundary (full_boundary_tab): with y DLTs in n
    patients at the middle of 3 doses, escalate when y <= the escalation number, de-escalate
    when y >= the de-escalation number, otherwise stay."""
    for dlts in range(n + 1):
        expected = 3 if dlts <= escalate_max else 1 if dlts >= deescalate_min else 2
        rec = recommend("boin", _cohort(2, dlts, n), 3, target=target)
        assert (rec.dose, rec.proceed) == (expected, True), (dlts, rec.reason)


@pytest.mark.parametrize(("target", "n", "_e", "_d", "eliminate_min"), _table_rows())
def test_boin_eliminates_as_in_the_published_table(target, n, _e, _d, eliminate_min):
    """Liu and Yuan (2015): eliminate a dose with n >= 3 when Pr(p > target | y, n) > 0.95
    under a Beta(1, 1) prior. At dose 1 elimination stops the trial, so the number of DLTs that
    stops a trial started with n patients at dose 1 is the elimination number."""
    for dlts in range(n + 1):
        eliminated = eliminate_min is not None and dlts >= eliminate_min
        rec = recommend("boin", _cohort(1, dlts, n), 3, target=target)
        assert (rec.dose is None) is eliminated, (dlts, rec.reason)


def test_boin_reports_the_exact_posterior_probability_when_eliminating():
    """3 of 3 with target 0.30: Pr(p > 0.3) = P(Bin(4, 0.3) <= 3) = 1 - 0.3^4 = 0.9919."""
    rec = recommend("boin", "1TTT", 3, target=0.3)
    assert rec.reason == (
        "BOIN (target 0.30): 3 of 3 at dose level 1 had a DLT (Pr(DLT rate > 0.30) = 0.992 > "
        "0.95), so dose level 1 and all higher doses are eliminated: stop the trial without an "
        "MTD."
    )


# --------------------------------------------------------------------------------------------
# BOIN trial paths
# --------------------------------------------------------------------------------------------


def test_boin_deescalates_at_two_of_three_for_target_0_30():
    """2 / 3 = 0.67 >= lambda_d = 0.359 (Liu and Yuan 2015)."""
    rec = recommend("boin", "1NNN 2TTN", 4, target=0.3)
    assert (rec.dose, rec.proceed, rec.mtd) == (1, True, None)
    assert rec.reason == (
        "BOIN (target 0.30): 2 of 3 at dose level 2 (rate 0.67 >= 0.359): de-escalate to dose "
        "level 1."
    )


@pytest.mark.parametrize(
    ("outcomes", "dose", "proceed"),
    [
        ("", 1, True),
        ("1NNN", 2, True),
        ("1TNN", 1, True),  # 0.33 is between 0.236 and 0.359: stay.
        ("1NNN 2TNN 2NNN", 3, True),  # 1 of 6 = 0.17 <= 0.236.
        ("1NNN 2TTN", 1, True),
        ("1TTN", 1, True),  # De-escalation below dose 1 is impossible: stay.
        ("1TTT", None, False),  # Dose 1 eliminated: stop.
        ("1NNN 2TTT", 1, True),  # Dose 2 eliminated: de-escalate.
        ("1NNN 2TTT 1NNN", 1, True),  # Never escalate into an eliminated dose: stay.
        ("1NNN 2NNN 3NNN 4NNN", 4, True),  # Never escalate beyond the highest dose: stay.
        ("1NNN 2TTT 2NNNNNNNN", 1, True),  # Eliminated for good although 3 of 11 now.
        ("1NNN 2TTT 3NNN", 1, True),  # A cohort above an eliminated dose: back below it.
    ],
)
def test_boin_follows_the_trial_paths(outcomes, dose, proceed):
    """Liu and Yuan (2015) with target 0.30 and 4 doses: lambda_e = 0.236, lambda_d = 0.359,
    elimination when Pr(p > 0.30) > 0.95 with 3 or more patients."""
    rec = recommend("boin", outcomes, 4, target=0.3)
    assert (rec.dose, rec.proceed, rec.mtd) == (dose, proceed, None)


def test_boin_escalation_reason_names_the_rate_and_the_boundary():
    rec = recommend("boin", "1NNN", 4, target=0.3)
    assert rec.reason == (
        "BOIN (target 0.30): 0 of 3 at dose level 1 (rate 0.00 <= 0.236): escalate to dose level 2."
    )


def test_boin_reason_shows_enough_decimals_to_keep_the_comparison_true():
    """4 of 17 = 0.2353 <= 0.2365 escalates, and must not read "0.24 <= 0.236"."""
    rec = recommend("boin", "1NNNNNNNNNNNNNTTTT", 4, target=0.3)
    assert rec.dose == 2
    assert "(rate 0.235 <= 0.236)" in rec.reason


# --------------------------------------------------------------------------------------------
# BOIN MTD selection
# --------------------------------------------------------------------------------------------


def test_boin_select_mtd_pools_non_monotone_rates_by_isotonic_regression():
    """Liu and Yuan (2015), MTD selection with target 0.30. Observed: dose 1 0/3 = 0, dose 2
    2/6 = 0.333, dose 3 1/6 = 0.167: doses 2 and 3 violate monotonicity and are pooled to
    (2 + 1) / (6 + 6) = 3/12 = 0.25. Isotonic estimates 0, 0.25, 0.25: doses 2 and 3 tie at
    distance 0.05 below the target, so the higher one, dose 3, is the MTD (the raw rates would
    have chosen dose 2, at distance 0.033)."""
    outcomes = "1NNN 2TNN 2TNN 3NNN 3TNN"
    assert boin_select_mtd(outcomes, 4, 0.3) == 3
    rec = recommend("boin", outcomes, 4, target=0.3, final=True)
    assert (rec.dose, rec.proceed, rec.mtd) == (3, False, 3)
    assert "0.25" in rec.reason


def test_boin_select_mtd_on_a_trial_run_by_the_design():
    """Target 0.30, path 1TNN (stay) 1NNN (1/6: escalate) 2NNN (escalate) 3TTN (de-escalate)
    2NNN. Observed 1/6 = 0.167, 0/6 = 0, 2/3 = 0.667: doses 1 and 2 are pooled to 1/12 =
    0.083; estimates 0.083, 0.083, 0.667 at distances 0.217, 0.217, 0.367: tie below the
    target, so the higher dose, dose 2."""
    outcomes = "1TNN 1NNN 2NNN 3TTN 2NNN"
    assert recommend("boin", outcomes, 4, target=0.3).dose == 3
    assert boin_select_mtd(outcomes, 4, 0.3) == 2


def test_boin_select_mtd_prefers_the_dose_below_the_target_on_a_tie_across_it():
    """Target 0.30: dose 1 1/4 = 0.25 and dose 2 7/20 = 0.35 are both exactly 0.05 away; the
    paper does not cover ties on both sides, and the safer dose below the target is chosen."""
    outcomes = "1TNNN 2" + "T" * 7 + "N" * 13
    assert boin_select_mtd(outcomes, 3, 0.3) == 1


def test_boin_select_mtd_takes_the_lower_dose_on_a_tie_above_the_target():
    """Target 0.25: dose 1 0/3, doses 2 and 3 with 1/3 = 0.333 each: tie above the target, so
    the lower dose, dose 2."""
    assert boin_select_mtd("1NNN 2TNN 3TNN", 3, 0.25) == 2


def test_boin_select_mtd_ignores_eliminated_and_untried_doses():
    """Dose 2 was eliminated at 3 of 3 and later reached 3 of 11 = 0.27, which would be the
    closest to 0.30; it stays eliminated, so dose 1 is the MTD. Dose 3 was never tried."""
    assert boin_select_mtd("1NNN 2TTT 2NNNNNNNN", 3, 0.3) == 1


@pytest.mark.parametrize("outcomes", ["", "1TTT", "1NNN 1TTTTT"])
def test_boin_select_mtd_gives_none_without_patients_or_when_dose_1_is_eliminated(outcomes):
    assert boin_select_mtd(outcomes, 3, 0.3) is None
    rec = recommend("boin", outcomes, 3, target=0.3, final=True)
    assert (rec.dose, rec.proceed, rec.mtd) == (None, False, None)


def test_boin_never_declares_an_mtd_during_the_trial():
    assert recommend("boin", "1NNN 2NNN 3NNNNNNNNNNNN", 3, target=0.3).mtd is None


# --------------------------------------------------------------------------------------------
# Properties
# --------------------------------------------------------------------------------------------

COHORT_LETTERS = st.text(alphabet="NT", min_size=1, max_size=6)


@st.composite
def histories(draw):
    """Any number of doses and any cohorts at any doses, including protocol deviations."""
    num_doses = draw(st.integers(1, 6))
    cohorts = draw(st.lists(st.tuples(st.integers(1, num_doses), COHORT_LETTERS), max_size=10))
    return num_doses, cohorts


@settings(max_examples=300, deadline=None)
@given(histories(), st.booleans(), st.sampled_from([0.2, 0.25, 0.3, 0.33]))
def test_the_recommended_dose_is_none_or_a_dose_level(history, allow_deescalate, target):
    num_doses, cohorts = history
    outcomes = " ".join(f"{dose}{letters}" for dose, letters in cohorts)
    for design in ("3+3", "boin"):
        rec = recommend(
            design, outcomes, num_doses, target=target, allow_deescalate=allow_deescalate
        )
        assert rec.dose is None or 1 <= rec.dose <= num_doses
        assert rec.dose is not None or not rec.proceed
        assert rec.mtd is None or (rec.mtd == rec.dose and not rec.proceed)
        if design == "3+3" and rec.dose is not None:
            # A dose with 2 or more DLTs has exceeded the MTD and is never recommended again.
            dlts = sum(letters.count("T") for dose, letters in cohorts if dose == rec.dose)
            assert dlts < 2


@settings(max_examples=300, deadline=None)
@given(st.data(), st.integers(1, 6), st.sampled_from([0.2, 0.25, 0.3, 0.33]))
def test_boin_never_moves_more_than_one_dose_level_from_the_current_dose(data, num_doses, target):
    """Trials run by the design: each cohort is treated at the dose recommended before it."""
    outcomes = ""
    current = None
    for _ in range(12):
        rec = recommend("boin", outcomes, num_doses, target=target)
        assert rec.dose is None or 1 <= rec.dose <= num_doses
        if current is None:
            assert rec.dose == 1
        elif rec.dose is not None:
            assert abs(rec.dose - current) <= 1
        if not rec.proceed:
            assert rec.dose is None
            break
        current = rec.dose
        outcomes = f"{outcomes} {current}{data.draw(COHORT_LETTERS)}".strip()
