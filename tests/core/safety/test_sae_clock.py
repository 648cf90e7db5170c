"""The SAE reporting clock: ICH E2A (III.A) and ICH E6(R2) 4.11.1, to the sponsor within 24
hours of the site becoming aware of the serious event; overdue only once 24 hours have passed."""

import datetime as dt

import pytest

from ecrf.safety.sae_clock import SAE_REPORTING_HOURS, sae_report_due, sae_report_overdue

AWARE = dt.datetime(2026, 3, 14, 9, 30, tzinfo=dt.UTC)


def test_the_report_is_due_24_hours_after_awareness():
    assert SAE_REPORTING_HOURS == 24
    assert sae_report_due(AWARE) == dt.datetime(2026, 3, 15, 9, 30, tzinfo=dt.UTC)


@pytest.mark.parametrize(
    ("since_awareness", "overdue"),
    [
        (dt.timedelta(0), False),
        (dt.timedelta(hours=23, minutes=59), False),
        (dt.timedelta(hours=24), False),
        (dt.timedelta(hours=24, seconds=1), True),
        (dt.timedelta(hours=24, minutes=1), True),
    ],
)
def test_the_report_is_overdue_only_after_24_hours(since_awareness, overdue):
    assert sae_report_overdue(AWARE, AWARE + since_awareness) is overdue
