"""A dose far above the plan (ecrf/safety/dose_plan.py; issue #21 item 4: "a dose far above the
plan (study setting, default > 110 % of planned)"): strictly above the limit, compared exactly."""

from decimal import Decimal

import pytest

from ecrf.safety.dose_plan import dose_above_plan

D = Decimal


@pytest.mark.parametrize(
    ("given", "planned", "limit", "pct"),
    [
        ("6", "6", 110, None),  # as planned
        ("3", "6", 110, None),  # reduced
        ("6.6", "6", 110, None),  # 110 % exactly: not above
        ("6.601", "6", 110, D("110.0")),  # just above; reads as 110.0 %, still flagged
        ("6.61", "6", 110, D("110.2")),
        ("60", "6", 110, D("1000.0")),  # the IL-2 case
        ("440", "400", 110, None),  # imatinib 110 %
        ("441", "400", 110, D("110.3")),
        ("9", "6", 150, None),  # a study allowing 150 %
        ("9.001", "6", 150, D("150.0")),
        ("6.001", "6", 100, D("100.0")),  # 100: any dose above the plan
        ("0", "0", 110, None),  # nothing planned, nothing given
    ],
)
def test_a_dose_is_above_the_plan_only_beyond_the_limit(given, planned, limit, pct):
    found = dose_above_plan(given=D(given), planned=D(planned), unit="MIU", limit_pct=limit)
    assert (found.pct if found else None) == pct


def test_a_dose_where_none_is_planned_is_above_the_plan_with_no_percentage():
    found = dose_above_plan(given=D(3), planned=D(0), unit="MIU", limit_pct=110)
    assert found is not None and found.pct is None
    assert found.describe() == "3 MIU given, 0 planned (none planned)"


def test_it_describes_the_dose_as_the_dlt_pages_show_it():
    found = dose_above_plan(given=D("60.000"), planned=D("6.000"), unit="MIU", limit_pct=110)
    assert found.describe() == "60 MIU given, 6 planned (1000 %)"
