"""CTCAE v5.0 grading of laboratory results and body temperature.

Two entry points share one table of criteria (``_TABLE`` below):

* ``grade_lab(test, value, unit, *, lln=None, uln=None, baseline=None)`` grades one result in
  pure Python and returns a ``LabGrade(term, grade)``;
* ``grade_labs(frame)`` grades a whole pandas DataFrame with numpy vector operations, one group
  per test and unit, and agrees with ``grade_lab`` on every row.

The module imports neither Django nor pandas at import time, so scripts, data imports and
validators can use it anywhere; pandas and numpy are imported by ``grade_labs`` when it is first
called.

How a grade is found
--------------------
Each term has, per unit system, a list of criteria ``(grade, threshold)`` where the threshold is
a CTCAE number, a multiple of LLN, ULN or baseline, or ULN/baseline plus an increment. The grade
is the highest grade whose threshold the value passes in the direction of the term. Bounds
follow the way CTCAE writes them: ">A - B" means A < value <= B and "<A - B" means
B <= value < A, so a value exactly at ULN is grade 0 for ">ULN - 3.0 x ULN", and a value
exactly at 3.0 x ULN is still grade 1. Lower bounds CTCAE writes without ">" ("1.5 - 3.0 x
baseline", "150 mg/dL - 300 mg/dL", "38.0 - 39.0 degrees C") are inclusive.

Thresholds are compared with a relative tolerance of 1e-9, so that a value such as 1.8 mg/dL
with ULN 1.2 mg/dL counts as exactly 1.5 x ULN although 1.5 * 1.2 is 1.7999999999999998 in
binary floating point. No laboratory reports a value to ten significant digits, so the
tolerance never moves a real result across a boundary.

Numbers are CTCAE's own in every unit system CTCAE writes. Where CTCAE gives a threshold in one
unit system only, the other system's number is derived by a standard conversion factor, stated
next to the criterion in ``_TABLE``.

Interpretation choices (CTCAE v5.0)
-----------------------------------
The value alone cannot show symptoms, hospitalisation, interventions, anticoagulation,
transfusion, duration or life-threatening consequences. Where a grade depends on them, the
grade the value alone supports is returned:

* 'Hypokalemia': <LLN - 3.0 mmol/L is grade 1 (grade 2 needs "symptomatic"); <3.0 - 2.5 is
  grade 3; <2.5 is grade 4.
* 'Hyponatremia': <LLN - 130 mmol/L grade 1; 125-129 grade 2 (the asymptomatic arm);
  120-124 grade 3; <120 grade 4. The integer ranges are read as continuous: grade 2 is
  125 <= value < 130 and grade 3 is 120 <= value < 125.
* 'Lipase increased' and 'Serum amylase increased': >ULN - 1.5 x ULN grade 1; >1.5 - 5.0 x ULN
  grade 2 (the asymptomatic arm of >2.0 - 5.0); >5.0 x ULN grade 3 (the asymptomatic arm);
  grade 4 needs signs or symptoms and is never returned.
* 'INR increased': the arm for a patient not on anticoagulation, which v5.0 writes as plain
  INR values, not multiples of ULN: >1.2 - 1.5 grade 1; >1.5 - 2.5 grade 2; >2.5 grade 3. INR
  therefore needs no ULN, and the "x baseline if on anticoagulation" arm is not used.
* 'Anemia': <LLN - 10.0 g/dL grade 1; <10.0 - 8.0 grade 2; <8.0 grade 3 (in g/L and mmol/L
  CTCAE's own 100/80 g/L and 6.2/4.9 mmol/L); grade 4 has no numeric criterion.
* 'Hypoalbuminemia': grade 3 is the highest numeric grade (<2 g/dL; <20 g/L).
* 'Hypocalcemia' and 'Hypercalcemia': the value is graded as corrected serum calcium (mg/dL or
  mmol/L); correcting for albumin is the caller's job, and the ionized calcium criteria are
  not used.
* 'Hypermagnesemia': CTCAE has no grade 2; >ULN - 3.0 mg/dL (1.23 mmol/L) is grade 1 and the
  next grade is 3.
* 'Hyperglycemia' is not gradable from a glucose value in v5.0 (its grades describe treatment),
  so GLUC above ULN returns grade 0 with term None. GLUC grades 'Hypoglycemia' only.
* 'Leukocytosis': only grade 3 (>100,000/mm3) is numeric; a WBC between ULN and that limit is
  grade 0.
* 'Lymphocyte count increased': >4000 - 20,000/mm3 grade 2; >20,000/mm3 grade 3; there is no
  grade 1, and the criteria do not refer to ULN.
* 'Hemoglobin increased': the increase is measured above ULN, or above baseline when the
  baseline is above ULN: >0 - 2 g/dL grade 1; >2 - 4 grade 2; >4 grade 3.
* 'Fever': 38.0 - 39.0 C grade 1; >39.0 - 40.0 grade 2; >40.0 grade 3 (the duration that
  separates grade 3 from grade 4 is unknown from one value). In Fahrenheit CTCAE writes grade 2
  as "102.3 - 104.0"; it is read as >102.2 F so that no value falls between grades.
* 'Hypothermia': 35 - >32 C grade 2; 32 - >28 C grade 3; <=28 C grade 4 (95, 89.6 and 82.4 F);
  CTCAE has no grade 1.
* 'Hypertriglyceridemia': the criteria are absolute (150 mg/dL, 1.71 mmol/L and up), so TRIG
  needs no ULN.
* 'CD4 lymphocytes decreased': the 10^9/L numbers are CTCAE's (0.5, 0.2, 0.05); the grade 3
  cell of the sheet reads "<0.2 x 0.05 - 10e9 /L" and is read as <0.2 - 0.05 x 10^9/L.

Other rules:

* Baseline rule for ALT, AST, ALP, GGT and bilirubin: a baseline is abnormal when it is above
  ULN. With a normal or missing baseline the thresholds are multiples of ULN; with an abnormal
  baseline they are multiples of baseline, and ALT/AST below 1.5 x baseline, ALP/GGT below
  2.0 x baseline and bilirubin at or below 1.0 x baseline are grade 0.
* 'Creatinine increased': the x ULN and x baseline criteria both apply whenever a baseline is
  given, and the worse grade wins. Read literally, this makes a creatinine above 1.5 x a low
  baseline grade 2 even when it is below ULN.
* Criteria written as CTCAE numbers apply on their own: with LLN 1400/mm3, a neutrophil count
  of 1450/mm3 is grade 2 (<1500 - 1000/mm3) although it is above LLN.
* Tests with a low and a high term report the low term when the value passes any of its
  thresholds, else the high term. The two can only both apply with a reference range that
  overlaps CTCAE's numbers (for example a lymphocyte LLN above 4000/mm3).
* A test needs LLN or ULN whenever any of its criteria refers to it, whatever the value: ALT
  without ULN is refused even for a low value. NaN or None means "not given" for lln, uln and
  baseline.
* Values and limits must be finite and not negative, ULN must be greater than 0 and LLN must
  not exceed ULN. Units are matched exactly; the only spellings accepted besides those listed in
  ``LAB_TESTS`` are the micro sign for "u" ("umol/L", "cells/uL") and the degree sign
  ("C", "F").
* ``grade_labs`` returns ``term`` as an object column holding None where the grade is 0.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import Decimal
from numbers import Real
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, NamedTuple

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "CTCAE_VERSION",
    "LAB_TESTS",
    "GradingError",
    "LabGrade",
    "LabTest",
    "grade_lab",
    "grade_labs",
]

CTCAE_VERSION = "5.0"

# Criterion bases: what a criterion's factor multiplies.
ABS = "abs"
LLN = "lln"
ULN = "uln"
BASELINE = "baseline"

# Criterion arms of the v5.0 baseline rule. A baseline is abnormal when it is above ULN; a
# missing baseline counts as normal.
ANY = "any"
NORMAL = "normal"
ABNORMAL = "abnormal"

# Relative tolerance of threshold comparisons; see the module docstring.
REL_TOL = 1e-9

FRAME_COLUMNS = ("test", "value", "unit", "lln", "uln", "baseline")

# Other spellings of accepted units, mapped to the spelling LAB_TESTS lists. They differ only in
# the character used for "micro" or a degree sign, never in the quantity.
UNIT_ALIASES = MappingProxyType(
    {
        "\u00b5mol/L": "umol/L",
        "\u03bcmol/L": "umol/L",
        "cells/\u00b5L": "cells/uL",
        "cells/\u03bcL": "cells/uL",
        "\u00b0C": "C",
        "\u00b0F": "F",
    }
)


class GradingError(ValueError):
    """A lab result that cannot be graded: unknown test, wrong unit, bad number or limits.

    ``field`` names the input at fault ("test", "unit", "value", "lln", "uln", "baseline", or
    None for the frame as a whole) and ``code`` says what is wrong with it, so that a caller
    routes the error by them and never by the English message.
    """

    def __init__(self, message: str, *, field: str | None, code: str):
        super().__init__(message)
        self.field = field
        self.code = code


@dataclass(frozen=True, slots=True)
class LabGrade:
    """The CTCAE term and grade of one result; term is None when grade is 0."""

    term: str | None
    grade: int


@dataclass(frozen=True, slots=True)
class LabTest:
    """What the grader knows about one SDTM LBTESTCD.

    ``units`` lists the accepted units; ``low_term``/``high_term`` the CTCAE terms graded below
    and above normal; ``not_gradable`` the CTCAE terms of the test that a value alone cannot
    grade; ``needs_lln``/``needs_uln`` whether a term of the test is graded against that limit
    (a result lacking it is graded in the other direction only, and refused if not abnormal there);
    ``uses_baseline`` whether a baseline can change the grade.
    """

    code: str
    name: str
    units: tuple[str, ...]
    low_term: str | None
    high_term: str | None
    not_gradable: tuple[str, ...]
    needs_lln: bool
    needs_uln: bool
    uses_baseline: bool


class Criterion(NamedTuple):
    """One grade threshold: ``factor * reference + offset``, passed in the term's direction.

    ``reference`` is 1 for ABS (the factor is then CTCAE's number), else the LLN, ULN or
    baseline. ``inclusive`` means the threshold itself belongs to the grade. ``arm`` limits the
    criterion to a normal or abnormal baseline (the v5.0 baseline rule).
    """

    grade: int
    basis: str
    factor: float
    offset: float = 0.0
    inclusive: bool = False
    arm: str = ANY


def _at(grade: int, number: float, *, inclusive: bool = False) -> Criterion:
    return Criterion(grade, ABS, number, inclusive=inclusive)


def _lln() -> Criterion:
    return Criterion(1, LLN, 1.0)


def _uln(
    grade: int, factor: float = 1.0, *, offset: float = 0.0, arm: str = ANY, inclusive: bool = False
) -> Criterion:
    return Criterion(grade, ULN, factor, offset, inclusive, arm)


def _baseline(
    grade: int, factor: float = 1.0, *, offset: float = 0.0, arm: str = ANY, inclusive: bool = False
) -> Criterion:
    return Criterion(grade, BASELINE, factor, offset, inclusive, arm)


class _Spec(NamedTuple):
    code: str
    name: str
    low_term: str | None
    high_term: str | None
    not_gradable: tuple[str, ...]
    # Unit systems: (units sharing the same numbers, low criteria, high criteria).
    systems: tuple[tuple[tuple[str, ...], tuple[Criterion, ...], tuple[Criterion, ...]], ...]


def _baseline_rule(
    g1_normal: float,
    g1_abnormal: float,
    g1_abnormal_inclusive: bool,
    g2: float,
    g3: float,
    g4: float,
) -> tuple[Criterion, ...]:
    """The v5.0 ULN-or-baseline criteria of ALT, AST, ALP, GGT and bilirubin."""
    return (
        _uln(1, g1_normal, arm=NORMAL),
        _uln(2, g2, arm=NORMAL),
        _uln(3, g3, arm=NORMAL),
        _uln(4, g4, arm=NORMAL),
        _baseline(1, g1_abnormal, arm=ABNORMAL, inclusive=g1_abnormal_inclusive),
        _baseline(2, g2, arm=ABNORMAL),
        _baseline(3, g3, arm=ABNORMAL),
        _baseline(4, g4, arm=ABNORMAL),
    )


# ALT and AST, CTCAE v5.0 grade 1: >ULN - 3.0 x ULN if baseline was normal; 1.5 - 3.0 x baseline
# if abnormal. Grades 2, 3, 4: >3.0, >5.0, >20.0 x ULN or x baseline.
_AMINOTRANSFERASE = _baseline_rule(1.0, 1.5, True, 3.0, 5.0, 20.0)
# ALP and GGT, grade 1: >ULN - 2.5 x ULN if normal; 2.0 - 2.5 x baseline if abnormal. Grades 2,
# 3, 4: >2.5, >5.0, >20.0 x ULN or x baseline.
_ALP_GGT = _baseline_rule(1.0, 2.0, True, 2.5, 5.0, 20.0)
# 'Blood bilirubin increased', grade 1: >ULN - 1.5 x ULN if normal; >1.0 - 1.5 x baseline if
# abnormal. Grades 2, 3, 4: >1.5, >3.0, >10.0 x ULN or x baseline.
_BILIRUBIN = _baseline_rule(1.0, 1.0, False, 1.5, 3.0, 10.0)
# 'Lipase increased' and 'Serum amylase increased': >ULN - 1.5 x ULN grade 1; >1.5 - 5.0 x ULN
# grade 2 (the 2.0 - 5.0 part only when asymptomatic); >5.0 x ULN grade 3 (asymptomatic arm).
_PANCREATIC_ENZYME = (_uln(1), _uln(2, 1.5), _uln(3, 5.0))

_CELLS_MM3 = ("/mm3", "cells/uL")
_CELLS_SI = ("10^9/L",)

# The table is laid out by hand, one test per entry, so that each line can be checked against
# the CTCAE sheet; the formatter would spread it over several hundred lines.
# fmt: off
_TABLE: tuple[_Spec, ...] = (
    _Spec("ALT", "Alanine aminotransferase", None, "Alanine aminotransferase increased", (),
          ((("U/L",), (), _AMINOTRANSFERASE),)),
    _Spec("AST", "Aspartate aminotransferase", None, "Aspartate aminotransferase increased", (),
          ((("U/L",), (), _AMINOTRANSFERASE),)),
    _Spec("BILI", "Bilirubin", None, "Blood bilirubin increased", (),
          ((("umol/L", "mg/dL"), (), _BILIRUBIN),)),
    _Spec("ALP", "Alkaline phosphatase", None, "Alkaline phosphatase increased", (),
          ((("U/L",), (), _ALP_GGT),)),
    _Spec("GGT", "Gamma glutamyl transferase", None, "GGT increased", (),
          ((("U/L",), (), _ALP_GGT),)),
    # 'Creatinine increased': grade 1 >ULN - 1.5 x ULN; grade 2 >1.5 - 3.0 x baseline or
    # >1.5 - 3.0 x ULN; grade 3 >3.0 x baseline or >3.0 - 6.0 x ULN; grade 4 >6.0 x ULN. Both
    # arms apply and the worse grade wins.
    _Spec("CREAT", "Creatinine", None, "Creatinine increased", (),
          ((("umol/L", "mg/dL"), (),
            (_uln(1), _uln(2, 1.5), _uln(3, 3.0), _uln(4, 6.0),
             _baseline(2, 1.5), _baseline(3, 3.0))),)),
    # 'CPK increased': >ULN - 2.5 x ULN; >2.5 - 5; >5 - 10; >10 x ULN.
    _Spec("CK", "Creatine kinase", None, "CPK increased", (),
          ((("U/L",), (), (_uln(1), _uln(2, 2.5), _uln(3, 5.0), _uln(4, 10.0))),)),
    _Spec("LIPASE", "Lipase", None, "Lipase increased", (),
          ((("U/L",), (), _PANCREATIC_ENZYME),)),
    _Spec("AMYLASE", "Amylase", None, "Serum amylase increased", (),
          ((("U/L",), (), _PANCREATIC_ENZYME),)),
    # 'INR increased', not on anticoagulation: >1.2 - 1.5; >1.5 - 2.5; >2.5.
    _Spec("INR", "Prothrombin intl. normalized ratio", None, "INR increased", (),
          ((("ratio",), (), (_at(1, 1.2), _at(2, 1.5), _at(3, 2.5))),)),
    # 'Neutrophil count decreased': <LLN - 1500/mm3; <1500 - 1000; <1000 - 500; <500
    # (1.5, 1.0, 0.5 x 10e9/L).
    _Spec("NEUT", "Neutrophils", "Neutrophil count decreased", None, (),
          ((_CELLS_MM3, (_lln(), _at(2, 1500), _at(3, 1000), _at(4, 500)), ()),
           (_CELLS_SI, (_lln(), _at(2, 1.5), _at(3, 1.0), _at(4, 0.5)), ()))),
    # 'Platelet count decreased': <LLN - 75,000/mm3; <75,000 - 50,000; <50,000 - 25,000;
    # <25,000 (75.0, 50.0, 25.0 x 10e9/L).
    _Spec("PLAT", "Platelets", "Platelet count decreased", None, (),
          ((_CELLS_MM3, (_lln(), _at(2, 75_000), _at(3, 50_000), _at(4, 25_000)), ()),
           (_CELLS_SI, (_lln(), _at(2, 75.0), _at(3, 50.0), _at(4, 25.0)), ()))),
    # 'White blood cell decreased': <LLN - 3000/mm3; <3000 - 2000; <2000 - 1000; <1000
    # (3.0, 2.0, 1.0 x 10e9/L). 'Leukocytosis' grade 3: >100,000/mm3; CTCAE gives no 10^9/L
    # number, so it is derived as 10^9/L = /mm3 / 1000, giving 100.
    _Spec("WBC", "Leukocytes", "White blood cell decreased", "Leukocytosis", (),
          ((_CELLS_MM3, (_lln(), _at(2, 3000), _at(3, 2000), _at(4, 1000)), (_at(3, 100_000),)),
           (_CELLS_SI, (_lln(), _at(2, 3.0), _at(3, 2.0), _at(4, 1.0)), (_at(3, 100.0),)))),
    # 'Lymphocyte count decreased': <LLN - 800/mm3; <800 - 500; <500 - 200; <200 (0.8, 0.5,
    # 0.2 x 10e9/L). 'Lymphocyte count increased': grade 2 >4000 - 20,000/mm3; grade 3
    # >20,000/mm3; CTCAE gives no 10^9/L numbers, so they are derived as /mm3 / 1000.
    _Spec("LYM", "Lymphocytes", "Lymphocyte count decreased", "Lymphocyte count increased", (),
          ((_CELLS_MM3, (_lln(), _at(2, 800), _at(3, 500), _at(4, 200)),
            (_at(2, 4000), _at(3, 20_000))),
           (_CELLS_SI, (_lln(), _at(2, 0.8), _at(3, 0.5), _at(4, 0.2)),
            (_at(2, 4.0), _at(3, 20.0))))),
    # 'CD4 lymphocytes decreased': <LLN - 500/mm3; <500 - 200; <200 - 50; <50 (0.5, 0.2, 0.05
    # x 10e9/L as CTCAE writes them).
    _Spec("CD4", "CD4 cells", "CD4 lymphocytes decreased", None, (),
          ((_CELLS_MM3, (_lln(), _at(2, 500), _at(3, 200), _at(4, 50)), ()),
           (_CELLS_SI, (_lln(), _at(2, 0.5), _at(3, 0.2), _at(4, 0.05)), ()))),
    # 'Anemia': <LLN - 10.0 g/dL; <10.0 - 8.0; <8.0 (6.2, 4.9 mmol/L; 100, 80 g/L).
    # 'Hemoglobin increased': increase >0 - 2 g/dL; >2 - 4; >4 above ULN, or above baseline when
    # it is above ULN. CTCAE gives the increase in g/dL only; g/L = g/dL x 10 and
    # mmol/L = g/dL x 0.6206 (haemoglobin monomer, 16.1 g/mmol).
    _Spec("HGB", "Hemoglobin", "Anemia", "Hemoglobin increased", (),
          ((("g/dL",), (_lln(), _at(2, 10.0), _at(3, 8.0)),
            (_uln(1, arm=NORMAL), _uln(2, offset=2.0, arm=NORMAL),
             _uln(3, offset=4.0, arm=NORMAL),
             _baseline(1, arm=ABNORMAL), _baseline(2, offset=2.0, arm=ABNORMAL),
             _baseline(3, offset=4.0, arm=ABNORMAL))),
           (("g/L",), (_lln(), _at(2, 100.0), _at(3, 80.0)),
            (_uln(1, arm=NORMAL), _uln(2, offset=20.0, arm=NORMAL),
             _uln(3, offset=40.0, arm=NORMAL),
             _baseline(1, arm=ABNORMAL), _baseline(2, offset=20.0, arm=ABNORMAL),
             _baseline(3, offset=40.0, arm=ABNORMAL))),
           (("mmol/L",), (_lln(), _at(2, 6.2), _at(3, 4.9)),
            (_uln(1, arm=NORMAL), _uln(2, offset=2.0 * 0.6206, arm=NORMAL),
             _uln(3, offset=4.0 * 0.6206, arm=NORMAL),
             _baseline(1, arm=ABNORMAL), _baseline(2, offset=2.0 * 0.6206, arm=ABNORMAL),
             _baseline(3, offset=4.0 * 0.6206, arm=ABNORMAL))))),
    # 'Hypoglycemia': <LLN - 55 mg/dL; <55 - 40; <40 - 30; <30 (3.0, 2.2, 1.7 mmol/L).
    # 'Hyperglycemia' has no numeric criteria in v5.0.
    _Spec("GLUC", "Glucose", "Hypoglycemia", None, ("Hyperglycemia",),
          ((("mg/dL",), (_lln(), _at(2, 55), _at(3, 40), _at(4, 30)), ()),
           (("mmol/L",), (_lln(), _at(2, 3.0), _at(3, 2.2), _at(4, 1.7)), ()))),
    # 'Hypokalemia': <LLN - 3.0 mmol/L grade 1 (grade 2 needs symptoms); <3.0 - 2.5 grade 3;
    # <2.5 grade 4. 'Hyperkalemia': >ULN - 5.5; >5.5 - 6.0; >6.0 - 7.0; >7.0 mmol/L. For a
    # monovalent ion mEq/L and mmol/L are the same number.
    _Spec("K", "Potassium", "Hypokalemia", "Hyperkalemia", (),
          ((("mmol/L", "mEq/L"), (_lln(), _at(3, 3.0), _at(4, 2.5)),
            (_uln(1), _at(2, 5.5), _at(3, 6.0), _at(4, 7.0))),)),
    # 'Hyponatremia': <LLN - 130 mmol/L; 125-129 (asymptomatic); 120-124; <120.
    # 'Hypernatremia': >ULN - 150; >150 - 155; >155 - 160; >160 mmol/L.
    _Spec("SODIUM", "Sodium", "Hyponatremia", "Hypernatremia", (),
          ((("mmol/L", "mEq/L"), (_lln(), _at(2, 130), _at(3, 125), _at(4, 120)),
            (_uln(1), _at(2, 150), _at(3, 155), _at(4, 160))),)),
    # 'Hypocalcemia', corrected serum calcium: <LLN - 8.0 mg/dL; <8.0 - 7.0; <7.0 - 6.0; <6.0
    # (2.0, 1.75, 1.5 mmol/L). 'Hypercalcemia': >ULN - 11.5 mg/dL; >11.5 - 12.5; >12.5 - 13.5;
    # >13.5 (2.9, 3.1, 3.4 mmol/L).
    _Spec("CA", "Calcium", "Hypocalcemia", "Hypercalcemia", (),
          ((("mg/dL",), (_lln(), _at(2, 8.0), _at(3, 7.0), _at(4, 6.0)),
            (_uln(1), _at(2, 11.5), _at(3, 12.5), _at(4, 13.5))),
           (("mmol/L",), (_lln(), _at(2, 2.0), _at(3, 1.75), _at(4, 1.5)),
            (_uln(1), _at(2, 2.9), _at(3, 3.1), _at(4, 3.4))))),
    # 'Hypomagnesemia': <LLN - 1.2 mg/dL; <1.2 - 0.9; <0.9 - 0.7; <0.7 (0.5, 0.4, 0.3 mmol/L).
    # 'Hypermagnesemia': >ULN - 3.0 mg/dL grade 1; no grade 2; >3.0 - 8.0 grade 3; >8.0 grade 4
    # (1.23, 3.30 mmol/L).
    _Spec("MG", "Magnesium", "Hypomagnesemia", "Hypermagnesemia", (),
          ((("mg/dL",), (_lln(), _at(2, 1.2), _at(3, 0.9), _at(4, 0.7)),
            (_uln(1), _at(3, 3.0), _at(4, 8.0))),
           (("mmol/L",), (_lln(), _at(2, 0.5), _at(3, 0.4), _at(4, 0.3)),
            (_uln(1), _at(3, 1.23), _at(4, 3.30))))),
    # 'Hypoalbuminemia': <LLN - 3 g/dL; <3 - 2; <2 (30, 20 g/L).
    _Spec("ALB", "Albumin", "Hypoalbuminemia", None, (),
          ((("g/dL",), (_lln(), _at(2, 3.0), _at(3, 2.0)), ()),
           (("g/L",), (_lln(), _at(2, 30.0), _at(3, 20.0)), ()))),
    # 'Cholesterol high': >ULN - 300 mg/dL; >300 - 400; >400 - 500; >500 (7.75, 10.34, 12.92
    # mmol/L).
    _Spec("CHOL", "Cholesterol", None, "Cholesterol high", (),
          ((("mg/dL",), (), (_uln(1), _at(2, 300), _at(3, 400), _at(4, 500))),
           (("mmol/L",), (), (_uln(1), _at(2, 7.75), _at(3, 10.34), _at(4, 12.92))))),
    # 'Hypertriglyceridemia': 150 - 300 mg/dL; >300 - 500; >500 - 1000; >1000 (1.71 - 3.42,
    # >3.42 - 5.7, >5.7 - 11.4, >11.4 mmol/L).
    _Spec("TRIG", "Triglycerides", None, "Hypertriglyceridemia", (),
          ((("mg/dL",), (), (_at(1, 150, inclusive=True), _at(2, 300), _at(3, 500), _at(4, 1000))),
           (("mmol/L",), (),
            (_at(1, 1.71, inclusive=True), _at(2, 3.42), _at(3, 5.7), _at(4, 11.4))))),
    # 'Fever': 38.0 - 39.0 C; >39.0 - 40.0; >40.0 (100.4 - 102.2 F; 102.3 - 104.0, read as
    # >102.2; >104.0). 'Hypothermia': 35 - >32 C grade 2; 32 - >28 grade 3; <=28 grade 4
    # (95, 89.6, 82.4 F).
    _Spec("TEMP", "Temperature", "Hypothermia", "Fever", (),
          ((("C",),
            (_at(2, 35.0, inclusive=True), _at(3, 32.0, inclusive=True),
             _at(4, 28.0, inclusive=True)),
            (_at(1, 38.0, inclusive=True), _at(2, 39.0), _at(3, 40.0))),
           (("F",),
            (_at(2, 95.0, inclusive=True), _at(3, 89.6, inclusive=True),
             _at(4, 82.4, inclusive=True)),
            (_at(1, 100.4, inclusive=True), _at(2, 102.2), _at(3, 104.0))))),
)
# fmt: on


class _Compiled(NamedTuple):
    """One criterion ready to evaluate: threshold = (factor * reference + offset) * scale.

    ``scale`` applies REL_TOL so that a value equal to the threshold up to rounding lands on
    the side CTCAE's bound puts it. ``strict`` is True for ">" and "<", False for ">=" and "<=".
    """

    grade: int
    basis: str
    factor: float
    offset: float
    scale: float
    strict: bool
    arm: str


class _Rules(NamedTuple):
    term: str
    term_code: int
    high: bool
    criteria: tuple[_Compiled, ...]  # Highest grade first.
    needs_lln: bool  # The term cannot be graded without LLN.
    needs_uln: bool  # The term cannot be graded without ULN.


def _rules(term: str, code: int, criteria: tuple[Criterion, ...], high: bool) -> _Rules:
    bases = {c.basis for c in criteria} | {ULN for c in criteria if c.arm != ANY}
    return _Rules(term, code, high, _compile(criteria, high), LLN in bases, ULN in bases)


def _compile(criteria: tuple[Criterion, ...], high: bool) -> tuple[_Compiled, ...]:
    compiled = []
    for c in criteria:
        # A strict bound (">" or "<") moves away from normal by REL_TOL, so that a value equal
        # to it up to rounding does not pass; an inclusive bound moves towards normal, so that
        # such a value does. Away from normal is up for a high term and down for a low one.
        up = high != c.inclusive
        scale = 1.0 + REL_TOL if up else 1.0 - REL_TOL
        compiled.append(
            _Compiled(c.grade, c.basis, c.factor, c.offset, scale, not c.inclusive, c.arm)
        )
    return tuple(sorted(compiled, key=lambda c: -c.grade))


def _build() -> tuple[
    MappingProxyType[str, LabTest],
    dict[tuple[str, str], tuple[_Rules | None, _Rules | None]],
    tuple[str | None, ...],
]:
    tests: dict[str, LabTest] = {}
    rules: dict[tuple[str, str], tuple[_Rules | None, _Rules | None]] = {}
    term_names: list[str | None] = [None]
    for spec in _TABLE:
        codes = {}
        for term in (spec.low_term, spec.high_term):
            if term is not None:
                codes[term] = len(term_names)
                term_names.append(term)
        units: list[str] = []
        bases: set[str] = set()
        for system_units, low, high in spec.systems:
            pair = (
                _rules(spec.low_term, codes[spec.low_term], low, False) if low else None,
                _rules(spec.high_term, codes[spec.high_term], high, True) if high else None,
            )
            for unit in system_units:
                units.append(unit)
                rules[(spec.code, unit)] = pair
            bases.update(c.basis for c in (*low, *high))
            bases.update(ULN for c in (*low, *high) if c.arm != ANY)
        tests[spec.code] = LabTest(
            code=spec.code,
            name=spec.name,
            units=tuple(units),
            low_term=spec.low_term,
            high_term=spec.high_term,
            not_gradable=spec.not_gradable,
            needs_lln=LLN in bases,
            needs_uln=ULN in bases,
            uses_baseline=BASELINE in bases,
        )
    return MappingProxyType(tests), rules, tuple(term_names)


# LAB_TESTS maps each SDTM LBTESTCD to its LabTest: accepted units, terms, limits it needs.
LAB_TESTS, _RULES, _TERM_NAMES = _build()

_NORMAL_RESULT = LabGrade(None, 0)


def lab_terms() -> frozenset[str]:
    """The CTCAE v5.0 terms graded from a lab value: the low and high terms of every test."""
    return frozenset(name for name in _TERM_NAMES if name is not None)


# --- The scalar path -------------------------------------------------------------------------


def _lookup(test: Any, unit: Any) -> tuple[_Rules | None, _Rules | None]:
    rules = None
    if isinstance(test, str) and isinstance(unit, str):
        rules = _RULES.get((test, UNIT_ALIASES.get(unit, unit)))
    if rules is not None:
        return rules
    if not isinstance(test, str) or test not in LAB_TESTS:
        known = ", ".join(LAB_TESTS)
        raise GradingError(
            f"Unknown lab test code {test!r}; known codes: {known}.", field="test", code="unknown"
        )
    accepted = ", ".join(LAB_TESTS[test].units)
    raise GradingError(
        f"Unit {unit!r} does not fit {test}; accepted units: {accepted}.",
        field="unit",
        code="unit_not_accepted",
    )


def _is_number(x: Any) -> bool:
    return isinstance(x, Real | Decimal) and not isinstance(x, bool)


def _value(test: str, value: Any) -> float:
    number = float(value) if _is_number(value) else math.nan
    if not math.isfinite(number):
        raise GradingError(
            f"{test} value must be a finite number, got {value!r}.",
            field="value",
            code="not_finite",
        )
    if number < 0:
        raise GradingError(
            f"{test} value must not be negative, got {value!r}.", field="value", code="negative"
        )
    return number


def _limit(test: str, name: str, limit: Any) -> float:
    """A reference limit or baseline as a float; NaN when not given (None or NaN)."""
    if limit is None:
        return math.nan
    number = float(limit) if _is_number(limit) else math.inf
    if math.isinf(number):
        raise GradingError(
            f"{test} {name} must be a finite number, got {limit!r}.", field=name, code="not_finite"
        )
    if number < 0:
        raise GradingError(
            f"{test} {name} must not be negative, got {limit!r}.", field=name, code="negative"
        )
    if name == ULN and number == 0:
        raise GradingError(
            f"{test} uln must be greater than 0, got {limit!r}.", field=ULN, code="zero"
        )
    return number


def _missing_limit(test: str, rules: _Rules, lln: float, uln: float) -> GradingError | None:
    """The error for a limit the term's criteria need and the result lacks, else None."""
    for name, needed, limit in ((LLN, rules.needs_lln, lln), (ULN, rules.needs_uln, uln)):
        if needed and limit != limit:
            return GradingError(
                f"{test} needs {name}: {rules.term} is graded against {name.upper()}.",
                field=name,
                code="required",
            )
    return None


def _check_limits(test: str, lln: float, uln: float) -> None:
    if lln > uln:
        # Reported on ULN, the limit a nurse corrects when the two were swapped or mistyped.
        raise GradingError(
            f"{test} lln ({lln:g}) is greater than uln ({uln:g}).", field=ULN, code="below_lln"
        )


def _scalar_grade(rules: _Rules, value: float, lln: float, uln: float, baseline: float) -> int:
    # NaN stands for a missing limit: every comparison with NaN is False, so criteria on a
    # missing baseline never apply, and a missing baseline is not abnormal.
    abnormal = baseline > uln
    high = rules.high
    for c in rules.criteria:
        if c.arm != ANY and (c.arm == ABNORMAL) != abnormal:
            continue
        if c.basis == ABS:
            reference = 1.0
        elif c.basis == ULN:
            reference = uln
        elif c.basis == LLN:
            reference = lln
        else:
            reference = baseline
        threshold = (c.factor * reference + c.offset) * c.scale
        if high:
            passed = value > threshold if c.strict else value >= threshold
        else:
            passed = value < threshold if c.strict else value <= threshold
        if passed:
            return c.grade
    return 0


def grade_lab(
    test: str,
    value: Any,
    unit: str,
    *,
    lln: Any = None,
    uln: Any = None,
    baseline: Any = None,
) -> LabGrade:
    """Grade one result by CTCAE v5.0; see the module docstring for the rules and choices.

    ``test`` is the SDTM LBTESTCD (or TEMP for body temperature), ``unit`` one of
    ``LAB_TESTS[test].units``; ``lln``, ``uln`` and ``baseline`` share the value's unit. Numbers
    may be int, float, numpy numbers or Decimal. Raises GradingError for an unknown test, a unit
    that does not fit, a value that is not a finite number, a missing limit the criteria need,
    negative numbers, ULN 0 or LLN above ULN.
    """
    low, high = _lookup(test, unit)
    number = _value(test, value)
    lower = _limit(test, LLN, lln)
    upper = _limit(test, ULN, uln)
    base = _limit(test, BASELINE, baseline)
    _check_limits(test, lower, upper)
    # Each direction is graded when its own limits are given: a haemoglobin below its LLN is
    # anaemia whether or not the ULN is known. A result that no gradable direction grades is
    # refused when the other direction lacks its limit, since it might be abnormal there.
    missing = None
    for rules in (low, high):  # The low term wins where both would apply.
        if rules is None:
            continue
        error = _missing_limit(test, rules, lower, upper)
        if error is not None:
            missing = missing or error
            continue
        grade = _scalar_grade(rules, number, lower, upper, base)
        if grade:
            return LabGrade(rules.term, grade)
    if missing is not None:
        raise missing
    return _NORMAL_RESULT


# --- The vectorised path ---------------------------------------------------------------------


def _numeric_column(column: pd.Series, *, limit: bool) -> tuple[Any, Any]:
    """The column as float64 (NaN where a limit is not given) and a mask of invalid rows.

    Numeric columns are converted in one vector operation. Any other column (object, strings,
    Decimal from a database) is checked element by element with the rules of ``grade_lab``;
    this validation loop is the slow path for such columns, the grading itself stays vectorised.
    """
    import numpy as np
    import pandas as pd

    dtype = column.dtype
    if dtype.kind in "fiu" and not pd.api.types.is_bool_dtype(dtype):
        numbers = column.to_numpy(dtype=np.float64, na_value=np.nan)
        not_number = np.zeros(len(numbers), dtype=bool)
    else:
        objects = column.to_numpy(dtype=object)
        is_number = np.fromiter((_is_number(x) for x in objects), dtype=bool, count=len(objects))
        numbers = np.full(len(objects), np.nan)
        numbers[is_number] = [float(x) for x in objects[is_number]]
        not_number = ~is_number
        if limit:
            not_number &= ~column.isna().to_numpy(dtype=bool)
    with np.errstate(invalid="ignore"):
        if limit:
            bad = not_number | np.isinf(numbers) | (numbers < 0)
        else:
            bad = not_number | ~np.isfinite(numbers) | (numbers < 0)
    return numbers, bad


def _vector_grade(
    rules: _Rules, value: Any, lln: Any, uln: Any, baseline: Any, abnormal: Any
) -> Any:
    """``_scalar_grade`` on arrays: np.select over the criteria, highest grade first."""
    import numpy as np

    conditions = []
    grades = []
    for c in rules.criteria:
        if c.basis == ABS:
            threshold = (c.factor * 1.0 + c.offset) * c.scale
        else:
            reference = {ULN: uln, LLN: lln, BASELINE: baseline}[c.basis]
            threshold = (c.factor * reference + c.offset) * c.scale
        if rules.high:
            passed = value > threshold if c.strict else value >= threshold
        else:
            passed = value < threshold if c.strict else value <= threshold
        if c.arm == ABNORMAL:
            passed &= abnormal
        elif c.arm == NORMAL:
            passed &= ~abnormal
        conditions.append(passed)
        grades.append(c.grade)
    return np.select(conditions, grades, 0).astype(np.int8)


def _is_missing(x: Any) -> bool:
    import pandas as pd

    return x is None or (pd.api.types.is_scalar(x) and bool(pd.isna(x)))


def _refuse(frame: pd.DataFrame, position: int) -> GradingError:
    """The error for the first invalid row, worded by ``grade_lab`` so both paths agree."""

    row = frame.iloc[position]
    # Missing limits reach grade_lab as None whatever the column's missing marker (NaN, pd.NA).
    limits = {name: None if _is_missing(row[name]) else row[name] for name in (LLN, ULN, BASELINE)}
    try:
        grade_lab(row["test"], row["value"], row["unit"], **limits)
    except GradingError as error:
        return GradingError(
            f"Row {frame.index[position]!r}: {error} No row of the batch was graded.",
            field=error.field,
            code=error.code,
        )
    raise RuntimeError(  # pragma: no cover - the validation masks and grade_lab disagree.
        f"Row {frame.index[position]!r} failed vector validation but grade_lab accepts it."
    )


def grade_labs(frame: pd.DataFrame) -> pd.DataFrame:
    """Grade every row of ``frame`` by CTCAE v5.0, with the same rules as ``grade_lab``.

    ``frame`` has columns test, value, unit, lln, uln, baseline; lln, uln and baseline may be NaN
    (not given). Returns a DataFrame with the same index and columns ``term`` (object dtype,
    None where the grade is 0) and ``grade`` (int64).

    The batch is all or nothing: if any row is invalid, GradingError names the first invalid
    row's index label and its problem, and nothing is graded. Rows are grouped by test and unit
    and each group is graded with numpy vector operations.
    """
    import numpy as np
    import pandas as pd

    missing = [name for name in FRAME_COLUMNS if name not in frame.columns]
    if missing:
        raise GradingError(
            f"grade_labs needs columns {', '.join(FRAME_COLUMNS)}; missing: {', '.join(missing)}.",
            field=None,
            code="columns_missing",
        )
    size = len(frame)

    value, bad = _numeric_column(frame["value"], limit=False)
    lln, bad_lln = _numeric_column(frame[LLN], limit=True)
    uln, bad_uln = _numeric_column(frame[ULN], limit=True)
    baseline, bad_baseline = _numeric_column(frame[BASELINE], limit=True)
    bad |= bad_lln | bad_uln | bad_baseline | (uln == 0)
    with np.errstate(invalid="ignore"):
        bad |= lln > uln

    # Factorising turns the test and unit strings into small integer codes, so that grouping
    # and the per-group lookups work on a handful of distinct pairs instead of every row.
    test_codes, test_values = pd.factorize(frame["test"].to_numpy(dtype=object))
    unit_codes, unit_values = pd.factorize(frame["unit"].to_numpy(dtype=object))
    width = len(unit_values) + 1
    pair_codes = (test_codes.astype(np.int64) + 1) * width + (unit_codes + 1)
    pair_rules: list[tuple[_Rules | None, _Rules | None] | None] = []
    pair_ok = np.zeros((len(test_values) + 1) * width, dtype=bool)
    for test_index in range(-1, len(test_values)):
        test = test_values[test_index] if test_index >= 0 else None
        spec = LAB_TESTS.get(test) if isinstance(test, str) else None
        for unit_index in range(-1, len(unit_values)):
            unit = unit_values[unit_index] if unit_index >= 0 else None
            rules = None
            if spec is not None and isinstance(unit, str):
                rules = _RULES.get((test, UNIT_ALIASES.get(unit, unit)))
            pair_rules.append(rules)
            key = (test_index + 1) * width + unit_index + 1
            if rules is not None:
                pair_ok[key] = True
    bad |= ~pair_ok[pair_codes]

    grades = np.zeros(size, dtype=np.int8)
    terms = np.zeros(size, dtype=np.int16)
    # A stable sort of the small pair codes gathers each group's rows; int16 codes let numpy
    # use its linear-time radix sort.
    sort_dtype = np.int16 if len(pair_rules) < 2**15 else np.int64
    order = np.argsort(pair_codes.astype(sort_dtype), kind="stable")
    counts = np.bincount(pair_codes, minlength=len(pair_rules))
    stops = np.cumsum(counts)
    for key in np.flatnonzero(counts):
        if pair_rules[key] is None:
            continue  # Unknown test or unit: refused below.
        rows = order[stops[key] - counts[key] : stops[key]]
        low, high = pair_rules[key]
        v, lo, hi, base = value[rows], lln[rows], uln[rows], baseline[rows]
        with np.errstate(invalid="ignore"):
            abnormal = base > hi
        group_grades = np.zeros(len(rows), dtype=np.int8)
        group_terms = np.zeros(len(rows), dtype=np.int16)
        # As in grade_lab: a direction lacking its limits does not grade, and a row that no
        # direction grades is refused when a direction lacked its limits.
        lacking = np.zeros(len(rows), dtype=bool)
        for rules in (high, low):  # Low last: the low term wins where both apply.
            if rules is None:
                continue
            absent = (rules.needs_lln & np.isnan(lo)) | (rules.needs_uln & np.isnan(hi))
            with np.errstate(invalid="ignore"):
                direction = np.where(absent, 0, _vector_grade(rules, v, lo, hi, base, abnormal))
            lacking |= absent
            applies = direction > 0
            group_grades = np.where(applies, direction, group_grades)
            group_terms = np.where(applies, rules.term_code, group_terms)
        bad[rows] |= lacking & (group_grades == 0)
        grades[rows] = group_grades
        terms[rows] = group_terms
    if bad.any():
        raise _refuse(frame, int(np.argmax(bad)))

    names = np.array(_TERM_NAMES, dtype=object)
    return pd.DataFrame(
        {
            "term": pd.Series(names[terms], index=frame.index, dtype=object),
            "grade": pd.Series(grades.astype(np.int64), index=frame.index),
        }
    )
