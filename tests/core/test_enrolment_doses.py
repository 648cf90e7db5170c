"""Which dose levels a new patient may be enrolled at, from the design's recommendation
(issue #21 item 3): the current dose and below, the recommended dose, never the lowest dose that
exceeds the MTD (3+3) or is eliminated (BOIN) nor a dose above it.

Storer BE. Design and analysis of phase I clinical trials. Biometrics 1989;45:925-937 (3+3:
escalate after 0 DLT in 3 or 1 DLT in 6; 2 or more DLTs at a dose exceed the MTD).
Liu S, Yuan Y. Bayesian optimal interval designs for phase I clinical trials. J R Stat Soc
Ser C Appl Stat 2015;64:507-523 (BOIN, target 0.30: escalate at a rate <= 0.236, de-escalate at
>= 0.359, eliminate a dose with 3 or more patients when Pr(rate > 0.30) > 0.95).
"""

from __future__ import annotations

import pytest

from ecrf.escalation import dose_closed_reason, highest_open_dose, recommend


def _highest(design: str, outcomes: str, num_doses: int = 4, **options) -> int | None:
    if design == "boin":
        options.setdefault("target", 0.3)
    return highest_open_dose(recommend(design, outcomes, num_doses, **options), outcomes, num_doses)


@pytest.mark.parametrize(
    ("outcomes", "highest"),
    [
        ("", 1),  # no patient yet: start at dose level 1
        ("1NN", 1),  # a cohort of 3 not complete: no escalation yet
        ("1NNN", 2),  # 0 of 3: escalate
        ("1NNN 2TN", 2),  # 1 DLT in fewer than 6: expand dose level 2, do not escalate
        ("1NNN 2TNNNNN", 3),  # 1 of 6: escalate
        ("1NNN 2NNN 3TT", 2),  # 2 DLTs: dose level 3 exceeds the MTD
        ("1NNN 2NNN 3TTN 2NNN", 2),  # 0 of 6 at 2 below the exceeded 3: 2 is the MTD
        ("1NNN 2NNN 3NNN 4NNNNNN", 4),  # the highest dose, 0 of 6: the MTD
        ("1TT", None),  # even the lowest dose exceeds the MTD: stop
    ],
)
def test_three_plus_three_opens_a_dose_only_once_the_escalation_to_it_is_cleared(outcomes, highest):
    assert _highest("3+3", outcomes) == highest


def test_three_plus_three_without_de_escalation_keeps_the_dose_below_the_exceeded_one_open():
    assert _highest("3+3", "1NNN 2TT", allow_deescalate=False) == 1


def test_the_recommendation_names_the_lowest_exceeded_or_eliminated_dose():
    assert recommend("3+3", "1NNN 2NNN 3TT", 4).exceeded == 3
    assert recommend("3+3", "1NNN 2TN", 4).exceeded is None
    # BOIN: 3 of 3 at dose 2, Pr(rate > 0.30) = 1 - 0.3^4 = 0.9919 > 0.95: eliminated.
    assert recommend("boin", "1NNN 2TTT", 4, target=0.3).exceeded == 2
    assert recommend("boin", "1NNN 2TTT", 4, target=0.3, final=True).exceeded == 2
    assert recommend("boin", "1NNN 2TN", 4, target=0.3).exceeded is None


@pytest.mark.parametrize(
    ("outcomes", "highest"),
    [
        ("", 1),
        ("1NNN", 2),  # rate 0 <= 0.236: escalate
        ("1NNN 2TNN", 2),  # rate 0.33, between the boundaries: stay
        # Rate 1 >= 0.359: de-escalate, but 1 patient cannot eliminate dose 2, which stays open
        # for the rest of its cohort (the current dose and below).
        ("1NNN 2T", 2),
        ("1NNN 2TTT", 1),  # dose 2 eliminated (Pr = 0.9919 > 0.95): never again
        ("1TTT", None),  # dose 1 eliminated: stop
    ],
)
def test_boin_opens_the_current_and_recommended_doses_below_any_eliminated_one(outcomes, highest):
    assert _highest("boin", outcomes) == highest


def test_a_closed_dose_says_why():
    exceeded = recommend("3+3", "1NNN 2NNN 3TT", 4)
    assert dose_closed_reason("3+3", exceeded, 2, 2) == ""
    assert dose_closed_reason("3+3", exceeded, 2, 3) == "it exceeds the MTD"
    assert dose_closed_reason("3+3", exceeded, 2, 4) == (
        "it is above dose level 3, which exceeds the MTD"
    )
    waiting = recommend("3+3", "1NN", 4)
    assert dose_closed_reason("3+3", waiting, 1, 2) == (
        "the escalation to it has not been cleared (only dose level 1 is open)"
    )
    assert dose_closed_reason("3+3", recommend("3+3", "1NNN 2TN", 4), 2, 3) == (
        "the escalation to it has not been cleared (dose levels 1 to 2 are open)"
    )
    eliminated = recommend("boin", "1NNN 2TTT", 4, target=0.3)
    assert dose_closed_reason("boin", eliminated, 1, 3) == (
        "dose level 2 and every higher dose are eliminated"
    )
    stopped = recommend("3+3", "1TT", 4)
    assert dose_closed_reason("3+3", stopped, None, 1) == "it exceeds the MTD"
