"""Edit checks on lab values: impossible values are refused, implausible ones need a reason.

Pure Python over plain values, no Django, so that forms, imports and scripts share one table.

Each (test, unit) has two ranges, both inclusive:

* the *possible* range: a value outside it cannot come from a living patient (or from a blood
  sample at all), so it is a typing or unit error and is refused;
* the *plausible* range: a value outside it is possible but rare enough in a phase I clinic that
  a unit slip ("4500" typed with 10^9/L, "4.5" with /mm3) or a misplaced decimal point is more
  likely than a true result, so it is saved only when the nurse gives a reason.

The limits are physiology and measurement, not CTCAE: a CTCAE grade 4 value is plausible. They
are set wide on purpose; a check that fires on real results teaches people to override it.
Negative values are impossible for every test: a count, a concentration, an activity, a ratio
or a body temperature cannot be below zero.

Unit conversions used to derive one unit system from another (the numbers were chosen in the
first unit named and converted, then rounded outwards so that no value moves from "possible" to
"impossible" by rounding):

* counts: 1 x 10^9/L = 1000/mm3 = 1000 cells/uL;
* haemoglobin: 1 g/dL = 10 g/L = 0.6206 mmol/L (monomer, 16.1 g/mmol);
* bilirubin: 1 mg/dL = 17.1 umol/L; creatinine: 1 mg/dL = 88.4 umol/L;
* glucose: 1 mmol/L = 18.0 mg/dL; cholesterol: 1 mmol/L = 38.67 mg/dL;
  triglycerides: 1 mmol/L = 88.57 mg/dL;
* calcium: 1 mmol/L = 4.008 mg/dL; magnesium: 1 mmol/L = 2.431 mg/dL;
* potassium and sodium are monovalent: mmol/L and mEq/L are the same number;
* albumin: 1 g/dL = 10 g/L; temperature: F = C x 9/5 + 32.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from types import MappingProxyType
from typing import Literal

__all__ = [
    "IMPLAUSIBLE",
    "IMPOSSIBLE",
    "LIMITS",
    "NEGATIVE",
    "OK",
    "Limits",
    "check_lab_value",
]

OK = "ok"
IMPLAUSIBLE = "implausible"
IMPOSSIBLE = "impossible"
Verdict = Literal["ok", "implausible", "impossible"]

NEGATIVE = "{test} cannot be negative ({value} {unit})."
NOT_A_NUMBER = "{test}: {value!r} is not a number."
OUTSIDE_POSSIBLE = (
    "{test} {value} {unit} is impossible: a patient's value lies between {low} and {high} {unit}. "
    "Check the value and the unit."
)
OUTSIDE_PLAUSIBLE = (
    "{test} {value} {unit} is outside the plausible range {low} to {high} {unit}: "
    "check the value and the unit."
)


@dataclass(frozen=True, slots=True)
class Limits:
    """Possible and plausible range of one test in one unit; None means no limit that side."""

    possible_low: Decimal | None
    possible_high: Decimal | None
    plausible_low: Decimal | None
    plausible_high: Decimal | None


def _limits(
    possible: tuple[str | None, str | None], plausible: tuple[str | None, str | None]
) -> Limits:
    def number(text: str | None) -> Decimal | None:
        return None if text is None else Decimal(text)

    return Limits(
        number(possible[0]), number(possible[1]), number(plausible[0]), number(plausible[1])
    )


def _counts(
    possible_high: str, plausible_low: str | None, plausible_high: str
) -> dict[str, Limits]:
    """The same count limits in 10^9/L, /mm3 and cells/uL (x 1000)."""

    def per_mm3(text: str | None) -> str | None:
        return None if text is None else str(Decimal(text) * 1000)

    si = _limits(("0", possible_high), (plausible_low, plausible_high))
    conventional = _limits(
        ("0", per_mm3(possible_high)), (per_mm3(plausible_low), per_mm3(plausible_high))
    )
    return {"10^9/L": si, "/mm3": conventional, "cells/uL": conventional}


# The table is laid out by hand, one unit per line, so that each number can be checked against
# the reasoning above it.
# fmt: off
_TABLE: dict[str, dict[str, Limits]] = {
    # Haemoglobin: the red cell cannot hold more than about 36-37 g/dL of haemoglobin (its
    # solubility limit, the ceiling of the MCHC), and blood with a haematocrit much above 0.70
    # no longer flows; 0.70 x 36 g/dL is about 25 g/dL, so 25 g/dL is the most a blood sample can
    # hold. Below 4 g/dL and above 20 g/dL (severe anaemia, extreme polycythaemia) are rare
    # enough in a phase I clinic to need a second look.
    "HGB": {
        "g/dL": _limits(("0", "25"), ("4", "20")),
        "g/L": _limits(("0", "250"), ("40", "200")),
        "mmol/L": _limits(("0", "15.6"), ("2.4", "12.5")),
    },
    # Leukocytes: even the hyperleukocytosis of untreated leukaemia, where the white cells make
    # up a large part of the blood volume, stays below about 1000 x 10^9/L; above 100 x 10^9/L
    # (hyperleukocytosis) or below 0.1 x 10^9/L is rare outside a leukaemia ward.
    "WBC": _counts("1000", "0.1", "100"),
    # Neutrophils and lymphocytes are a part of the leukocytes, so the leukocyte ceiling holds.
    # A neutrophil or lymphocyte count of zero is seen after chemotherapy and lymphodepletion
    # (cyclophosphamide), so there is no plausible lower limit. Above 100 (neutrophils, a
    # leukaemoid reaction) or 50 (lymphocytes, only in lymphoid leukaemia) needs a second look.
    "NEUT": _counts("1000", None, "100"),
    "LYM": _counts("1000", None, "50"),
    # Platelets: the highest counts reported in essential thrombocythaemia are a few thousand
    # x 10^9/L; 5000 is above any of them. Above 1000 x 10^9/L is extreme thrombocytosis.
    "PLAT": _counts("5000", None, "1000"),
    # Lymphocyte subsets cannot exceed the leukocyte ceiling; normal adult counts are about
    # 0.5-1.5 (CD4), 0.2-0.9 (CD8) and 0.1-0.5 (NK) x 10^9/L, so a subset above 5 (CD4, CD8) or
    # 3 (NK) x 10^9/L is most likely a value typed in cells/uL with the unit left at 10^9/L.
    "CD4": _counts("1000", None, "5"),
    "CD8": _counts("1000", None, "5"),
    "NK": _counts("1000", None, "3"),
    # Aminotransferases: ischaemic hepatitis and paracetamol poisoning give the highest values,
    # in the low tens of thousands of U/L; 100 000 U/L is beyond them. Above 5000 U/L means acute
    # liver necrosis, which a phase I outpatient is unlikely to have.
    "ALT": {"U/L": _limits(("0", "100000"), (None, "5000"))},
    "AST": {"U/L": _limits(("0", "100000"), (None, "5000"))},
    # ALP and GGT: extreme cholestasis or bone metastases give a few thousand U/L.
    "ALP": {"U/L": _limits(("0", "50000"), (None, "3000"))},
    "GGT": {"U/L": _limits(("0", "50000"), (None, "3000"))},
    # Bilirubin: values above about 50 mg/dL are exceptional even in neonatal kernicterus;
    # 100 mg/dL (1710 umol/L) is beyond them. Above 30 mg/dL (513 umol/L) needs a second look.
    "BILI": {
        "mg/dL": _limits(("0", "100"), (None, "30")),
        "umol/L": _limits(("0", "1710"), (None, "513")),
    },
    # Creatinine: the highest values, in untreated end-stage renal failure or rhabdomyolysis,
    # are a few tens of mg/dL; 50 mg/dL (4420 umol/L) is beyond them. Below 0.1 mg/dL would need
    # almost no muscle; above 15 mg/dL is dialysis territory.
    "CREAT": {
        "mg/dL": _limits(("0", "50"), ("0.1", "15")),
        "umol/L": _limits(("0", "4420"), ("8.8", "1326")),
    },
    # CK: rhabdomyolysis can pass 100 000 U/L and a few cases near 1 000 000 U/L are reported;
    # 5 000 000 U/L is beyond them.
    "CK": {"U/L": _limits(("0", "5000000"), (None, "100000"))},
    # Lipase and amylase: acute pancreatitis gives up to a few thousand U/L.
    "LIPASE": {"U/L": _limits(("0", "100000"), (None, "10000"))},
    "AMYLASE": {"U/L": _limits(("0", "100000"), (None, "10000"))},
    # INR: a ratio of clotting times; coagulometers stop reporting at about 10-20, so 30 cannot
    # be measured. Below 0.8 (blood clotting faster than normal plasma) is rare; above 10 means
    # an uncontrolled anticoagulation.
    "INR": {"ratio": _limits(("0", "30"), ("0.8", "10"))},
    # Glucose: the highest glucose survived is reported near 2650 mg/dL (147 mmol/L); 3000 mg/dL
    # (166.7 mmol/L) is beyond it. Below 20 mg/dL usually means a sample left to stand; above
    # 1000 mg/dL is a hyperosmolar coma.
    "GLUC": {
        "mg/dL": _limits(("0", "3000"), ("20", "1000")),
        "mmol/L": _limits(("0", "166.7"), ("1.1", "55.6")),
    },
    # Potassium: the heart stops long before 15 mmol/L, and values below about 1 mmol/L are
    # hardly compatible with life; a haemolysed sample can read high, so the plausible top is 9.
    "K": {
        "mmol/L": _limits(("0.5", "15"), ("2", "9")),
        "mEq/L": _limits(("0.5", "15"), ("2", "9")),
    },
    # Sodium: survivals are reported from under 100 to about 200 mmol/L, and salt poisoning has
    # given higher values; below 80 or above 250 mmol/L cannot be a living patient's.
    "SODIUM": {
        "mmol/L": _limits(("80", "250"), ("110", "170")),
        "mEq/L": _limits(("80", "250"), ("110", "170")),
    },
    # Calcium (total): the reported extremes are roughly 3 and 20 mg/dL; below 2 or above
    # 25 mg/dL cannot be a living patient's. Below 5 or above 16 mg/dL needs a second look.
    "CA": {
        "mg/dL": _limits(("2", "25"), ("5", "16")),
        "mmol/L": _limits(("0.49", "6.24"), ("1.24", "4")),
    },
    # Magnesium: cardiac arrest comes at about 12-15 mg/dL, so 25 mg/dL is beyond any survivor.
    "MG": {
        "mg/dL": _limits(("0", "25"), ("0.5", "8")),
        "mmol/L": _limits(("0", "10.3"), ("0.2", "3.3")),
    },
    # Albumin: it is part of the total protein, normally 6-8 g/dL, so 10 g/dL cannot be reached;
    # below 1 or above 6 g/dL needs a second look.
    "ALB": {
        "g/dL": _limits(("0", "10"), ("1", "6")),
        "g/L": _limits(("0", "100"), ("10", "60")),
    },
    # Cholesterol: homozygous familial hypercholesterolaemia and cholestasis (lipoprotein X)
    # give at most a few thousand mg/dL; 5000 mg/dL (129.4 mmol/L) is beyond them.
    "CHOL": {
        "mg/dL": _limits(("0", "5000"), ("50", "1000")),
        "mmol/L": _limits(("0", "129.4"), ("1.2", "25.9")),
    },
    # Triglycerides: chylomicronaemia can pass 10 000 mg/dL; 50 000 mg/dL (565 mmol/L) is beyond
    # any reported value. Above 5000 mg/dL needs a second look.
    "TRIG": {
        "mg/dL": _limits(("0", "50000"), ("20", "5000")),
        "mmol/L": _limits(("0", "565"), ("0.22", "56.5")),
    },
    # Body temperature at a study visit: below 25 C the heart fibrillates or stops and above
    # 45 C proteins denature within minutes. The rare survivals outside (deep accidental
    # hypothermia, heat stroke) are resuscitation cases, not a temperature taken at a trial
    # visit, so a value outside 25-45 C is a typing error (55 for 35, a Fahrenheit value in
    # the Celsius box). Below 34 C or above 42 C needs a second look.
    "TEMP": {
        "C": _limits(("25", "45"), ("34", "42")),
        "F": _limits(("77", "113"), ("93.2", "107.6")),
    },
}
# fmt: on

# LIMITS maps a test code to its limits per unit.
LIMITS = MappingProxyType({test: MappingProxyType(units) for test, units in _TABLE.items()})

# Other spellings of the same unit (the micro sign, the degree sign).
_UNIT_ALIASES = {
    "\u00b5mol/L": "umol/L",
    "\u03bcmol/L": "umol/L",
    "cells/\u00b5L": "cells/uL",
    "cells/\u03bcL": "cells/uL",
    "\u00b0C": "C",
    "\u00b0F": "F",
}


def _shown(number: Decimal) -> str:
    """A number as a nurse writes it: no exponent, no trailing zeros."""
    text = format(number, "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


def _range(low: Decimal | None, high: Decimal | None) -> tuple[str, str]:
    return (
        "0" if low is None else _shown(low),
        "any value" if high is None else _shown(high),
    )


def check_lab_value(test: str, value, unit: str) -> tuple[Verdict, str]:
    """Return ("ok" | "implausible" | "impossible", message) for one value of a test in a unit.

    Both ranges are inclusive: a value equal to a limit is on the inner side. A test or unit
    without limits in the table only gets the rule that no value is negative.
    """
    try:
        number = value if isinstance(value, Decimal) else Decimal(str(value))
    except (InvalidOperation, ValueError):
        return IMPOSSIBLE, NOT_A_NUMBER.format(test=test, value=value)
    if not number.is_finite():
        return IMPOSSIBLE, NOT_A_NUMBER.format(test=test, value=value)
    shown = _shown(number)
    if number < 0:
        return IMPOSSIBLE, NEGATIVE.format(test=test, value=shown, unit=unit)
    limits = LIMITS.get(test, {}).get(_UNIT_ALIASES.get(unit, unit))
    if limits is None:
        return OK, ""
    if (limits.possible_low is not None and number < limits.possible_low) or (
        limits.possible_high is not None and number > limits.possible_high
    ):
        low, high = _range(limits.possible_low, limits.possible_high)
        return IMPOSSIBLE, OUTSIDE_POSSIBLE.format(
            test=test, value=shown, unit=unit, low=low, high=high
        )
    if (limits.plausible_low is not None and number < limits.plausible_low) or (
        limits.plausible_high is not None and number > limits.plausible_high
    ):
        low, high = _range(limits.plausible_low, limits.plausible_high)
        return IMPLAUSIBLE, OUTSIDE_PLAUSIBLE.format(
            test=test, value=shown, unit=unit, low=low, high=high
        )
    return OK, ""
