"""Random lab results over every CTCAE-graded test and unit, for comparing grading paths.

``random_results(rows, seed=S)`` gives a frame in the shape ``grade_labs`` takes (test, value,
unit, lln, uln, baseline); the same seed gives the same rows. The CTCAE grading benchmark and the
lab grading tests draw their rows from it.
"""

from __future__ import annotations

import functools

import numpy as np
import pandas as pd

# Illustrative adult reference ranges (lln, uln), the spread of the generated values on a log
# scale, and the decimals a laboratory would report. They only need to be plausible enough for
# the generated values to reach every CTCAE grade; they are not clinical reference ranges.
TYPICAL: dict[tuple[str, str], tuple[float, float, float, int]] = {
    ("ALT", "U/L"): (7, 40, 1.2, 0),
    ("AST", "U/L"): (8, 40, 1.2, 0),
    ("BILI", "umol/L"): (3, 21, 0.9, 0),
    ("BILI", "mg/dL"): (0.2, 1.2, 0.9, 1),
    ("ALP", "U/L"): (40, 130, 1.1, 0),
    ("GGT", "U/L"): (8, 61, 1.2, 0),
    ("CREAT", "umol/L"): (53, 106, 0.8, 0),
    ("CREAT", "mg/dL"): (0.6, 1.2, 0.8, 2),
    ("CK", "U/L"): (30, 200, 1.2, 0),
    ("LIPASE", "U/L"): (13, 60, 1.0, 0),
    ("AMYLASE", "U/L"): (30, 110, 1.0, 0),
    ("INR", "ratio"): (0.8, 1.2, 0.35, 2),
    ("NEUT", "10^9/L"): (1.8, 7.5, 0.9, 2),
    ("NEUT", "/mm3"): (1800, 7500, 0.9, 0),
    ("NEUT", "cells/uL"): (1800, 7500, 0.9, 0),
    ("PLAT", "10^9/L"): (150, 400, 0.8, 0),
    ("PLAT", "/mm3"): (150_000, 400_000, 0.8, 0),
    ("PLAT", "cells/uL"): (150_000, 400_000, 0.8, 0),
    ("WBC", "10^9/L"): (4.0, 11.0, 0.9, 1),
    ("WBC", "/mm3"): (4000, 11_000, 0.9, 0),
    ("WBC", "cells/uL"): (4000, 11_000, 0.9, 0),
    ("LYM", "10^9/L"): (1.0, 4.0, 0.8, 2),
    ("LYM", "/mm3"): (1000, 4000, 0.8, 0),
    ("LYM", "cells/uL"): (1000, 4000, 0.8, 0),
    ("CD4", "10^9/L"): (0.5, 1.5, 0.9, 2),
    ("CD4", "/mm3"): (500, 1500, 0.9, 0),
    ("CD4", "cells/uL"): (500, 1500, 0.9, 0),
    ("HGB", "g/dL"): (12.0, 16.0, 0.25, 1),
    ("HGB", "g/L"): (120, 160, 0.25, 0),
    ("HGB", "mmol/L"): (7.4, 9.9, 0.25, 1),
    ("GLUC", "mg/dL"): (70, 100, 0.35, 0),
    ("GLUC", "mmol/L"): (3.9, 5.6, 0.35, 1),
    ("K", "mmol/L"): (3.5, 5.1, 0.2, 1),
    ("K", "mEq/L"): (3.5, 5.1, 0.2, 1),
    ("SODIUM", "mmol/L"): (135, 145, 0.06, 0),
    ("SODIUM", "mEq/L"): (135, 145, 0.06, 0),
    ("CA", "mg/dL"): (8.5, 10.5, 0.2, 1),
    ("CA", "mmol/L"): (2.15, 2.55, 0.2, 2),
    ("MG", "mg/dL"): (1.7, 2.4, 0.4, 1),
    ("MG", "mmol/L"): (0.7, 1.0, 0.4, 2),
    ("ALB", "g/dL"): (3.5, 5.0, 0.3, 1),
    ("ALB", "g/L"): (35, 50, 0.3, 0),
    ("CHOL", "mg/dL"): (100, 200, 0.4, 0),
    ("CHOL", "mmol/L"): (2.6, 5.2, 0.4, 2),
    ("TRIG", "mg/dL"): (40, 150, 0.8, 0),
    ("TRIG", "mmol/L"): (0.45, 1.7, 0.8, 2),
    ("TEMP", "C"): (36.1, 37.2, 0.08, 1),
    ("TEMP", "F"): (97.0, 99.0, 0.08, 1),
}

# Multiples of ULN and baseline that CTCAE uses as limits, and one below and one beyond them; a
# share of the generated values sits exactly on them so that both grading paths are compared at
# the boundaries and the rare top grades are reached.
LIMIT_MULTIPLES = np.array([0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 5.0, 6.0, 10.0, 20.0, 25.0])


def _rounded(values: np.ndarray, decimals: np.ndarray) -> np.ndarray:
    # Dividing a whole number by a power of ten gives the same float as the decimal literal,
    # so a rounded 1.8 equals the 1.8 CTCAE writes.
    scale = 10.0**decimals
    return np.round(values * scale) / scale


def random_results(rows: int, *, seed: int) -> pd.DataFrame:
    """``rows`` valid results spread over every test and unit of ``TYPICAL``, reproducibly.

    About half have a baseline (some above ULN); about 15% of values sit exactly on a multiple
    of ULN or of the baseline. TEMP rows carry no reference limits, as body temperature has none.
    """
    rng = np.random.default_rng(seed)
    pairs = list(TYPICAL)
    table = np.array([TYPICAL[pair] for pair in pairs], dtype=np.float64)
    pick = rng.integers(len(pairs), size=rows)
    lln0, uln0, sigma, decimals = (table[pick, column] for column in range(4))
    # One jitter for both limits keeps LLN below ULN even for narrow ranges such as sodium.
    jitter = rng.uniform(0.9, 1.1, rows)
    lln = _rounded(lln0 * jitter, decimals)
    uln = _rounded(uln0 * jitter, decimals)
    center = np.sqrt(lln * uln)
    value = _rounded(center * np.exp(sigma * rng.standard_normal(rows)), decimals)
    has_baseline = rng.random(rows) < 0.5
    baseline = np.where(
        has_baseline, _rounded(uln * np.exp(0.6 * rng.standard_normal(rows)), decimals), np.nan
    )
    on_uln = rng.random(rows) < 0.10
    value = np.where(on_uln, uln * rng.choice(LIMIT_MULTIPLES, rows), value)
    on_baseline = has_baseline & (rng.random(rows) < 0.10)
    value = np.where(on_baseline, baseline * rng.choice(LIMIT_MULTIPLES, rows), value)

    tests = np.array([test for test, _ in pairs], dtype=object)[pick]
    units = np.array([unit for _, unit in pairs], dtype=object)[pick]
    no_limits = tests == "TEMP"
    lln[no_limits] = np.nan
    uln[no_limits] = np.nan
    return pd.DataFrame(
        {
            "test": tests,
            "value": value,
            "unit": units,
            "lln": lln,
            "uln": uln,
            "baseline": baseline,
        }
    )


def _multiples() -> list[float]:
    """Factors from 1 outwards: fine steps near 1 (temperature, sodium), then geometric."""
    fine = [1 + step * 0.002 for step in range(1, 101)]
    coarse = [1.2 * 1.03**step for step in range(1, 160)]
    return fine + coarse


MULTIPLES = _multiples()


@functools.lru_cache(maxsize=65536)
def value_of_grade(
    test: str,
    unit: str,
    term: str,
    grade: int,
    *,
    reference: float,
    decimals: int,
    lln: float | None = None,
    uln: float | None = None,
    baseline: float | None = None,
) -> str | None:
    """A value, as the text a laboratory reports, that the CTCAE lab grading gives `term` and
    `grade` with these limits and baseline; None when no value does.

    The values tried run from `reference` (a limit of normal, or a typical value) outwards, up
    for the test's high term and down for its low term; the middle of those that get the grade
    is taken, so that the value is well inside the grade rather than on its boundary.
    """
    from ecrf.ctcae import LAB_TESTS, grade_lab

    high = LAB_TESTS[test].high_term == term
    hits = []
    for factor in MULTIPLES:
        value = reference * factor if high else reference / factor
        text = f"{value:.{decimals}f}"
        if float(text) <= 0:
            break
        graded = grade_lab(test, float(text), unit, lln=lln, uln=uln, baseline=baseline)
        if graded.term == term and graded.grade == grade:
            hits.append(text)
            if len(hits) == 7:
                break  # enough to take the fourth
        elif hits:
            break
    return hits[min(len(hits) // 2, 3)] if hits else None
