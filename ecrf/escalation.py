"""Dose-escalation designs for phase I oncology trials: the 3+3 design and BOIN.

This module is pure Python (no Django, no database) so that the safety review committee's
recommendation can be recomputed anywhere from the DLT outcomes alone.

Outcomes notation
-----------------
Cohorts of DLT-evaluable patients, in the order they were treated, separated by whitespace.
Each cohort is a dose level (1-based, one or more digits) followed by one letter per patient:
``N`` (no DLT) or ``T`` (DLT), in either case. ``"1NNN 2NTN"`` means three patients at dose
level 1 without DLT, then three at dose level 2 of whom the second had a DLT. An empty string
means that no patient has been treated yet. Leading zeros in a dose level are accepted
(``"01NNN"`` is dose level 1); a cohort must be followed by whitespace or the end of the text
(``"1NNN2NNN"`` is an error at position 4).

Only the counts of patients and DLTs at each dose, and the dose of the last cohort (the
current dose), enter the decisions; the order of patients within a cohort does not.

The 3+3 design (Storer 1989)
----------------------------
Storer BE. Design and analysis of phase I clinical trials. Biometrics 1989;45:925-937. The
rules are applied to the cumulative counts at each dose level:

* The lowest dose level with 2 or more DLTs (among any number of patients) has exceeded the
  MTD. It is never re-entered, and neither is any dose above it.
* While no dose has been exceeded, the decision is taken at the current dose: 0 DLT in fewer
  than 3 patients (a cohort incomplete after a drop-out, e.g. ``"1NN"``): stay to complete
  the cohort of 3; 0 DLT in 3 or more: escalate; 1 DLT in fewer than 6: stay to expand the
  dose to 6 patients; 1 DLT in 6 or more: escalate.
* Escalating past the highest dose: the highest dose is the MTD if it has 6 or more patients
  with at most 1 DLT, otherwise it is expanded to 6 patients.
* Escalating into a dose that already has patients (possible only if an earlier cohort went
  back down): that dose's own counts are used at once. If they already justify escalation
  (0 DLT in 3 or more, or 1 DLT in 6 or more) the escalation continues to the next dose;
  otherwise the recommendation is that dose, to complete or expand it.
* When dose level ``x`` has been exceeded, with ``allow_deescalate=True``: if dose level
  ``x - 1`` has fewer than 6 patients it is expanded to 6 (the recommendation is ``x - 1``,
  proceed True); once it has 6 or more, it has at most 1 DLT (otherwise it would be the
  exceeded dose) and it is the MTD. This makes the MTD the highest dose with at most 1 DLT in
  6 patients below every exceeded dose. With ``allow_deescalate=False`` the MTD is ``x - 1``
  at once, whatever its counts. When dose level 1 is exceeded there is no MTD.

The BOIN design (Liu and Yuan 2015)
-----------------------------------
Liu S, Yuan Y. Bayesian optimal interval designs for phase I clinical trials. Journal of the
Royal Statistical Society Series C (Applied Statistics) 2015;64:507-523.

* Boundaries: see :func:`boin_boundaries` (local design, default p_saf = 0.6 x target and
  p_tox = 1.4 x target).
* Elimination: the cohorts are replayed in order; after each cohort, if its dose has 3 or more
  patients and Pr(p > target | y, n) > 0.95 under a Beta(1, 1) prior, that dose and all higher
  doses are eliminated for the rest of the trial, even if later patients (a protocol
  deviation) would lower the posterior probability again. The posterior tail is computed
  exactly with rational arithmetic: for the posterior Beta(1 + y, 1 + n - y),
  Pr(p > t) = Pr(Binomial(n + 1, t) <= y).
* Decision at the current dose with y DLTs in n patients: escalate when y / n <= lambda_e, but
  stay when the current dose is the highest or the next dose is eliminated; de-escalate when
  y / n >= lambda_d, but stay at dose level 1; otherwise stay. When the current dose is itself
  eliminated, the recommendation is the highest dose below the lowest eliminated dose (for a
  trial run by the design this is the next lower dose). When dose level 1 is eliminated the
  trial stops without an MTD.
* The design does not know the planned sample size, so :func:`recommend` never declares an MTD
  during the trial; ``recommend(..., final=True)`` (or :func:`boin_select_mtd`) selects it at
  the end as described in :func:`boin_select_mtd`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from decimal import Decimal
from fractions import Fraction
from numbers import Real

__all__ = [
    "DESIGNS",
    "Recommendation",
    "boin_boundaries",
    "boin_select_mtd",
    "dose_closed_reason",
    "highest_open_dose",
    "parse_outcomes",
    "recommend",
]

DESIGNS = ("3+3", "boin")

# Liu and Yuan (2015) eliminate a dose when Pr(p > target | data) exceeds 0.95 with at least
# 3 patients treated at it; the cut-off is kept as an exact fraction so that the comparison
# with the exact posterior probability involves no rounding.
ELIMINATION_CUTOFF = Fraction(95, 100)
ELIMINATION_MIN_PATIENTS = 3

_DIGITS = "0123456789"
_LETTERS = "NTnt"


@dataclass(frozen=True)
class Recommendation:
    """What the design recommends after the outcomes seen so far.

    ``dose`` is the dose level for the next cohort (1-based), or None when no dose is
    acceptable; ``proceed`` is False when the design says to stop; ``mtd`` is the MTD once the
    design has found it; ``reason`` is one sentence for the safety review committee;
    ``exceeded`` is the lowest dose level that exceeds the MTD (3+3: 2 or more DLTs) or is
    eliminated (BOIN), which no patient may enter again, or None.
    """

    dose: int | None
    proceed: bool
    mtd: int | None
    reason: str
    exceeded: int | None = None


# --------------------------------------------------------------------------------------------
# Parsing
# --------------------------------------------------------------------------------------------


def _check_num_doses(num_doses: int) -> None:
    # A bool is an int in Python, but True as a number of doses is certainly a mistake.
    if not isinstance(num_doses, int) or isinstance(num_doses, bool) or num_doses < 1:
        raise ValueError(f"num_doses must be an integer of at least 1, got {num_doses!r}")


def parse_outcomes(outcomes: str, num_doses: int) -> list[tuple[int, str]]:
    """Parse cohorts such as ``"1NNN 2NTN"`` into ``[(1, "NNN"), (2, "NTN")]``.

    Letters are returned in upper case. An empty (or all-whitespace) string gives an empty
    list. Errors raise ValueError naming the 0-based character position of the problem.
    """
    _check_num_doses(num_doses)
    if not isinstance(outcomes, str):
        raise TypeError(f"outcomes must be a string, got {type(outcomes).__name__}")
    cohorts: list[tuple[int, str]] = []
    length = len(outcomes)
    pos = 0
    while True:
        while pos < length and outcomes[pos].isspace():
            pos += 1
        if pos == length:
            return cohorts
        start = pos
        while pos < length and outcomes[pos] in _DIGITS:
            pos += 1
        if pos == start:
            raise ValueError(
                f"outcomes: position {pos}: expected a dose level number, found {outcomes[pos]!r}"
            )
        level = int(outcomes[start:pos])
        if not 1 <= level <= num_doses:
            raise ValueError(
                f"outcomes: dose level {level} at position {start} is outside 1-{num_doses}"
            )
        letters_start = pos
        while pos < length and outcomes[pos] in _LETTERS:
            pos += 1
        if pos == letters_start:
            raise ValueError(
                f"outcomes: position {pos}: expected N or T after dose level {level}, "
                f"found {_describe(outcomes, pos)}"
            )
        if pos < length and not outcomes[pos].isspace():
            raise ValueError(
                f"outcomes: position {pos}: expected N, T or a space after dose level {level}, "
                f"found {outcomes[pos]!r}"
            )
        cohorts.append((level, outcomes[letters_start:pos].upper()))


def _describe(text: str, pos: int) -> str:
    return "the end of the text" if pos == len(text) else repr(text[pos])


def _tally(cohorts: list[tuple[int, str]], num_doses: int) -> tuple[list[int], list[int]]:
    """Patients and DLTs per dose level; index 0 and num_doses + 1 are unused padding."""
    patients = [0] * (num_doses + 2)
    dlts = [0] * (num_doses + 2)
    for level, letters in cohorts:
        patients[level] += len(letters)
        dlts[level] += letters.count("T")
    return patients, dlts


# --------------------------------------------------------------------------------------------
# Entry point
# --------------------------------------------------------------------------------------------


def recommend(
    design: str,
    outcomes: str,
    num_doses: int,
    *,
    target: float | None = None,
    allow_deescalate: bool = True,
    final: bool = False,
) -> Recommendation:
    """Recommend the next dose under ``design`` ("3+3" or "boin") after ``outcomes``.

    ``target`` (the target DLT rate, 0 < target < 1) is required for BOIN and ignored for
    3+3. ``allow_deescalate`` only applies to 3+3 (BOIN always de-escalates). ``final`` only
    applies to BOIN: with ``final=True`` the trial is over and the MTD is selected by
    :func:`boin_select_mtd` (proceed False, dose = mtd); the 3+3 design decides by itself when
    the trial ends, so ``final`` is ignored for it. See the module docstring for the rules.
    """
    if design not in DESIGNS:
        allowed = ", ".join(f'"{name}"' for name in DESIGNS)
        raise ValueError(f"unknown design {design!r}: the allowed designs are {allowed}")
    _check_num_doses(num_doses)
    if design == "boin":
        _check_target(target)
    cohorts = parse_outcomes(outcomes, num_doses)
    if design == "3+3":
        return _three_plus_three(cohorts, num_doses, allow_deescalate)
    # Checked above; a float also formats the same way whether a Fraction or a Decimal came in.
    target = float(target)  # type: ignore[arg-type]
    advice = _boin_final(cohorts, num_doses, target) if final else _boin(cohorts, num_doses, target)
    eliminated = _boin_replay(cohorts, num_doses, target).elimination
    return replace(advice, exceeded=eliminated.dose if eliminated else None)


# --------------------------------------------------------------------------------------------
# Enrolment
# --------------------------------------------------------------------------------------------


def highest_open_dose(recommendation: Recommendation, outcomes: str, num_doses: int) -> int | None:
    """The highest dose level a new patient may be enrolled at now, after ``outcomes``; every
    lower dose level is open too. None when the design opens no dose (it stops the trial).

    The open doses are the current dose (the dose of the last cohort) and every lower dose,
    and the recommended dose, but never the lowest dose that exceeds the MTD (3+3) or is
    eliminated (BOIN) nor any dose above it. So a dose above the current one opens only when
    the design recommends escalating to it (3+3: 0 DLT in 3 or 1 DLT in 6 at the current dose;
    BOIN: the rate at or below lambda_e), and a dose the design says to leave (a BOIN
    de-escalation that eliminates nothing) stays open for the rest of its cohort. Once the
    3+3 design declares the MTD, the MTD and the doses below it stay open (expansion cohorts).
    """
    if recommendation.dose is None:
        return None
    cohorts = parse_outcomes(outcomes, num_doses)
    current = cohorts[-1][0] if cohorts else 1
    highest = max(current, recommendation.dose)
    if recommendation.exceeded is not None:
        highest = min(highest, recommendation.exceeded - 1)
    return highest if highest >= 1 else None


def dose_closed_reason(
    design: str, recommendation: Recommendation, highest: int | None, dose: int
) -> str:
    """Why dose level ``dose`` is not open when ``highest`` (from :func:`highest_open_dose`)
    is the highest open one; the empty string when it is open."""
    if highest is not None and dose <= highest:
        return ""
    if recommendation.exceeded is not None and dose >= recommendation.exceeded:
        if design == "boin":
            return f"dose level {recommendation.exceeded} and every higher dose are eliminated"
        if dose == recommendation.exceeded:
            return "it exceeds the MTD"
        return f"it is above dose level {recommendation.exceeded}, which exceeds the MTD"
    if highest is None:
        return "the design stops the trial"
    opened = "only dose level 1 is" if highest == 1 else f"dose levels 1 to {highest} are"
    return f"the escalation to it has not been cleared ({opened} open)"


# --------------------------------------------------------------------------------------------
# 3+3
# --------------------------------------------------------------------------------------------


def _three_plus_three(
    cohorts: list[tuple[int, str]], num_doses: int, allow_deescalate: bool
) -> Recommendation:
    if not cohorts:
        return Recommendation(
            1, True, None, "No patient has been treated yet: start at dose level 1."
        )
    patients, dlts = _tally(cohorts, num_doses)
    exceeded = next((d for d in range(1, num_doses + 1) if dlts[d] >= 2), None)
    if exceeded is not None:
        return _three_plus_three_exceeded(exceeded, patients, dlts, allow_deescalate)
    return _three_plus_three_climb(cohorts[-1][0], patients, dlts, num_doses)


def _three_plus_three_exceeded(
    exceeded: int, patients: list[int], dlts: list[int], allow_deescalate: bool
) -> Recommendation:
    found = (
        f"{dlts[exceeded]} of {patients[exceeded]} evaluable patients at dose level "
        f"{exceeded} had a DLT"
    )
    if exceeded == 1:
        return Recommendation(
            None,
            False,
            None,
            f"{found}, so even the lowest dose exceeds the MTD: stop the trial without an MTD.",
            exceeded,
        )
    below = exceeded - 1
    if not allow_deescalate:
        return Recommendation(
            below,
            False,
            below,
            f"{found}, so dose level {exceeded} exceeds the MTD and, without de-escalation, "
            f"dose level {below} is the MTD.",
            exceeded,
        )
    if patients[below] >= 6:
        # The lowest exceeded dose is ``exceeded``, so ``below`` has at most 1 DLT.
        return Recommendation(
            below,
            False,
            below,
            f"{found}, so dose level {exceeded} exceeds the MTD, and {dlts[below]} of "
            f"{patients[below]} evaluable patients at dose level {below} had a DLT: dose "
            f"level {below} is the MTD.",
            exceeded,
        )
    if patients[below] == 0:
        action = f"treat 6 patients at dose level {below}, which has none yet"
    else:
        action = (
            f"expand dose level {below} ({dlts[below]} of {patients[below]} with a DLT so far) "
            "to 6 patients"
        )
    return Recommendation(
        below,
        True,
        None,
        f"{found}, so dose level {exceeded} exceeds the MTD: {action}.",
        exceeded,
    )


def _three_plus_three_climb(
    current: int, patients: list[int], dlts: list[int], num_doses: int
) -> Recommendation:
    """Apply the 3+3 rules at the current dose when no dose has been exceeded."""
    clauses = []
    dose = current
    while True:
        n, y = patients[dose], dlts[dose]
        top = ", the highest dose," if dose == num_doses else ""
        if dose == current:
            clauses.append(f"{y} of {n} evaluable patients at dose level {dose}{top} had a DLT")
        else:
            clauses.append(f"dose level {dose}{top} already has {y} of {n} with a DLT")
        found = " and ".join(clauses)
        if y == 0 and n < 3:
            return Recommendation(
                dose, True, None, f"{found}: complete the cohort of 3 at dose level {dose}."
            )
        if y == 1 and n < 6:
            return Recommendation(
                dose, True, None, f"{found}: expand dose level {dose} to 6 patients."
            )
        # 0 DLT in 3 or more, or 1 DLT in 6 or more: the dose is cleared for escalation.
        if dose == num_doses:
            if n >= 6:
                return Recommendation(dose, False, dose, f"{found}: dose level {dose} is the MTD.")
            return Recommendation(
                dose, True, None, f"{found}: expand dose level {dose} to 6 patients."
            )
        if patients[dose + 1] == 0:
            return Recommendation(
                dose + 1, True, None, f"{found}: escalate to dose level {dose + 1}."
            )
        # The next dose was treated before (the trial went back down since): its own counts
        # decide, so that no patient is added to a dose whose data already justify escalation.
        dose += 1


# --------------------------------------------------------------------------------------------
# BOIN
# --------------------------------------------------------------------------------------------


def _check_target(target: object) -> None:
    if target is None:
        raise ValueError("the BOIN design needs a target DLT rate (target=...)")
    # Decimal is not registered as a Real number but is a natural way to write a rate.
    numeric = isinstance(target, Real | Decimal) and not isinstance(target, bool)
    if not numeric or not 0 < target < 1:
        raise ValueError(f"target must be a number strictly between 0 and 1, got {target!r}")


def boin_boundaries(
    target: float, p_saf: float | None = None, p_tox: float | None = None
) -> tuple[float, float]:
    """The BOIN escalation and de-escalation boundaries (lambda_e, lambda_d).

    Liu and Yuan (2015), local BOIN design with equal prior probabilities of the three
    hypotheses: with p_saf (highest DLT rate deemed subtherapeutic, default 0.6 x target) and
    p_tox (lowest DLT rate deemed overly toxic, default 1.4 x target),

        lambda_e = log((1 - p_saf) / (1 - target))
                   / log(target (1 - p_saf) / (p_saf (1 - target)))
        lambda_d = log((1 - target) / (1 - p_tox))
                   / log(p_tox (1 - target) / (target (1 - p_tox)))

    Target 0.30 gives (0.236, 0.359) and target 0.25 gives (0.197, 0.298) to 3 decimals.
    Raises ValueError unless 0 < p_saf < target < p_tox < 1 (with the defaults, a target of
    1 / 1.4 = 0.714 or more has no valid p_tox).
    """
    _check_target(target)
    target = float(target)
    p_saf = 0.6 * target if p_saf is None else p_saf
    p_tox = 1.4 * target if p_tox is None else p_tox
    if not 0 < p_saf < target:
        raise ValueError(f"p_saf must be strictly between 0 and the target {target}, got {p_saf}")
    if not target < p_tox < 1:
        raise ValueError(f"p_tox must be strictly between the target {target} and 1, got {p_tox}")
    lambda_e = math.log((1 - p_saf) / (1 - target)) / math.log(
        target * (1 - p_saf) / (p_saf * (1 - target))
    )
    lambda_d = math.log((1 - target) / (1 - p_tox)) / math.log(
        p_tox * (1 - target) / (target * (1 - p_tox))
    )
    return lambda_e, lambda_d


def _exact(value: float) -> Fraction:
    """The decimal a person typed (0.3 is 3/10), not the nearest binary float to it."""
    return Fraction(str(value))


def _prob_above(dlts: int, patients: int, target: Fraction) -> Fraction:
    """Exact Pr(p > target | dlts of patients) under a Beta(1, 1) prior.

    The posterior is Beta(a, b) with a = 1 + dlts and b = 1 + patients - dlts. For integer
    parameters P(Beta(a, b) <= x) = P(Binomial(a + b - 1, x) >= a), so
    Pr(p > target) = P(Binomial(patients + 1, target) <= dlts).
    """
    trials = patients + 1
    return sum(
        (math.comb(trials, k) * target**k * (1 - target) ** (trials - k) for k in range(dlts + 1)),
        Fraction(0),
    )


@dataclass(frozen=True)
class _Elimination:
    dose: int
    dlts: int
    patients: int
    probability: Fraction


@dataclass(frozen=True)
class _BoinState:
    patients: list[int]
    dlts: list[int]
    elimination: _Elimination | None  # The event that eliminated the lowest dose, if any.


def _boin_replay(cohorts: list[tuple[int, str]], num_doses: int, target: float) -> _BoinState:
    exact_target = _exact(target)
    patients = [0] * (num_doses + 2)
    dlts = [0] * (num_doses + 2)
    elimination: _Elimination | None = None
    for level, letters in cohorts:
        patients[level] += len(letters)
        dlts[level] += letters.count("T")
        if patients[level] < ELIMINATION_MIN_PATIENTS:
            continue
        if elimination is not None and level >= elimination.dose:
            continue
        probability = _prob_above(dlts[level], patients[level], exact_target)
        if probability > ELIMINATION_CUTOFF:
            elimination = _Elimination(level, dlts[level], patients[level], probability)
    return _BoinState(patients, dlts, elimination)


def _fmt_target(target: float) -> str:
    return f"{target:.2f}" if round(target, 2) == target else f"{target:g}"


def _fmt_probability(probability: Fraction) -> str:
    """At least 3 decimals, more if needed so that the figure shown is above 0.95."""
    for decimals in range(3, 10):
        shown = f"{float(probability):.{decimals}f}"
        if Fraction(shown) > ELIMINATION_CUTOFF:
            return shown
    return f"{float(probability):.10f}"


def _elimination_text(event: _Elimination, target: float) -> str:
    return (
        f"{event.dlts} of {event.patients} at dose level {event.dose} had a DLT "
        f"(Pr(DLT rate > {_fmt_target(target)}) = {_fmt_probability(event.probability)} > 0.95)"
    )


def _fmt_rate(rate: float, bounds: tuple[float, float], relation: str) -> tuple[str, str, str]:
    """Rate (2 decimals) and boundaries (3 decimals) as shown in a reason.

    More decimals are used when rounding would show a comparison that looks wrong, such as
    4 of 17 = 0.2353 shown as "0.24 <= 0.236".
    """
    lower, upper = bounds
    # The rate gains decimals first, so that the boundaries keep their published 3 decimals
    # whenever possible.
    for rate_decimals, bound_decimals in ((2, 3), (3, 3), (4, 3), (4, 4), (6, 6), (9, 9)):
        r = round(rate, rate_decimals)
        lo = round(lower, bound_decimals)
        up = round(upper, bound_decimals)
        if {"le": r <= lo, "ge": r >= up, "between": lo < r < up}[relation]:
            break
    return f"{r:.{rate_decimals}f}", f"{lo:.{bound_decimals}f}", f"{up:.{bound_decimals}f}"


def _boin(cohorts: list[tuple[int, str]], num_doses: int, target: float) -> Recommendation:
    label = f"BOIN (target {_fmt_target(target)})"
    if not cohorts:
        return Recommendation(
            1, True, None, f"{label}: no patient has been treated yet, so start at dose level 1."
        )
    lambda_e, lambda_d = boin_boundaries(target)
    state = _boin_replay(cohorts, num_doses, target)
    event = state.elimination
    current = cohorts[-1][0]
    if event is not None and event.dose == 1:
        return Recommendation(
            None,
            False,
            None,
            f"{label}: {_elimination_text(event, target)}, so dose level 1 and all higher "
            "doses are eliminated: stop the trial without an MTD.",
        )
    if event is not None and current >= event.dose:
        allowed = event.dose - 1
        if current == event.dose:
            action = f"de-escalate to dose level {allowed}"
        else:
            action = f"go down from dose level {current} to dose level {allowed}"
        return Recommendation(
            allowed,
            True,
            None,
            f"{label}: {_elimination_text(event, target)}, so dose level {event.dose} and "
            f"all higher doses are eliminated: {action}.",
        )

    n, y = state.patients[current], state.dlts[current]
    rate = y / n
    observed = f"{label}: {y} of {n} at dose level {current}"
    if rate <= lambda_e:
        shown, lo, _ = _fmt_rate(rate, (lambda_e, lambda_d), "le")
        observed += f" (rate {shown} <= {lo})"
        if current == num_doses:
            return Recommendation(
                current,
                True,
                None,
                f"{observed}, but dose level {current} is the highest dose: stay at dose "
                f"level {current}.",
            )
        if event is not None and current + 1 >= event.dose:
            return Recommendation(
                current,
                True,
                None,
                f"{observed}, but dose level {current + 1} is eliminated: stay at dose level "
                f"{current}.",
            )
        return Recommendation(
            current + 1, True, None, f"{observed}: escalate to dose level {current + 1}."
        )
    if rate >= lambda_d:
        shown, _, up = _fmt_rate(rate, (lambda_e, lambda_d), "ge")
        observed += f" (rate {shown} >= {up})"
        if current == 1:
            return Recommendation(
                1,
                True,
                None,
                f"{observed}, but dose level 1 is the lowest dose: stay at dose level 1.",
            )
        return Recommendation(
            current - 1, True, None, f"{observed}: de-escalate to dose level {current - 1}."
        )
    shown, lo, up = _fmt_rate(rate, (lambda_e, lambda_d), "between")
    return Recommendation(
        current,
        True,
        None,
        f"{observed} (rate {shown}, between {lo} and {up}): stay at dose level {current}.",
    )


def _isotonic(doses: list[int], dlts: list[int], patients: list[int]) -> dict[int, Fraction]:
    """Pool-adjacent-violators on the observed rates y/n, weighted by n, over ``doses``.

    Pooling adjacent doses whose rates decrease replaces them with the pooled rate
    (sum of DLTs) / (sum of patients), the weighted mean of their rates with weights n.
    """
    blocks: list[tuple[int, int, list[int]]] = []  # (DLTs, patients, doses) per block.
    for dose in doses:
        blocks.append((dlts[dose], patients[dose], [dose]))
        while len(blocks) >= 2 and Fraction(blocks[-2][0], blocks[-2][1]) > Fraction(
            blocks[-1][0], blocks[-1][1]
        ):
            y2, n2, d2 = blocks.pop()
            y1, n1, d1 = blocks.pop()
            blocks.append((y1 + y2, n1 + n2, d1 + d2))
    return {dose: Fraction(y, n) for y, n, members in blocks for dose in members}


def _boin_select(
    cohorts: list[tuple[int, str]], num_doses: int, target: float
) -> tuple[int | None, dict[int, Fraction], _BoinState]:
    state = _boin_replay(cohorts, num_doses, target)
    highest = num_doses if state.elimination is None else state.elimination.dose - 1
    tried = [d for d in range(1, highest + 1) if state.patients[d] > 0]
    if not tried:
        return None, {}, state
    estimates = _isotonic(tried, state.dlts, state.patients)
    exact_target = _exact(target)
    closest = min(abs(estimates[d] - exact_target) for d in tried)
    tied = [d for d in tried if abs(estimates[d] - exact_target) == closest]
    below = [d for d in tied if estimates[d] < exact_target]
    # Liu and Yuan (2015): among ties, the highest dose when the estimates are below the
    # target, the lowest otherwise. Ties on both sides of the target at the same distance are
    # not covered by the paper; the dose below the target is taken, the safer choice.
    mtd = max(below) if below else min(tied)
    return mtd, estimates, state


def boin_select_mtd(outcomes: str, num_doses: int, target: float) -> int | None:
    """Select the MTD at the end of a BOIN trial (Liu and Yuan 2015, section on MTD selection).

    Implemented exactly as follows:

    1. Only doses below the lowest eliminated dose (see the module docstring for the
       elimination rule) that have at least one patient are candidates; None when there is
       none (no patient yet, or dose level 1 eliminated).
    2. The isotonic (non-decreasing in dose) estimates of the DLT rates are obtained by the
       pool-adjacent-violators algorithm applied to the observed rates y_j / n_j of the
       candidates, weighted by n_j, in exact rational arithmetic. No perturbation and no
       continuity correction is added: the BOIN R package uses (y + 0.05) / (n + 0.1) with
       variance weights and adds 1e-10 x j to break ties, which is an implementation detail
       of the package rather than the paper's description.
    3. The MTD is the candidate whose estimate is closest to the target (the target is taken
       as the decimal written, 0.3 = 3/10, so distances are exact). Among ties: the highest
       dose if the tied estimates are below the target, the lowest dose otherwise; when tied
       estimates lie on both sides of the target at the same distance, the highest of those
       below the target.

    Example (target 0.30): 0 of 3 at dose 1, 2 of 6 at dose 2, 1 of 6 at dose 3 give the raw
    rates 0, 0.333, 0.167; doses 2 and 3 are pooled to 3 / 12 = 0.25, so the estimates are
    0, 0.25, 0.25 and the MTD is dose 3 (tie below the target), where the raw rates alone
    would have pointed to dose 2.
    """
    _check_num_doses(num_doses)
    _check_target(target)
    cohorts = parse_outcomes(outcomes, num_doses)
    mtd, _, _ = _boin_select(cohorts, num_doses, float(target))
    return mtd


def _boin_final(cohorts: list[tuple[int, str]], num_doses: int, target: float) -> Recommendation:
    label = f"BOIN (target {_fmt_target(target)}), end of trial"
    mtd, estimates, state = _boin_select(cohorts, num_doses, target)
    if mtd is not None:
        estimate = estimates[mtd]
        return Recommendation(
            mtd,
            False,
            mtd,
            f"{label}: the isotonic estimate of the DLT rate at dose level {mtd}, "
            f"{float(estimate):.2f} ({state.dlts[mtd]} of {state.patients[mtd]} observed), is "
            "the closest to the target among the doses tried and not eliminated: dose level "
            f"{mtd} is the MTD.",
        )
    event = state.elimination
    if event is not None and event.dose == 1:
        return Recommendation(
            None,
            False,
            None,
            f"{label}: {_elimination_text(event, target)}, so dose level 1 and all higher "
            "doses are eliminated and no MTD is selected.",
        )
    return Recommendation(
        None, False, None, f"{label}: no patient was treated, so no MTD can be selected."
    )
