"""Impossible lab values are refused and implausible ones flagged, at their exact limits."""

from decimal import Decimal

import pytest

from ecrf.ctcae.labs import LAB_TESTS
from ecrf.safety.plausibility import (
    IMPLAUSIBLE,
    IMPOSSIBLE,
    LIMITS,
    OK,
    check_lab_value,
)


def test_a_haemoglobin_of_40_g_per_dl_is_impossible():
    verdict, message = check_lab_value("HGB", Decimal(40), "g/dL")
    assert verdict == IMPOSSIBLE
    assert message == (
        "HGB 40 g/dL is impossible: a patient's value lies between 0 and 25 g/dL. "
        "Check the value and the unit."
    )


def test_a_body_temperature_of_55_c_is_impossible():
    verdict, message = check_lab_value("TEMP", 55, "C")
    assert verdict == IMPOSSIBLE
    assert "between 25 and 45 C" in message


@pytest.mark.parametrize(
    ("test", "unit", "value", "verdict"),
    [
        # Haemoglobin g/dL: possible 0-25, plausible 4-20.
        ("HGB", "g/dL", "25", IMPLAUSIBLE),
        ("HGB", "g/dL", "25.01", IMPOSSIBLE),
        ("HGB", "g/dL", "20", OK),
        ("HGB", "g/dL", "20.1", IMPLAUSIBLE),
        ("HGB", "g/dL", "4", OK),
        ("HGB", "g/dL", "3.9", IMPLAUSIBLE),
        ("HGB", "g/dL", "0", IMPLAUSIBLE),
        ("HGB", "g/dL", "-0.1", IMPOSSIBLE),
        # The same limits in g/L.
        ("HGB", "g/L", "250", IMPLAUSIBLE),
        ("HGB", "g/L", "251", IMPOSSIBLE),
        ("HGB", "g/L", "135", OK),
        # Temperature C: possible 25-45, plausible 34-42.
        ("TEMP", "C", "25", IMPLAUSIBLE),
        ("TEMP", "C", "24.9", IMPOSSIBLE),
        ("TEMP", "C", "45", IMPLAUSIBLE),
        ("TEMP", "C", "45.1", IMPOSSIBLE),
        ("TEMP", "C", "34", OK),
        ("TEMP", "C", "33.9", IMPLAUSIBLE),
        ("TEMP", "C", "42", OK),
        ("TEMP", "C", "42.1", IMPLAUSIBLE),
        # Temperature F: 77-113 possible (25-45 C), 93.2-107.6 plausible (34-42 C).
        ("TEMP", "F", "113", IMPLAUSIBLE),
        ("TEMP", "F", "113.1", IMPOSSIBLE),
        ("TEMP", "F", "76.9", IMPOSSIBLE),
        ("TEMP", "F", "98.6", OK),
        # A Fahrenheit reading typed into the Celsius box.
        ("TEMP", "C", "98.6", IMPOSSIBLE),
        # Counts: leukocytes 0-1000 x 10^9/L possible, 0.1-100 plausible; x 1000 per mm3.
        ("WBC", "10^9/L", "1000", IMPLAUSIBLE),
        ("WBC", "10^9/L", "1000.1", IMPOSSIBLE),
        ("WBC", "10^9/L", "100", OK),
        ("WBC", "10^9/L", "100.1", IMPLAUSIBLE),
        ("WBC", "/mm3", "4500", OK),
        ("WBC", "/mm3", "4.5", IMPLAUSIBLE),
        ("WBC", "10^9/L", "4500", IMPOSSIBLE),
        ("NEUT", "cells/uL", "0", OK),
        ("CD8", "10^9/L", "5", OK),
        ("CD8", "10^9/L", "450", IMPLAUSIBLE),
        ("NK", "cells/uL", "300", OK),
        # Chemistry.
        ("ALT", "U/L", "130", OK),
        ("ALT", "U/L", "5001", IMPLAUSIBLE),
        ("ALT", "U/L", "100001", IMPOSSIBLE),
        ("K", "mmol/L", "0.4", IMPOSSIBLE),
        ("K", "mmol/L", "0.5", IMPLAUSIBLE),
        ("SODIUM", "mmol/L", "140", OK),
        ("SODIUM", "mmol/L", "79", IMPOSSIBLE),
    ],
)
def test_each_limit_is_inclusive_and_a_value_just_beyond_it_changes_the_verdict(
    test, unit, value, verdict
):
    assert check_lab_value(test, Decimal(value), unit)[0] == verdict


@pytest.mark.parametrize("test", sorted(LIMITS))
def test_a_negative_value_is_impossible_for_every_test(test):
    for unit in LIMITS[test]:
        verdict, message = check_lab_value(test, Decimal("-1"), unit)
        assert verdict == IMPOSSIBLE, (test, unit)
        assert message


def test_a_test_without_limits_only_refuses_negative_values():
    assert check_lab_value("XYZ", 10**9, "U/L") == (OK, "")
    assert check_lab_value("XYZ", -1, "U/L")[0] == IMPOSSIBLE


def test_the_micro_and_degree_signs_are_the_same_units():
    assert check_lab_value("TEMP", 55, "\u00b0C")[0] == IMPOSSIBLE
    assert check_lab_value("BILI", 2000, "\u00b5mol/L")[0] == IMPOSSIBLE


def test_text_that_is_not_a_number_is_refused():
    assert check_lab_value("HGB", "twelve", "g/dL")[0] == IMPOSSIBLE
    assert check_lab_value("HGB", float("nan"), "g/dL")[0] == IMPOSSIBLE


def test_floats_are_checked_by_their_decimal_text():
    assert check_lab_value("HGB", 25.0, "g/dL")[0] == IMPLAUSIBLE
    assert check_lab_value("HGB", 25.01, "g/dL")[0] == IMPOSSIBLE


def test_every_unit_the_grader_accepts_has_limits():
    """A unit without limits would silently skip the check."""
    for code, test in LAB_TESTS.items():
        assert set(test.units) <= set(LIMITS[code]), code


@pytest.mark.parametrize("test", sorted(LIMITS))
def test_the_plausible_range_lies_inside_the_possible_range(test):
    for unit, limits in LIMITS[test].items():
        low = limits.plausible_low if limits.plausible_low is not None else Decimal(0)
        assert limits.possible_low is None or limits.possible_low <= low, (test, unit)
        assert limits.plausible_high <= limits.possible_high, (test, unit)


def test_the_module_does_not_import_django():
    import ast
    from pathlib import Path

    import ecrf.safety.plausibility as module

    tree = ast.parse(Path(module.__file__).read_text())
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            imported.add(node.module.split(".")[0])
    assert "django" not in imported
