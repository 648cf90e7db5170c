"""CTCAE v5.0 lab grading: ``grade_lab`` and ``grade_labs`` against CTCAE's own numbers.

Every expected grade below is written by hand from the CTCAE v5.0 sheet, never computed by the
code under test. Boundaries are checked exactly at the limit and just past it: ">A - B" means
A < value <= B and "<A - B" means B <= value < A.
"""

from __future__ import annotations

import csv
import math
import os
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ecrf.ctcae.labs import LAB_TESTS, GradingError, LabGrade, grade_lab, grade_labs
from ecrf.synthetic.labs import TYPICAL, random_results

REPO_ROOT = Path(__file__).resolve().parents[3]
SOURCE_CSV = REPO_ROOT.parent / "shared" / "ctcae" / "NCI_CTCAE_v5.0_clean_utf8.csv"
requires_source_csv = pytest.mark.skipif(
    not SOURCE_CSV.exists(), reason="the NCI CTCAE v5.0 CSV is not in ../shared/ctcae"
)

ALT = "Alanine aminotransferase increased"
AST = "Aspartate aminotransferase increased"
BILI = "Blood bilirubin increased"
ALP = "Alkaline phosphatase increased"
GGT = "GGT increased"
CREAT = "Creatinine increased"
CPK = "CPK increased"
LIPASE = "Lipase increased"
AMYLASE = "Serum amylase increased"
INR = "INR increased"
NEUT = "Neutrophil count decreased"
PLAT = "Platelet count decreased"
WBC_LOW = "White blood cell decreased"
LEUKOCYTOSIS = "Leukocytosis"
LYM_LOW = "Lymphocyte count decreased"
LYM_HIGH = "Lymphocyte count increased"
CD4 = "CD4 lymphocytes decreased"
ANEMIA = "Anemia"
HGB_HIGH = "Hemoglobin increased"
HYPOGLYCEMIA = "Hypoglycemia"
HYPOKALEMIA = "Hypokalemia"
HYPERKALEMIA = "Hyperkalemia"
HYPONATREMIA = "Hyponatremia"
HYPERNATREMIA = "Hypernatremia"
HYPOCALCEMIA = "Hypocalcemia"
HYPERCALCEMIA = "Hypercalcemia"
HYPOMAGNESEMIA = "Hypomagnesemia"
HYPERMAGNESEMIA = "Hypermagnesemia"
HYPOALBUMINEMIA = "Hypoalbuminemia"
CHOLESTEROL = "Cholesterol high"
TRIGLYCERIDES = "Hypertriglyceridemia"
FEVER = "Fever"
HYPOTHERMIA = "Hypothermia"

CELL_UNITS_MM3 = ("/mm3", "cells/uL")


def expected(term: str, grade: int) -> LabGrade:
    """The expected result: grade 0 carries no term."""
    return LabGrade(term if grade else None, grade)


# --- Liver enzymes and the baseline rule -----------------------------------------------------


@pytest.mark.parametrize("test, term", [("ALT", ALT), ("AST", AST)])
@pytest.mark.parametrize("baseline", [None, 30, 40], ids=["no-baseline", "normal", "at-uln"])
@pytest.mark.parametrize(
    "value, grade",
    [(40, 0), (41, 1), (120, 1), (121, 2), (200, 2), (201, 3), (800, 3), (801, 4)],
)
def test_it_grades_alt_and_ast_against_uln_when_baseline_is_normal_or_missing(
    test, term, baseline, value, grade
):
    """CTCAE v5.0 'Alanine/Aspartate aminotransferase increased', baseline normal (ULN 40):
    G1 >ULN - 3.0 x ULN; G2 >3.0 - 5.0 x ULN; G3 >5.0 - 20.0 x ULN; G4 >20.0 x ULN.
    A baseline at ULN is normal."""
    assert grade_lab(test, value, "U/L", uln=40, baseline=baseline) == expected(term, grade)


def test_it_grades_alt_at_exactly_three_times_uln_as_grade_1():
    """CTCAE v5.0 'Alanine aminotransferase increased' G1: >ULN - 3.0 x ULN (3.0 x ULN is in)."""
    assert grade_lab("ALT", 105, "U/L", uln=35) == LabGrade(ALT, 1)
    assert grade_lab("ALT", 105.5, "U/L", uln=35) == LabGrade(ALT, 2)


def test_it_grades_alt_exactly_at_uln_as_grade_0():
    """CTCAE v5.0 'Alanine aminotransferase increased' G1: >ULN - 3.0 x ULN (ULN itself is out)."""
    assert grade_lab("ALT", 35, "U/L", uln=35) == LabGrade(None, 0)
    assert grade_lab("ALT", 35.1, "U/L", uln=35) == LabGrade(ALT, 1)


@pytest.mark.parametrize("test, term", [("ALT", ALT), ("AST", AST)])
@pytest.mark.parametrize(
    "value, grade",
    [
        (30, 0),
        (50, 0),
        (89, 0),
        (89.9, 0),
        (90, 1),
        (180, 1),
        (181, 2),
        (300, 2),
        (301, 3),
        (1200, 3),
        (1201, 4),
    ],
)
def test_it_grades_alt_and_ast_against_an_abnormal_baseline(test, term, value, grade):
    """CTCAE v5.0 'Alanine/Aspartate aminotransferase increased', baseline abnormal (ULN 40,
    baseline 60): G1 1.5 - 3.0 x baseline; G2 >3.0 - 5.0 x baseline; G3 >5.0 - 20.0 x baseline;
    G4 >20.0 x baseline. Below 1.5 x baseline is grade 0 even above ULN."""
    assert grade_lab(test, value, "U/L", uln=40, baseline=60) == expected(term, grade)


@pytest.mark.parametrize("test, term", [("ALP", ALP), ("GGT", GGT)])
@pytest.mark.parametrize("baseline", [None, 50, 100], ids=["no-baseline", "normal", "at-uln"])
@pytest.mark.parametrize(
    "value, grade",
    [(100, 0), (101, 1), (250, 1), (251, 2), (500, 2), (501, 3), (2000, 3), (2001, 4)],
)
def test_it_grades_alp_and_ggt_against_uln_when_baseline_is_normal_or_missing(
    test, term, baseline, value, grade
):
    """CTCAE v5.0 'Alkaline phosphatase increased' and 'GGT increased', baseline normal (ULN 100):
    G1 >ULN - 2.5 x ULN; G2 >2.5 - 5.0 x ULN; G3 >5.0 - 20.0 x ULN; G4 >20.0 x ULN."""
    assert grade_lab(test, value, "U/L", uln=100, baseline=baseline) == expected(term, grade)


@pytest.mark.parametrize("test, term", [("ALP", ALP), ("GGT", GGT)])
@pytest.mark.parametrize(
    "value, grade",
    [
        (150, 0),
        (299, 0),
        (300, 1),
        (375, 1),
        (376, 2),
        (750, 2),
        (751, 3),
        (3000, 3),
        (3001, 4),
    ],
)
def test_it_grades_alp_and_ggt_against_an_abnormal_baseline(test, term, value, grade):
    """CTCAE v5.0 'Alkaline phosphatase increased' and 'GGT increased', baseline abnormal
    (ULN 100, baseline 150): G1 2.0 - 2.5 x baseline; G2 >2.5 - 5.0 x baseline;
    G3 >5.0 - 20.0 x baseline; G4 >20.0 x baseline. Below 2.0 x baseline is grade 0."""
    assert grade_lab(test, value, "U/L", uln=100, baseline=150) == expected(term, grade)


@pytest.mark.parametrize(
    "unit, uln, value, grade",
    [
        ("umol/L", 21, 21, 0),
        ("umol/L", 21, 22, 1),
        ("umol/L", 21, 31.5, 1),
        ("umol/L", 21, 31.6, 2),
        ("umol/L", 21, 63, 2),
        ("umol/L", 21, 64, 3),
        ("umol/L", 21, 210, 3),
        ("umol/L", 21, 211, 4),
        ("mg/dL", 1.2, 1.2, 0),
        ("mg/dL", 1.2, 1.3, 1),
        ("mg/dL", 1.2, 1.8, 1),
        ("mg/dL", 1.2, 1.9, 2),
        ("mg/dL", 1.2, 3.6, 2),
        ("mg/dL", 1.2, 3.7, 3),
        ("mg/dL", 1.2, 12.0, 3),
        ("mg/dL", 1.2, 12.1, 4),
    ],
)
@pytest.mark.parametrize("normal_baseline", [False, True], ids=["no-baseline", "normal"])
def test_it_grades_bilirubin_against_uln_when_baseline_is_normal_or_missing(
    unit, uln, value, grade, normal_baseline
):
    """CTCAE v5.0 'Blood bilirubin increased', baseline normal: G1 >ULN - 1.5 x ULN;
    G2 >1.5 - 3.0 x ULN; G3 >3.0 - 10.0 x ULN; G4 >10.0 x ULN (1.5 x 1.2 mg/dL is 1.8)."""
    baseline = uln if normal_baseline else None
    result = grade_lab("BILI", value, unit, uln=uln, baseline=baseline)
    assert result == expected(BILI, grade)


@pytest.mark.parametrize(
    "unit, uln, baseline, value, grade",
    [
        ("umol/L", 21, 30, 25, 0),
        ("umol/L", 21, 30, 30, 0),
        ("umol/L", 21, 30, 31, 1),
        ("umol/L", 21, 30, 45, 1),
        ("umol/L", 21, 30, 46, 2),
        ("umol/L", 21, 30, 90, 2),
        ("umol/L", 21, 30, 91, 3),
        ("umol/L", 21, 30, 300, 3),
        ("umol/L", 21, 30, 301, 4),
        ("mg/dL", 1.2, 2.0, 2.0, 0),
        ("mg/dL", 1.2, 2.0, 2.1, 1),
        ("mg/dL", 1.2, 2.0, 3.0, 1),
        ("mg/dL", 1.2, 2.0, 3.1, 2),
        ("mg/dL", 1.2, 2.0, 6.0, 2),
        ("mg/dL", 1.2, 2.0, 6.1, 3),
        ("mg/dL", 1.2, 2.0, 20.0, 3),
        ("mg/dL", 1.2, 2.0, 20.1, 4),
    ],
)
def test_it_grades_bilirubin_against_an_abnormal_baseline(unit, uln, baseline, value, grade):
    """CTCAE v5.0 'Blood bilirubin increased', baseline abnormal: G1 >1.0 - 1.5 x baseline;
    G2 >1.5 - 3.0 x baseline; G3 >3.0 - 10.0 x baseline; G4 >10.0 x baseline."""
    result = grade_lab("BILI", value, unit, uln=uln, baseline=baseline)
    assert result == expected(BILI, grade)


# --- Creatinine: both criteria ---------------------------------------------------------------


@pytest.mark.parametrize(
    "unit, uln, value, grade",
    [
        ("umol/L", 100, 100, 0),
        ("umol/L", 100, 101, 1),
        ("umol/L", 100, 150, 1),
        ("umol/L", 100, 151, 2),
        ("umol/L", 100, 300, 2),
        ("umol/L", 100, 301, 3),
        ("umol/L", 100, 600, 3),
        ("umol/L", 100, 601, 4),
        ("mg/dL", 1.2, 1.2, 0),
        ("mg/dL", 1.2, 1.21, 1),
        ("mg/dL", 1.2, 1.8, 1),
        ("mg/dL", 1.2, 1.81, 2),
        ("mg/dL", 1.2, 3.6, 2),
        ("mg/dL", 1.2, 3.61, 3),
        ("mg/dL", 1.2, 7.2, 3),
        ("mg/dL", 1.2, 7.21, 4),
    ],
)
def test_it_grades_creatinine_against_uln_without_a_baseline(unit, uln, value, grade):
    """CTCAE v5.0 'Creatinine increased': G1 >ULN - 1.5 x ULN; G2 >1.5 - 3.0 x ULN;
    G3 >3.0 - 6.0 x ULN; G4 >6.0 x ULN."""
    assert grade_lab("CREAT", value, unit, uln=uln) == expected(CREAT, grade)


@pytest.mark.parametrize(
    "baseline, value, grade",
    [
        # Baseline 1.0 mg/dL: the baseline criteria are worse than the ULN ones.
        (1.0, 1.3, 1),
        (1.0, 1.5, 1),
        (1.0, 1.6, 2),
        (1.0, 3.0, 2),
        (1.0, 3.1, 3),
        (1.0, 7.3, 4),
        # Baseline 0.6 mg/dL: >1.5 x baseline is grade 2 even below ULN, read literally.
        (0.6, 0.9, 0),
        (0.6, 0.91, 2),
        (0.6, 1.8, 2),
        (0.6, 1.81, 3),
        # Baseline 3.0 mg/dL: the ULN criteria are worse than the baseline ones.
        (3.0, 3.7, 3),
        (3.0, 4.5, 3),
        (3.0, 4.6, 3),
        (3.0, 7.21, 4),
    ],
)
def test_it_grades_creatinine_by_the_worse_of_the_uln_and_baseline_criteria(baseline, value, grade):
    """CTCAE v5.0 'Creatinine increased' (ULN 1.2 mg/dL): G1 >ULN - 1.5 x ULN;
    G2 >1.5 - 3.0 x baseline or >1.5 - 3.0 x ULN; G3 >3.0 x baseline or >3.0 - 6.0 x ULN;
    G4 >6.0 x ULN. Both apply; the worse grade wins."""
    result = grade_lab("CREAT", value, "mg/dL", uln=1.2, baseline=baseline)
    assert result == expected(CREAT, grade)


# --- Other enzymes and INR -------------------------------------------------------------------


@pytest.mark.parametrize(
    "value, grade",
    [(200, 0), (201, 1), (500, 1), (501, 2), (1000, 2), (1001, 3), (2000, 3), (2001, 4)],
)
def test_it_grades_ck_against_uln(value, grade):
    """CTCAE v5.0 'CPK increased' (ULN 200 U/L): G1 >ULN - 2.5 x ULN; G2 >2.5 - 5 x ULN;
    G3 >5 - 10 x ULN; G4 >10 x ULN."""
    assert grade_lab("CK", value, "U/L", uln=200) == expected(CPK, grade)


@pytest.mark.parametrize("test, term", [("LIPASE", LIPASE), ("AMYLASE", AMYLASE)])
@pytest.mark.parametrize(
    "value, grade",
    [
        (60, 0),
        (61, 1),
        (90, 1),
        (91, 2),
        (120, 2),
        (121, 2),
        (300, 2),
        (301, 3),
        (6000, 3),
    ],
)
def test_it_grades_lipase_and_amylase_as_for_an_asymptomatic_patient(test, term, value, grade):
    """CTCAE v5.0 'Lipase increased' and 'Serum amylase increased' (ULN 60 U/L): G1 >ULN -
    1.5 x ULN; G2 >1.5 - 2.0 x ULN or >2.0 - 5.0 x ULN and asymptomatic; G3 >5.0 x ULN and
    asymptomatic. G4 needs signs or symptoms and is never returned."""
    assert grade_lab(test, value, "U/L", uln=60) == expected(term, grade)


@pytest.mark.parametrize(
    "value, grade",
    [(0.9, 0), (1.2, 0), (1.21, 1), (1.5, 1), (1.51, 2), (2.5, 2), (2.51, 3), (9.0, 3)],
)
@pytest.mark.parametrize("uln", [None, 1.1], ids=["no-uln", "uln"])
def test_it_grades_inr_as_for_a_patient_not_on_anticoagulation(value, grade, uln):
    """CTCAE v5.0 'INR increased', not on anticoagulation: G1 >1.2 - 1.5; G2 >1.5 - 2.5;
    G3 >2.5. The numbers are INR values, so ULN is neither needed nor used."""
    assert grade_lab("INR", value, "ratio", uln=uln, baseline=1.0) == expected(INR, grade)


# --- Blood counts ----------------------------------------------------------------------------


@pytest.mark.parametrize("unit", CELL_UNITS_MM3)
@pytest.mark.parametrize(
    "value, grade",
    [(1800, 0), (1799, 1), (1500, 1), (1499, 2), (1000, 2), (999, 3), (500, 3), (499, 4)],
)
def test_it_grades_neutrophils_per_mm3(unit, value, grade):
    """CTCAE v5.0 'Neutrophil count decreased' (LLN 1800/mm3): G1 <LLN - 1500/mm3;
    G2 <1500 - 1000/mm3; G3 <1000 - 500/mm3; G4 <500/mm3. cells/uL is the same unit."""
    assert grade_lab("NEUT", value, unit, lln=1800, uln=7500) == expected(NEUT, grade)


@pytest.mark.parametrize(
    "value, grade",
    [(1.8, 0), (1.79, 1), (1.5, 1), (1.49, 2), (1.0, 2), (0.99, 3), (0.5, 3), (0.49, 4)],
)
def test_it_grades_neutrophils_in_10e9_per_litre(value, grade):
    """CTCAE v5.0 'Neutrophil count decreased' (LLN 1.8 x 10e9/L): G1 <LLN - 1.5 x 10e9/L;
    G2 <1.5 - 1.0 x 10e9/L; G3 <1.0 - 0.5 x 10e9/L; G4 <0.5 x 10e9/L."""
    assert grade_lab("NEUT", value, "10^9/L", lln=1.8) == expected(NEUT, grade)


def test_it_grades_neutrophils_below_1500_per_mm3_as_grade_2_even_above_a_low_lln():
    """CTCAE v5.0 'Neutrophil count decreased' G2: <1500 - 1000/mm3, a CTCAE number that does
    not refer to LLN; with LLN 1400/mm3, 1450/mm3 is grade 2 and 1500/mm3 is grade 0."""
    assert grade_lab("NEUT", 1450, "/mm3", lln=1400) == LabGrade(NEUT, 2)
    assert grade_lab("NEUT", 1500, "/mm3", lln=1400) == LabGrade(None, 0)


@pytest.mark.parametrize(
    "unit, lln, value, grade",
    [
        *[
            (unit, 150_000, value, grade)
            for unit in CELL_UNITS_MM3
            for value, grade in [
                (150_000, 0),
                (149_999, 1),
                (75_000, 1),
                (74_999, 2),
                (50_000, 2),
                (49_999, 3),
                (25_000, 3),
                (24_999, 4),
            ]
        ],
        ("10^9/L", 150, 150, 0),
        ("10^9/L", 150, 149, 1),
        ("10^9/L", 150, 75.0, 1),
        ("10^9/L", 150, 74.9, 2),
        ("10^9/L", 150, 50.0, 2),
        ("10^9/L", 150, 49.9, 3),
        ("10^9/L", 150, 25.0, 3),
        ("10^9/L", 150, 24.9, 4),
    ],
)
def test_it_grades_platelets_in_both_unit_systems(unit, lln, value, grade):
    """CTCAE v5.0 'Platelet count decreased': G1 <LLN - 75,000/mm3 (75.0 x 10e9/L);
    G2 <75,000 - 50,000/mm3 (<75.0 - 50.0); G3 <50,000 - 25,000/mm3 (<50.0 - 25.0);
    G4 <25,000/mm3 (<25.0 x 10e9/L)."""
    assert grade_lab("PLAT", value, unit, lln=lln) == expected(PLAT, grade)


@pytest.mark.parametrize(
    "unit, lln, value, term, grade",
    [
        *[
            (unit, 4000, value, term, grade)
            for unit in CELL_UNITS_MM3
            for value, term, grade in [
                (4000, None, 0),
                (3999, WBC_LOW, 1),
                (3000, WBC_LOW, 1),
                (2999, WBC_LOW, 2),
                (2000, WBC_LOW, 2),
                (1999, WBC_LOW, 3),
                (1000, WBC_LOW, 3),
                (999, WBC_LOW, 4),
                (15_000, None, 0),
                (100_000, None, 0),
                (100_001, LEUKOCYTOSIS, 3),
            ]
        ],
        ("10^9/L", 4.0, 4.0, None, 0),
        ("10^9/L", 4.0, 3.9, WBC_LOW, 1),
        ("10^9/L", 4.0, 3.0, WBC_LOW, 1),
        ("10^9/L", 4.0, 2.9, WBC_LOW, 2),
        ("10^9/L", 4.0, 2.0, WBC_LOW, 2),
        ("10^9/L", 4.0, 1.9, WBC_LOW, 3),
        ("10^9/L", 4.0, 1.0, WBC_LOW, 3),
        ("10^9/L", 4.0, 0.9, WBC_LOW, 4),
        ("10^9/L", 4.0, 15.0, None, 0),
        ("10^9/L", 4.0, 100.0, None, 0),
        ("10^9/L", 4.0, 100.1, LEUKOCYTOSIS, 3),
    ],
)
def test_it_grades_white_cells_in_both_directions(unit, lln, value, term, grade):
    """CTCAE v5.0 'White blood cell decreased': G1 <LLN - 3000/mm3 (3.0 x 10e9/L);
    G2 <3000 - 2000/mm3 (<3.0 - 2.0); G3 <2000 - 1000/mm3 (<2.0 - 1.0); G4 <1000/mm3 (<1.0).
    'Leukocytosis': G3 >100,000/mm3 only (100 x 10e9/L by /mm3 / 1000)."""
    assert grade_lab("WBC", value, unit, lln=lln, uln=11_000) == LabGrade(term, grade)


@pytest.mark.parametrize(
    "unit, lln, value, term, grade",
    [
        *[
            (unit, 1000, value, term, grade)
            for unit in CELL_UNITS_MM3
            for value, term, grade in [
                (1000, None, 0),
                (999, LYM_LOW, 1),
                (800, LYM_LOW, 1),
                (799, LYM_LOW, 2),
                (500, LYM_LOW, 2),
                (499, LYM_LOW, 3),
                (200, LYM_LOW, 3),
                (199, LYM_LOW, 4),
                (4000, None, 0),
                (4001, LYM_HIGH, 2),
                (20_000, LYM_HIGH, 2),
                (20_001, LYM_HIGH, 3),
            ]
        ],
        ("10^9/L", 1.0, 1.0, None, 0),
        ("10^9/L", 1.0, 0.99, LYM_LOW, 1),
        ("10^9/L", 1.0, 0.8, LYM_LOW, 1),
        ("10^9/L", 1.0, 0.79, LYM_LOW, 2),
        ("10^9/L", 1.0, 0.5, LYM_LOW, 2),
        ("10^9/L", 1.0, 0.49, LYM_LOW, 3),
        ("10^9/L", 1.0, 0.2, LYM_LOW, 3),
        ("10^9/L", 1.0, 0.19, LYM_LOW, 4),
        ("10^9/L", 1.0, 4.0, None, 0),
        ("10^9/L", 1.0, 4.01, LYM_HIGH, 2),
        ("10^9/L", 1.0, 20.0, LYM_HIGH, 2),
        ("10^9/L", 1.0, 20.1, LYM_HIGH, 3),
    ],
)
def test_it_grades_lymphocytes_in_both_directions(unit, lln, value, term, grade):
    """CTCAE v5.0 'Lymphocyte count decreased': G1 <LLN - 800/mm3 (0.8 x 10e9/L);
    G2 <800 - 500/mm3 (<0.8 - 0.5); G3 <500 - 200/mm3 (<0.5 - 0.2); G4 <200/mm3 (<0.2).
    'Lymphocyte count increased': G2 >4000 - 20,000/mm3; G3 >20,000/mm3 (4.0 and 20.0 x 10e9/L
    by /mm3 / 1000); no G1."""
    assert grade_lab("LYM", value, unit, lln=lln, uln=3500) == LabGrade(term, grade)


@pytest.mark.parametrize(
    "unit, lln, value, grade",
    [
        *[
            (unit, 600, value, grade)
            for unit in CELL_UNITS_MM3
            for value, grade in [
                (600, 0),
                (599, 1),
                (500, 1),
                (499, 2),
                (200, 2),
                (199, 3),
                (50, 3),
                (49, 4),
            ]
        ],
        ("10^9/L", 0.6, 0.6, 0),
        ("10^9/L", 0.6, 0.59, 1),
        ("10^9/L", 0.6, 0.5, 1),
        ("10^9/L", 0.6, 0.49, 2),
        ("10^9/L", 0.6, 0.2, 2),
        ("10^9/L", 0.6, 0.19, 3),
        ("10^9/L", 0.6, 0.05, 3),
        ("10^9/L", 0.6, 0.04, 4),
    ],
)
def test_it_grades_cd4_counts_in_both_unit_systems(unit, lln, value, grade):
    """CTCAE v5.0 'CD4 lymphocytes decreased': G1 <LLN - 500/mm3 (0.5 x 10e9/L);
    G2 <500 - 200/mm3 (<0.5 - 0.2); G3 <200 - 50/mm3 (<0.2 - 0.05); G4 <50/mm3 (<0.05)."""
    assert grade_lab("CD4", value, unit, lln=lln) == expected(CD4, grade)


# --- Haemoglobin -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "unit, lln, uln, value, grade",
    [
        ("g/dL", 12.0, 16.0, 12.0, 0),
        ("g/dL", 12.0, 16.0, 11.9, 1),
        ("g/dL", 12.0, 16.0, 10.0, 1),
        ("g/dL", 12.0, 16.0, 9.9, 2),
        ("g/dL", 12.0, 16.0, 8.0, 2),
        ("g/dL", 12.0, 16.0, 7.9, 3),
        ("g/dL", 12.0, 16.0, 3.0, 3),
        ("g/L", 120, 160, 120, 0),
        ("g/L", 120, 160, 119, 1),
        ("g/L", 120, 160, 100, 1),
        ("g/L", 120, 160, 99, 2),
        ("g/L", 120, 160, 80, 2),
        ("g/L", 120, 160, 79, 3),
        ("mmol/L", 7.4, 9.9, 7.4, 0),
        ("mmol/L", 7.4, 9.9, 7.3, 1),
        ("mmol/L", 7.4, 9.9, 6.2, 1),
        ("mmol/L", 7.4, 9.9, 6.1, 2),
        ("mmol/L", 7.4, 9.9, 4.9, 2),
        ("mmol/L", 7.4, 9.9, 4.8, 3),
    ],
)
def test_it_grades_anemia_in_every_unit_system(unit, lln, uln, value, grade):
    """CTCAE v5.0 'Anemia': G1 <LLN - 10.0 g/dL (6.2 mmol/L; 100 g/L); G2 <10.0 - 8.0 g/dL
    (<6.2 - 4.9 mmol/L; <100 - 80 g/L); G3 <8.0 g/dL (<4.9 mmol/L; <80 g/L). G3 also covers
    "transfusion indicated"; G4 has no numeric criterion."""
    assert grade_lab("HGB", value, unit, lln=lln, uln=uln) == expected(ANEMIA, grade)


@pytest.mark.parametrize(
    "unit, uln, baseline, value, grade",
    [
        ("g/dL", 16.0, None, 16.0, 0),
        ("g/dL", 16.0, None, 16.1, 1),
        ("g/dL", 16.0, None, 18.0, 1),
        ("g/dL", 16.0, None, 18.1, 2),
        ("g/dL", 16.0, None, 20.0, 2),
        ("g/dL", 16.0, None, 20.1, 3),
        ("g/dL", 16.0, 14.0, 16.1, 1),
        ("g/dL", 16.0, 17.0, 16.5, 0),
        ("g/dL", 16.0, 17.0, 17.0, 0),
        ("g/dL", 16.0, 17.0, 17.1, 1),
        ("g/dL", 16.0, 17.0, 19.0, 1),
        ("g/dL", 16.0, 17.0, 19.1, 2),
        ("g/dL", 16.0, 17.0, 21.0, 2),
        ("g/dL", 16.0, 17.0, 21.1, 3),
        ("g/L", 160, None, 160, 0),
        ("g/L", 160, None, 161, 1),
        ("g/L", 160, None, 180, 1),
        ("g/L", 160, None, 181, 2),
        ("g/L", 160, None, 200, 2),
        ("g/L", 160, None, 201, 3),
        # mmol/L: increases of 2 and 4 g/dL are 1.2412 and 2.4824 mmol/L (x 0.6206).
        ("mmol/L", 9.9, None, 9.9, 0),
        ("mmol/L", 9.9, None, 10.0, 1),
        ("mmol/L", 9.9, None, 11.14, 1),
        ("mmol/L", 9.9, None, 11.15, 2),
        ("mmol/L", 9.9, None, 12.38, 2),
        ("mmol/L", 9.9, None, 12.39, 3),
    ],
)
def test_it_grades_hemoglobin_increase_above_uln_or_an_abnormal_baseline(
    unit, uln, baseline, value, grade
):
    """CTCAE v5.0 'Hemoglobin increased': G1 increase >0 - 2 g/dL; G2 >2 - 4 g/dL; G3 >4 g/dL,
    measured above ULN, or above baseline when the baseline is above ULN. CTCAE gives g/dL only:
    g/L = g/dL x 10, mmol/L = g/dL x 0.6206."""
    result = grade_lab("HGB", value, unit, lln=uln * 0.75, uln=uln, baseline=baseline)
    assert result == expected(HGB_HIGH, grade)


# --- Chemistry -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "unit, lln, value, grade",
    [
        ("mg/dL", 70, 70, 0),
        ("mg/dL", 70, 69, 1),
        ("mg/dL", 70, 55, 1),
        ("mg/dL", 70, 54, 2),
        ("mg/dL", 70, 40, 2),
        ("mg/dL", 70, 39, 3),
        ("mg/dL", 70, 30, 3),
        ("mg/dL", 70, 29, 4),
        ("mmol/L", 3.9, 3.9, 0),
        ("mmol/L", 3.9, 3.8, 1),
        ("mmol/L", 3.9, 3.0, 1),
        ("mmol/L", 3.9, 2.9, 2),
        ("mmol/L", 3.9, 2.2, 2),
        ("mmol/L", 3.9, 2.1, 3),
        ("mmol/L", 3.9, 1.7, 3),
        ("mmol/L", 3.9, 1.6, 4),
    ],
)
def test_it_grades_hypoglycemia_in_both_unit_systems(unit, lln, value, grade):
    """CTCAE v5.0 'Hypoglycemia': G1 <LLN - 55 mg/dL (3.0 mmol/L); G2 <55 - 40 mg/dL
    (<3.0 - 2.2 mmol/L); G3 <40 - 30 mg/dL (<2.2 - 1.7 mmol/L); G4 <30 mg/dL (<1.7 mmol/L)."""
    assert grade_lab("GLUC", value, unit, lln=lln) == expected(HYPOGLYCEMIA, grade)


@pytest.mark.parametrize(
    "unit, lln, uln, value", [("mg/dL", 70, 100, 450), ("mmol/L", 3.9, 5.6, 25)]
)
def test_it_grades_high_glucose_as_grade_0_because_hyperglycemia_needs_clinical_context(
    unit, lln, uln, value
):
    """CTCAE v5.0 'Hyperglycemia' grades by treatment (G1 "abnormal glucose above baseline with
    no medical intervention" ... G3 "insulin therapy initiated"), not by a glucose number, so
    a high glucose alone is grade 0."""
    assert grade_lab("GLUC", value, unit, lln=lln, uln=uln) == LabGrade(None, 0)
    assert LAB_TESTS["GLUC"].not_gradable == ("Hyperglycemia",)


@pytest.mark.parametrize("unit", ["mmol/L", "mEq/L"])
@pytest.mark.parametrize(
    "value, term, grade",
    [
        (3.5, None, 0),
        (3.4, HYPOKALEMIA, 1),
        (3.0, HYPOKALEMIA, 1),
        (2.9, HYPOKALEMIA, 3),
        (2.5, HYPOKALEMIA, 3),
        (2.4, HYPOKALEMIA, 4),
        (5.1, None, 0),
        (5.2, HYPERKALEMIA, 1),
        (5.5, HYPERKALEMIA, 1),
        (5.6, HYPERKALEMIA, 2),
        (6.0, HYPERKALEMIA, 2),
        (6.1, HYPERKALEMIA, 3),
        (7.0, HYPERKALEMIA, 3),
        (7.1, HYPERKALEMIA, 4),
    ],
)
def test_it_grades_potassium_in_both_directions(unit, value, term, grade):
    """CTCAE v5.0 'Hypokalemia': G1 <LLN - 3.0 mmol/L (G2 is the same range when symptomatic,
    so never from the value); G3 <3.0 - 2.5; G4 <2.5. 'Hyperkalemia': G1 >ULN - 5.5;
    G2 >5.5 - 6.0; G3 >6.0 - 7.0; G4 >7.0 mmol/L. LLN 3.5, ULN 5.1; mEq/L equals mmol/L."""
    assert grade_lab("K", value, unit, lln=3.5, uln=5.1) == LabGrade(term, grade)


@pytest.mark.parametrize("unit", ["mmol/L", "mEq/L"])
@pytest.mark.parametrize(
    "value, term, grade",
    [
        (135, None, 0),
        (134, HYPONATREMIA, 1),
        (130, HYPONATREMIA, 1),
        (129.9, HYPONATREMIA, 2),
        (129, HYPONATREMIA, 2),
        (125, HYPONATREMIA, 2),
        (124.9, HYPONATREMIA, 3),
        (124, HYPONATREMIA, 3),
        (120, HYPONATREMIA, 3),
        (119.9, HYPONATREMIA, 4),
        (145, None, 0),
        (146, HYPERNATREMIA, 1),
        (150, HYPERNATREMIA, 1),
        (150.1, HYPERNATREMIA, 2),
        (155, HYPERNATREMIA, 2),
        (155.1, HYPERNATREMIA, 3),
        (160, HYPERNATREMIA, 3),
        (160.1, HYPERNATREMIA, 4),
    ],
)
def test_it_grades_sodium_in_both_directions(unit, value, term, grade):
    """CTCAE v5.0 'Hyponatremia': G1 <LLN - 130 mmol/L; G2 125-129 (asymptomatic arm);
    G3 120-124; G4 <120. 'Hypernatremia': G1 >ULN - 150; G2 >150 - 155; G3 >155 - 160;
    G4 >160 mmol/L. LLN 135, ULN 145."""
    assert grade_lab("SODIUM", value, unit, lln=135, uln=145) == LabGrade(term, grade)


@pytest.mark.parametrize(
    "unit, lln, uln, value, term, grade",
    [
        ("mg/dL", 8.5, 10.5, 8.5, None, 0),
        ("mg/dL", 8.5, 10.5, 8.4, HYPOCALCEMIA, 1),
        ("mg/dL", 8.5, 10.5, 8.0, HYPOCALCEMIA, 1),
        ("mg/dL", 8.5, 10.5, 7.9, HYPOCALCEMIA, 2),
        ("mg/dL", 8.5, 10.5, 7.0, HYPOCALCEMIA, 2),
        ("mg/dL", 8.5, 10.5, 6.9, HYPOCALCEMIA, 3),
        ("mg/dL", 8.5, 10.5, 6.0, HYPOCALCEMIA, 3),
        ("mg/dL", 8.5, 10.5, 5.9, HYPOCALCEMIA, 4),
        ("mg/dL", 8.5, 10.5, 10.5, None, 0),
        ("mg/dL", 8.5, 10.5, 10.6, HYPERCALCEMIA, 1),
        ("mg/dL", 8.5, 10.5, 11.5, HYPERCALCEMIA, 1),
        ("mg/dL", 8.5, 10.5, 11.6, HYPERCALCEMIA, 2),
        ("mg/dL", 8.5, 10.5, 12.5, HYPERCALCEMIA, 2),
        ("mg/dL", 8.5, 10.5, 12.6, HYPERCALCEMIA, 3),
        ("mg/dL", 8.5, 10.5, 13.5, HYPERCALCEMIA, 3),
        ("mg/dL", 8.5, 10.5, 13.6, HYPERCALCEMIA, 4),
        ("mmol/L", 2.15, 2.55, 2.15, None, 0),
        ("mmol/L", 2.15, 2.55, 2.14, HYPOCALCEMIA, 1),
        ("mmol/L", 2.15, 2.55, 2.0, HYPOCALCEMIA, 1),
        ("mmol/L", 2.15, 2.55, 1.99, HYPOCALCEMIA, 2),
        ("mmol/L", 2.15, 2.55, 1.75, HYPOCALCEMIA, 2),
        ("mmol/L", 2.15, 2.55, 1.74, HYPOCALCEMIA, 3),
        ("mmol/L", 2.15, 2.55, 1.5, HYPOCALCEMIA, 3),
        ("mmol/L", 2.15, 2.55, 1.49, HYPOCALCEMIA, 4),
        ("mmol/L", 2.15, 2.55, 2.55, None, 0),
        ("mmol/L", 2.15, 2.55, 2.56, HYPERCALCEMIA, 1),
        ("mmol/L", 2.15, 2.55, 2.9, HYPERCALCEMIA, 1),
        ("mmol/L", 2.15, 2.55, 2.91, HYPERCALCEMIA, 2),
        ("mmol/L", 2.15, 2.55, 3.1, HYPERCALCEMIA, 2),
        ("mmol/L", 2.15, 2.55, 3.11, HYPERCALCEMIA, 3),
        ("mmol/L", 2.15, 2.55, 3.4, HYPERCALCEMIA, 3),
        ("mmol/L", 2.15, 2.55, 3.41, HYPERCALCEMIA, 4),
    ],
)
def test_it_grades_corrected_calcium_in_both_directions(unit, lln, uln, value, term, grade):
    """CTCAE v5.0 'Hypocalcemia', corrected serum calcium: G1 <LLN - 8.0 mg/dL (2.0 mmol/L);
    G2 <8.0 - 7.0 (<2.0 - 1.75); G3 <7.0 - 6.0 (<1.75 - 1.5); G4 <6.0 (<1.5).
    'Hypercalcemia': G1 >ULN - 11.5 mg/dL (2.9 mmol/L); G2 >11.5 - 12.5 (>2.9 - 3.1);
    G3 >12.5 - 13.5 (>3.1 - 3.4); G4 >13.5 (>3.4)."""
    assert grade_lab("CA", value, unit, lln=lln, uln=uln) == LabGrade(term, grade)


@pytest.mark.parametrize(
    "unit, lln, uln, value, term, grade",
    [
        ("mg/dL", 1.7, 2.4, 1.7, None, 0),
        ("mg/dL", 1.7, 2.4, 1.6, HYPOMAGNESEMIA, 1),
        ("mg/dL", 1.7, 2.4, 1.2, HYPOMAGNESEMIA, 1),
        ("mg/dL", 1.7, 2.4, 1.1, HYPOMAGNESEMIA, 2),
        ("mg/dL", 1.7, 2.4, 0.9, HYPOMAGNESEMIA, 2),
        ("mg/dL", 1.7, 2.4, 0.8, HYPOMAGNESEMIA, 3),
        ("mg/dL", 1.7, 2.4, 0.7, HYPOMAGNESEMIA, 3),
        ("mg/dL", 1.7, 2.4, 0.6, HYPOMAGNESEMIA, 4),
        ("mg/dL", 1.7, 2.4, 2.4, None, 0),
        ("mg/dL", 1.7, 2.4, 2.5, HYPERMAGNESEMIA, 1),
        ("mg/dL", 1.7, 2.4, 3.0, HYPERMAGNESEMIA, 1),
        ("mg/dL", 1.7, 2.4, 3.1, HYPERMAGNESEMIA, 3),
        ("mg/dL", 1.7, 2.4, 8.0, HYPERMAGNESEMIA, 3),
        ("mg/dL", 1.7, 2.4, 8.1, HYPERMAGNESEMIA, 4),
        ("mmol/L", 0.7, 1.0, 0.7, None, 0),
        ("mmol/L", 0.7, 1.0, 0.69, HYPOMAGNESEMIA, 1),
        ("mmol/L", 0.7, 1.0, 0.5, HYPOMAGNESEMIA, 1),
        ("mmol/L", 0.7, 1.0, 0.49, HYPOMAGNESEMIA, 2),
        ("mmol/L", 0.7, 1.0, 0.4, HYPOMAGNESEMIA, 2),
        ("mmol/L", 0.7, 1.0, 0.39, HYPOMAGNESEMIA, 3),
        ("mmol/L", 0.7, 1.0, 0.3, HYPOMAGNESEMIA, 3),
        ("mmol/L", 0.7, 1.0, 0.29, HYPOMAGNESEMIA, 4),
        ("mmol/L", 0.7, 1.0, 1.0, None, 0),
        ("mmol/L", 0.7, 1.0, 1.01, HYPERMAGNESEMIA, 1),
        ("mmol/L", 0.7, 1.0, 1.23, HYPERMAGNESEMIA, 1),
        ("mmol/L", 0.7, 1.0, 1.24, HYPERMAGNESEMIA, 3),
        ("mmol/L", 0.7, 1.0, 3.30, HYPERMAGNESEMIA, 3),
        ("mmol/L", 0.7, 1.0, 3.31, HYPERMAGNESEMIA, 4),
    ],
)
def test_it_grades_magnesium_in_both_directions(unit, lln, uln, value, term, grade):
    """CTCAE v5.0 'Hypomagnesemia': G1 <LLN - 1.2 mg/dL (0.5 mmol/L); G2 <1.2 - 0.9
    (<0.5 - 0.4); G3 <0.9 - 0.7 (<0.4 - 0.3); G4 <0.7 (<0.3). 'Hypermagnesemia':
    G1 >ULN - 3.0 mg/dL (1.23 mmol/L); no G2; G3 >3.0 - 8.0 (>1.23 - 3.30); G4 >8.0 (>3.30)."""
    assert grade_lab("MG", value, unit, lln=lln, uln=uln) == LabGrade(term, grade)


@pytest.mark.parametrize(
    "unit, lln, value, grade",
    [
        ("g/dL", 3.5, 3.5, 0),
        ("g/dL", 3.5, 3.4, 1),
        ("g/dL", 3.5, 3.0, 1),
        ("g/dL", 3.5, 2.9, 2),
        ("g/dL", 3.5, 2.0, 2),
        ("g/dL", 3.5, 1.9, 3),
        ("g/dL", 3.5, 0.5, 3),
        ("g/L", 35, 35, 0),
        ("g/L", 35, 34, 1),
        ("g/L", 35, 30, 1),
        ("g/L", 35, 29, 2),
        ("g/L", 35, 20, 2),
        ("g/L", 35, 19, 3),
    ],
)
def test_it_grades_hypoalbuminemia_in_both_unit_systems(unit, lln, value, grade):
    """CTCAE v5.0 'Hypoalbuminemia': G1 <LLN - 3 g/dL (30 g/L); G2 <3 - 2 g/dL (<30 - 20 g/L);
    G3 <2 g/dL (<20 g/L); G4 has no numeric criterion."""
    assert grade_lab("ALB", value, unit, lln=lln) == expected(HYPOALBUMINEMIA, grade)


@pytest.mark.parametrize(
    "unit, uln, value, grade",
    [
        ("mg/dL", 200, 200, 0),
        ("mg/dL", 200, 201, 1),
        ("mg/dL", 200, 300, 1),
        ("mg/dL", 200, 301, 2),
        ("mg/dL", 200, 400, 2),
        ("mg/dL", 200, 401, 3),
        ("mg/dL", 200, 500, 3),
        ("mg/dL", 200, 501, 4),
        ("mmol/L", 5.2, 5.2, 0),
        ("mmol/L", 5.2, 5.21, 1),
        ("mmol/L", 5.2, 7.75, 1),
        ("mmol/L", 5.2, 7.76, 2),
        ("mmol/L", 5.2, 10.34, 2),
        ("mmol/L", 5.2, 10.35, 3),
        ("mmol/L", 5.2, 12.92, 3),
        ("mmol/L", 5.2, 12.93, 4),
    ],
)
def test_it_grades_cholesterol_in_both_unit_systems(unit, uln, value, grade):
    """CTCAE v5.0 'Cholesterol high': G1 >ULN - 300 mg/dL (7.75 mmol/L); G2 >300 - 400
    (>7.75 - 10.34); G3 >400 - 500 (>10.34 - 12.92); G4 >500 mg/dL (>12.92 mmol/L)."""
    assert grade_lab("CHOL", value, unit, uln=uln) == expected(CHOLESTEROL, grade)


@pytest.mark.parametrize(
    "unit, value, grade",
    [
        ("mg/dL", 149, 0),
        ("mg/dL", 150, 1),
        ("mg/dL", 300, 1),
        ("mg/dL", 301, 2),
        ("mg/dL", 500, 2),
        ("mg/dL", 501, 3),
        ("mg/dL", 1000, 3),
        ("mg/dL", 1001, 4),
        ("mmol/L", 1.70, 0),
        ("mmol/L", 1.71, 1),
        ("mmol/L", 3.42, 1),
        ("mmol/L", 3.43, 2),
        ("mmol/L", 5.7, 2),
        ("mmol/L", 5.71, 3),
        ("mmol/L", 11.4, 3),
        ("mmol/L", 11.41, 4),
    ],
)
def test_it_grades_triglycerides_by_ctcae_numbers_alone(unit, value, grade):
    """CTCAE v5.0 'Hypertriglyceridemia': G1 150 - 300 mg/dL (1.71 - 3.42 mmol/L), 150 itself
    included; G2 >300 - 500 (>3.42 - 5.7); G3 >500 - 1000 (>5.7 - 11.4); G4 >1000 (>11.4).
    No reference limit is needed."""
    assert grade_lab("TRIG", value, unit) == expected(TRIGLYCERIDES, grade)


# --- Body temperature ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "unit, value, term, grade",
    [
        ("C", 37.9, None, 0),
        ("C", 38.0, FEVER, 1),
        ("C", 39.0, FEVER, 1),
        ("C", 39.1, FEVER, 2),
        ("C", 40.0, FEVER, 2),
        ("C", 40.1, FEVER, 3),
        ("C", 42.0, FEVER, 3),
        ("C", 35.1, None, 0),
        ("C", 35.0, HYPOTHERMIA, 2),
        ("C", 32.1, HYPOTHERMIA, 2),
        ("C", 32.0, HYPOTHERMIA, 3),
        ("C", 28.1, HYPOTHERMIA, 3),
        ("C", 28.0, HYPOTHERMIA, 4),
        ("F", 100.3, None, 0),
        ("F", 100.4, FEVER, 1),
        ("F", 102.2, FEVER, 1),
        ("F", 102.25, FEVER, 2),
        ("F", 102.3, FEVER, 2),
        ("F", 104.0, FEVER, 2),
        ("F", 104.1, FEVER, 3),
        ("F", 95.1, None, 0),
        ("F", 95.0, HYPOTHERMIA, 2),
        ("F", 89.7, HYPOTHERMIA, 2),
        ("F", 89.6, HYPOTHERMIA, 3),
        ("F", 82.5, HYPOTHERMIA, 3),
        ("F", 82.4, HYPOTHERMIA, 4),
    ],
)
def test_it_grades_body_temperature_as_fever_or_hypothermia(unit, value, term, grade):
    """CTCAE v5.0 'Fever': G1 38.0 - 39.0 C (100.4 - 102.2 F); G2 >39.0 - 40.0 C
    (102.3 - 104.0 F, read as >102.2); G3 >40.0 C (>104.0 F), as the duration that makes G4 is
    unknown. 'Hypothermia': G2 35 - >32 C (95 - >89.6 F); G3 32 - >28 C (89.6 - >82.4 F);
    G4 <=28 C (82.4 F); no G1."""
    assert grade_lab("TEMP", value, unit) == LabGrade(term, grade)


# --- Input handling --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "test, value, unit, limits, result",
    [
        ("BILI", 22, "\u00b5mol/L", {"uln": 21}, LabGrade(BILI, 1)),
        ("CREAT", 101, "\u03bcmol/L", {"uln": 100}, LabGrade(CREAT, 1)),
        ("NEUT", 1499, "cells/\u00b5L", {"lln": 1800}, LabGrade(NEUT, 2)),
        ("TEMP", 38.0, "\u00b0C", {}, LabGrade(FEVER, 1)),
        ("TEMP", 95.0, "\u00b0F", {}, LabGrade(HYPOTHERMIA, 2)),
    ],
)
def test_it_accepts_micro_and_degree_sign_spellings_of_units(test, value, unit, limits, result):
    """CTCAE v5.0 'Blood bilirubin increased' G1 >ULN - 1.5 x ULN; 'Creatinine increased'
    G1 >ULN - 1.5 x ULN; 'Neutrophil count decreased' G2 <1500 - 1000/mm3; 'Fever' G1
    38.0 - 39.0 C; 'Hypothermia' G2 95 - >89.6 F, with units spelled with a micro or degree
    sign."""
    assert grade_lab(test, value, unit, **limits) == result


def test_it_accepts_decimals_and_numpy_numbers():
    """CTCAE v5.0 'Alanine aminotransferase increased' G1 >ULN - 3.0 x ULN; 'Hyponatremia' G2
    125-129 mmol/L; a Decimal from the database or a numpy number grades like a float."""
    assert grade_lab("ALT", Decimal("120.0"), "U/L", uln=Decimal("40")) == LabGrade(ALT, 1)
    assert grade_lab("ALT", np.float32(121), "U/L", uln=np.int64(40)) == LabGrade(ALT, 2)
    result = grade_lab("SODIUM", Decimal("129"), "mmol/L", lln=135, uln=145)
    assert result == LabGrade(HYPONATREMIA, 2)


def test_it_treats_a_nan_limit_or_baseline_as_not_given():
    """CTCAE v5.0 'Alanine aminotransferase increased': with no baseline, G1 is >ULN - 3.0 x ULN
    (ULN 40); a NaN baseline from a frame means "not given"."""
    assert grade_lab("ALT", 100, "U/L", uln=40, baseline=math.nan) == LabGrade(ALT, 1)
    assert grade_lab("INR", 1.3, "ratio", lln=math.nan, uln=math.nan) == LabGrade(INR, 1)


def test_lab_tests_lists_every_test_code_with_its_units():
    """The test codes and units the grader accepts, as the eCRF's lab forms use them."""
    assert list(LAB_TESTS) == [
        "ALT",
        "AST",
        "BILI",
        "ALP",
        "GGT",
        "CREAT",
        "CK",
        "LIPASE",
        "AMYLASE",
        "INR",
        "NEUT",
        "PLAT",
        "WBC",
        "LYM",
        "CD4",
        "HGB",
        "GLUC",
        "K",
        "SODIUM",
        "CA",
        "MG",
        "ALB",
        "CHOL",
        "TRIG",
        "TEMP",
    ]
    cells = {"10^9/L", "/mm3", "cells/uL"}
    for code in ("NEUT", "PLAT", "WBC", "LYM", "CD4"):
        assert set(LAB_TESTS[code].units) == cells
    assert set(LAB_TESTS["HGB"].units) == {"g/L", "g/dL", "mmol/L"}
    for code in ("GLUC", "CA", "MG", "CHOL", "TRIG"):
        assert set(LAB_TESTS[code].units) == {"mmol/L", "mg/dL"}
    assert set(LAB_TESTS["ALB"].units) == {"g/L", "g/dL"}
    assert set(LAB_TESTS["K"].units) == set(LAB_TESTS["SODIUM"].units) == {"mmol/L", "mEq/L"}
    assert set(LAB_TESTS["BILI"].units) == set(LAB_TESTS["CREAT"].units) == {"umol/L", "mg/dL"}
    for code in ("ALT", "AST", "ALP", "GGT", "CK", "LIPASE", "AMYLASE"):
        assert LAB_TESTS[code].units == ("U/L",)
    assert LAB_TESTS["INR"].units == ("ratio",)
    assert set(LAB_TESTS["TEMP"].units) == {"C", "F"}


def _source_terms() -> dict[str, dict[int, bool]]:
    """CTCAE term -> which of grades 1-5 exist, from NCI's sheet (" -" marks a missing grade)."""
    with SOURCE_CSV.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.reader(handle))
    return {
        row[2].strip(): {grade: row[2 + grade].strip() != "-" for grade in range(1, 6)}
        for row in rows[1:]
    }


@requires_source_csv
def test_every_term_is_spelled_as_in_the_ctcae_sheet_and_every_returned_grade_exists():
    """CTCAE v5.0: each term the grader returns is a 'CTCAE Term' of the clean-copy sheet, and
    each grade it returns exists for that term (e.g. 'Hypermagnesemia' has no G2,
    'Leukocytosis' only G3 numerically)."""
    source = _source_terms()
    terms = {
        term
        for spec in LAB_TESTS.values()
        for term in (spec.low_term, spec.high_term, *spec.not_gradable)
        if term is not None
    }
    assert terms <= set(source)
    frame = random_results(20_000, seed=7)
    graded = grade_labs(frame)
    for term, grade in set(zip(graded["term"], graded["grade"], strict=True)):
        if term is not None:
            assert source[term][grade], (term, grade)


# --- Errors ----------------------------------------------------------------------------------


def test_it_refuses_an_unknown_test_code_and_lists_the_known_ones():
    """No CTCAE v5.0 lab criterion exists for an unknown LBTESTCD."""
    with pytest.raises(GradingError, match=r"Unknown lab test code 'URATE'; known codes: ALT, AST"):
        grade_lab("URATE", 5, "mg/dL", uln=7)


@pytest.mark.parametrize(
    "test, unit, accepted",
    [
        ("ALT", "mg/dL", "U/L"),
        ("NEUT", "g/L", "/mm3, cells/uL, 10^9/L"),
        ("K", "mg/dL", "mmol/L, mEq/L"),
        ("TEMP", "K", "C, F"),
        ("HGB", None, "g/dL, g/L, mmol/L"),
    ],
)
def test_it_refuses_a_unit_that_does_not_fit_the_test_and_lists_the_accepted_ones(
    test, unit, accepted
):
    """CTCAE v5.0 numbers hold for one unit system each; a unit outside them cannot be graded."""
    with pytest.raises(GradingError) as raised:
        grade_lab(test, 1, unit, lln=0.5, uln=2)
    assert str(raised.value) == (f"Unit {unit!r} does not fit {test}; accepted units: {accepted}.")


@pytest.mark.parametrize(
    "test, value, unit, limits, message",
    [
        ("ALT", 1.0, "U/L", {}, "ALT needs uln"),
        ("ALT", 1.0, "U/L", {"baseline": 50}, "ALT needs uln"),
        ("CREAT", 1.0, "mg/dL", {"baseline": 1.0}, "CREAT needs uln"),
        ("NEUT", 1.0, "10^9/L", {"uln": 7.5}, "NEUT needs lln"),
        ("K", 1.0, "mmol/L", {"uln": 5.1}, "K needs lln"),
        ("K", 4.0, "mmol/L", {"lln": 3.5}, "K needs uln"),
        ("HGB", 13.0, "g/dL", {"lln": 12}, "HGB needs uln"),
        ("HGB", 13.0, "g/dL", {"uln": 16}, "HGB needs lln"),
        ("GLUC", 1.0, "mmol/L", {"uln": 5.6}, "GLUC needs lln"),
    ],
)
def test_it_refuses_a_missing_limit_that_the_criteria_need(test, value, unit, limits, message):
    """CTCAE v5.0 grade 1 of 'Alanine aminotransferase increased' (>ULN), 'Creatinine increased'
    (>ULN), 'Neutrophil count decreased' (<LLN), 'Hypokalemia' (<LLN), 'Hyperkalemia' (>ULN),
    'Anemia' (<LLN), 'Hemoglobin increased' (above ULN) and 'Hypoglycemia' (<LLN) need the
    reference limit: a value that is not abnormal in the direction whose limit is given might be
    abnormal in the other, so it cannot be called grade 0."""
    with pytest.raises(GradingError, match=f"^{message}"):
        grade_lab(test, value, unit, **limits)


@pytest.mark.parametrize(
    "test, value, unit, limits, term, grade",
    [
        # Anemia (CTCAE v5.0): Hgb <LLN - 10.0 g/dL grade 1; <10.0 - 8.0 g/dL grade 2; <8.0
        # grade 3; in g/L 100 and 80.
        ("HGB", 95, "g/L", {"lln": 120}, "Anemia", 2),
        ("HGB", 100, "g/L", {"lln": 120}, "Anemia", 1),
        ("HGB", 80, "g/L", {"lln": 120}, "Anemia", 2),
        ("HGB", 79.9, "g/L", {"lln": 120}, "Anemia", 3),
        ("HGB", 11.9, "g/dL", {"lln": 12}, "Anemia", 1),
        # Hemoglobin increased: increase >0 - 2 g/dL above ULN grade 1; >2 - 4 grade 2.
        ("HGB", 18.5, "g/dL", {"uln": 16}, "Hemoglobin increased", 2),
        # Hypokalemia: <LLN - 3.0 mmol/L grade 1; Hyperkalemia: >ULN - 5.5 grade 1, >5.5 - 6.0
        # grade 2.
        ("K", 3.2, "mmol/L", {"lln": 3.5}, "Hypokalemia", 1),
        ("K", 5.8, "mmol/L", {"uln": 5.1}, "Hyperkalemia", 2),
    ],
)
def test_a_result_abnormal_in_the_direction_whose_limit_is_given_is_graded(
    test, value, unit, limits, term, grade
):
    """A haemoglobin below its LLN is anaemia whether or not the ULN is known; the grid need not
    hold the limit of the other direction to grade it (CTCAE v5.0 'Anemia', 'Hemoglobin
    increased', 'Hypokalemia', 'Hyperkalemia')."""
    assert grade_lab(test, value, unit, **limits) == LabGrade(term, grade)
    frame = _frame([(test, value, unit, limits.get("lln"), limits.get("uln"), None)])
    graded = grade_labs(frame)
    assert (graded["term"].iloc[0], graded["grade"].iloc[0]) == (term, grade)


@pytest.mark.parametrize(
    "value, shown",
    [
        (math.nan, "nan"),
        (math.inf, "inf"),
        (-math.inf, "-inf"),
        (None, "None"),
        ("12", "'12'"),
        (True, "True"),
        (Decimal("NaN"), "Decimal('NaN')"),
    ],
)
def test_it_refuses_a_value_that_is_not_a_finite_number(value, shown):
    """No CTCAE v5.0 criterion can grade a missing or non-numeric value."""
    with pytest.raises(GradingError) as raised:
        grade_lab("ALT", value, "U/L", uln=40)
    assert str(raised.value) == f"ALT value must be a finite number, got {shown}."


@pytest.mark.parametrize(
    "limits, message",
    [
        ({"lln": 5.5, "uln": 3.5}, "K lln (5.5) is greater than uln (3.5)."),
        ({"lln": "3.5", "uln": 5.1}, "K lln must be a finite number, got '3.5'."),
        ({"lln": 3.5, "uln": math.inf}, "K uln must be a finite number, got inf."),
        ({"lln": 3.5, "uln": 5.1, "baseline": "4"}, "K baseline must be a finite number, got '4'."),
        ({"lln": -1, "uln": 5.1}, "K lln must not be negative, got -1."),
        ({"lln": 0, "uln": 0}, "K uln must be greater than 0, got 0."),
    ],
)
def test_it_refuses_bad_reference_limits(limits, message):
    """CTCAE v5.0 'Hypokalemia' and 'Hyperkalemia' are graded against LLN and ULN, which must be
    finite numbers with LLN not above ULN."""
    with pytest.raises(GradingError) as raised:
        grade_lab("K", 4.0, "mmol/L", **limits)
    assert str(raised.value) == message


def test_it_refuses_a_negative_value():
    """No CTCAE v5.0 lab criterion applies to a negative concentration or count."""
    with pytest.raises(GradingError, match=r"^PLAT value must not be negative, got -5\.$"):
        grade_lab("PLAT", -5, "10^9/L", lln=150)


def test_grading_errors_are_value_errors():
    """Callers that catch ValueError also catch grading errors."""
    assert issubclass(GradingError, ValueError)


# --- The vectorised path ---------------------------------------------------------------------


def _frame(rows: list[tuple], index: list | None = None) -> pd.DataFrame:
    return pd.DataFrame(
        rows, columns=["test", "value", "unit", "lln", "uln", "baseline"], index=index
    )


def test_grade_labs_keeps_the_index_and_returns_none_and_int_grades():
    """CTCAE v5.0 'Alanine aminotransferase increased' G2 >3.0 - 5.0 x ULN; 'Hyperkalemia' G3
    >6.0 - 7.0 mmol/L; 'Fever' G1 38.0 - 39.0 C; 'Neutrophil count decreased' G4 <500/mm3; a
    normal potassium is grade 0 with term None."""
    frame = _frame(
        [
            ("ALT", 121, "U/L", np.nan, 40, np.nan),
            ("K", 6.5, "mEq/L", 3.5, 5.1, np.nan),
            ("K", 4.0, "mmol/L", 3.5, 5.1, np.nan),
            ("TEMP", 38.0, "C", np.nan, np.nan, np.nan),
            ("NEUT", 499, "cells/uL", 1800, np.nan, np.nan),
        ],
        index=[10, 20, 30, 40, 50],
    )
    graded = grade_labs(frame)
    assert list(graded.index) == [10, 20, 30, 40, 50]
    assert list(graded.columns) == ["term", "grade"]
    assert graded["grade"].dtype == np.int64
    assert graded["term"].dtype == object
    assert graded["term"].tolist() == [ALT, HYPERKALEMIA, None, FEVER, NEUT]
    assert graded["grade"].tolist() == [2, 3, 0, 1, 4]


def test_grade_labs_grades_an_empty_frame():
    """An empty batch grades to an empty result with the same columns."""
    graded = grade_labs(_frame([]))
    assert list(graded.columns) == ["term", "grade"]
    assert len(graded) == 0


def test_grade_labs_accepts_object_columns_of_decimals_and_none():
    """CTCAE v5.0 'Creatinine increased' G2 >1.5 - 3.0 x baseline and 'Blood bilirubin
    increased' G1 >ULN - 1.5 x ULN, from Decimal values and None limits as a database gives."""
    frame = _frame(
        [
            ("CREAT", Decimal("1.6"), "mg/dL", None, Decimal("1.2"), Decimal("1.0")),
            ("BILI", Decimal("22"), "umol/L", None, Decimal("21"), None),
        ]
    )
    graded = grade_labs(frame)
    assert graded["term"].tolist() == [CREAT, BILI]
    assert graded["grade"].tolist() == [2, 1]


@pytest.mark.parametrize(
    "bad_row, message",
    [
        (("URATE", 5, "mg/dL", np.nan, 7, np.nan), "Row 'c': Unknown lab test code 'URATE'"),
        (("ALT", 50, "mg/dL", np.nan, 40, np.nan), "Row 'c': Unit 'mg/dL' does not fit ALT"),
        (("ALT", 50, "U/L", np.nan, np.nan, np.nan), "Row 'c': ALT needs uln"),
        (("HGB", 130, "g/L", 120, np.nan, np.nan), "Row 'c': HGB needs uln"),
        (("ALT", np.nan, "U/L", np.nan, 40, np.nan), "Row 'c': ALT value must be a finite"),
        (("ALT", np.inf, "U/L", np.nan, 40, np.nan), "Row 'c': ALT value must be a finite"),
        (("K", 4.0, "mmol/L", 5.5, 3.5, np.nan), r"Row 'c': K lln \(5.5\) is greater than uln"),
        (("K", -4.0, "mmol/L", 3.5, 5.1, np.nan), "Row 'c': K value must not be negative"),
        (("K", 4.0, "mmol/L", 3.5, 0.0, np.nan), "Row 'c': K uln must be greater than 0"),
    ],
)
def test_grade_labs_refuses_the_whole_batch_naming_the_first_bad_row(bad_row, message):
    """A bulk import is all or nothing: one invalid row refuses the batch, and the message names
    the first invalid row's index label with the same problem grade_lab reports."""
    good = ("ALT", 50, "U/L", np.nan, 40, np.nan)
    later_bad = ("NEUT", 1.0, "10^9/L", np.nan, np.nan, np.nan)
    frame = _frame([good, good, bad_row, later_bad], index=["a", "b", "c", "d"])
    with pytest.raises(GradingError, match=f"^{message}") as raised:
        grade_labs(frame)
    assert str(raised.value).endswith("No row of the batch was graded.")


@pytest.mark.parametrize(
    "column, bad, message",
    [
        ("value", "12", "Row 1: ALT value must be a finite number, got '12'."),
        ("value", None, "Row 1: ALT value must be a finite number, got None."),
        ("uln", "40", "Row 1: ALT uln must be a finite number, got '40'."),
        ("baseline", "x", "Row 1: ALT baseline must be a finite number, got 'x'."),
    ],
)
def test_grade_labs_refuses_text_in_number_columns(column, bad, message):
    """No CTCAE v5.0 criterion can grade text; the message matches grade_lab's."""
    frame = _frame([("ALT", 50, "U/L", None, 40, None), ("ALT", 50, "U/L", None, 40, None)]).astype(
        object
    )
    frame.loc[1, column] = bad
    with pytest.raises(GradingError) as raised:
        grade_labs(frame)
    assert str(raised.value) == f"{message} No row of the batch was graded."


def test_grade_labs_refuses_a_frame_without_the_needed_columns():
    """grade_labs needs every input column, even when all its values are missing."""
    frame = pd.DataFrame({"test": ["ALT"], "value": [50], "unit": ["U/L"], "uln": [40]})
    with pytest.raises(GradingError, match="missing: lln, baseline"):
        grade_labs(frame)


def _row_by_row(frame: pd.DataFrame) -> tuple[list, list]:
    terms, grades = [], []
    for row in frame.itertuples(index=False):
        result = grade_lab(
            row.test, row.value, row.unit, lln=row.lln, uln=row.uln, baseline=row.baseline
        )
        terms.append(result.term)
        grades.append(result.grade)
    return terms, grades


def test_grade_labs_agrees_with_grade_lab_on_every_row_of_a_generated_frame():
    """Both paths apply the same CTCAE v5.0 criteria: on 8,000 generated results over every
    test and unit (values around and exactly on the limits, with and without baselines) they
    give the same term and grade on every row."""
    frame = random_results(8_000, seed=11)
    frame.index = pd.RangeIndex(100_000, 108_000)
    assert set(zip(frame["test"], frame["unit"], strict=True)) == set(TYPICAL)
    assert set(TYPICAL) == {(code, unit) for code, spec in LAB_TESTS.items() for unit in spec.units}
    graded = grade_labs(frame)
    terms, grades = _row_by_row(frame)
    assert list(graded.index) == list(frame.index)
    assert graded["term"].tolist() == terms
    assert graded["grade"].tolist() == grades
    assert set(grades) == {0, 1, 2, 3, 4}
    assert frame["baseline"].isna().any() and frame["baseline"].notna().any()


def test_grade_labs_agrees_with_grade_lab_on_the_hand_written_boundaries():
    """Both paths put values exactly on CTCAE v5.0 limits on the same side: 'Blood bilirubin
    increased' G1 >ULN - 1.5 x ULN at 1.8 mg/dL (ULN 1.2); 'Alanine aminotransferase increased'
    G1 1.5 - 3.0 x baseline at 90 U/L (baseline 60); 'Hemoglobin increased' G2 >2 - 4 g/dL;
    'Hypertriglyceridemia' G1 from 1.71 mmol/L; 'Fever' G1 from 100.4 F."""
    frame = _frame(
        [
            ("BILI", 1.8, "mg/dL", np.nan, 1.2, np.nan),
            ("BILI", 1.9, "mg/dL", np.nan, 1.2, np.nan),
            ("ALT", 90, "U/L", np.nan, 40, 60),
            ("ALT", 89.9, "U/L", np.nan, 40, 60),
            ("HGB", 18.0, "g/dL", 12, 16, np.nan),
            ("HGB", 18.1, "g/dL", 12, 16, np.nan),
            ("TRIG", 1.71, "mmol/L", np.nan, np.nan, np.nan),
            ("TRIG", 1.70, "mmol/L", np.nan, np.nan, np.nan),
            ("TEMP", 100.4, "F", np.nan, np.nan, np.nan),
            ("SODIUM", 125, "mmol/L", 135, 145, np.nan),
        ]
    )
    graded = grade_labs(frame)
    assert graded["grade"].tolist() == [1, 2, 1, 0, 1, 2, 1, 0, 1, 2]
    terms, grades = _row_by_row(frame)
    assert graded["term"].tolist() == terms
    assert graded["grade"].tolist() == grades


# --- Packaging -------------------------------------------------------------------------------


def test_the_module_imports_without_django_or_pandas():
    """The grader is pure Python: importing it loads neither Django nor pandas, so it works in
    scripts and imports with no Django settings."""
    environment = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    code = (
        "import sys; import ecrf.ctcae.labs as labs; "
        "print(labs.grade_lab('ALT', 121, 'U/L', uln=40)); "
        "assert 'django' not in sys.modules, 'django'; "
        "assert 'pandas' not in sys.modules, 'pandas'"
    )
    completed = subprocess.run(
        [sys.executable, "-c", code],
        cwd=REPO_ROOT,
        env=environment,
        capture_output=True,
        text=True,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    assert "Alanine aminotransferase increased" in completed.stdout
