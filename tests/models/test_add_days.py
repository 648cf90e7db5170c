"""`AddDays`: a date column plus N days, computed by the database (SQLite and PostgreSQL in CI),
must agree with Python's date arithmetic across month, year and leap-day boundaries."""

import datetime as dt

import pytest
from django.db.models import F

from ecrf.models import Subject
from ecrf.selectors.expressions import AddDays


@pytest.mark.parametrize(
    ("consent_on", "days"),
    [
        (dt.date(2025, 1, 31), 20),  # into February
        (dt.date(2024, 2, 9), 20),  # 2024 is a leap year: day 21 is 29 February
        (dt.date(2023, 2, 9), 20),  # 2023 is not: 1 March
        (dt.date(2025, 12, 20), 20),  # into the next year
        (dt.date(2025, 3, 1), 0),
        (dt.date(2025, 3, 1), -1),  # the day before: 28 February
        (dt.date(2025, 3, 1), 365),
    ],
)
def test_the_database_adds_days_as_python_does(subject, consent_on, days):
    # Every other date of the subject is later than these consent dates.
    Subject.objects.filter(pk=subject.pk).update(consent_on=consent_on)
    last = (
        Subject.objects.filter(pk=subject.pk)
        .annotate(last=AddDays(F("consent_on"), days))
        .values_list("last", flat=True)
        .get()
    )
    assert last == consent_on + dt.timedelta(days=days)


def test_days_must_be_a_whole_number():
    with pytest.raises(TypeError, match="days must be an int"):
        AddDays(F("consent_on"), "20 days")
