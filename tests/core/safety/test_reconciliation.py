"""Lab-AE reconciliation: a grade 3 or more lab result needs an AE of its term within 7 days."""

import datetime as dt

import pytest

from ecrf.safety.reconciliation import EventSpan, LabFinding, unreconciled_findings

SAMPLE_DAY = dt.date(2026, 3, 15)


def _finding(grade=3, term="Alanine aminotransferase increased"):
    return LabFinding("r1", "ALT", term, grade, SAMPLE_DAY)


def _event(onset_offset, resolved_offset=None, term="Alanine aminotransferase increased"):
    resolved = None if resolved_offset is None else SAMPLE_DAY + dt.timedelta(resolved_offset)
    return EventSpan(term, SAMPLE_DAY + dt.timedelta(days=onset_offset), resolved)


@pytest.mark.parametrize(
    ("grade", "listed"),
    [(2, False), (3, True), (4, True)],
)
def test_only_grade_3_or_more_without_an_event_is_listed(grade, listed):
    assert bool(unreconciled_findings([_finding(grade)], [])) is listed


@pytest.mark.parametrize(
    ("onset_offset", "resolved_offset", "listed"),
    [
        (-7, -7, False),  # onset exactly 7 days before the sample
        (7, None, False),  # onset exactly 7 days after
        (8, None, True),  # onset 8 days after: too late
        (-8, -8, True),  # onset 8 days before and resolved then: too early
        (-30, None, False),  # ongoing at the sample
        (-30, 0, False),  # resolved on the day of the sample
        (-30, -1, True),  # resolved the day before the sample, onset long before
    ],
)
def test_the_seven_day_window_and_ongoing_events(onset_offset, resolved_offset, listed):
    result = unreconciled_findings([_finding()], [_event(onset_offset, resolved_offset)])
    assert bool(result) is listed


def test_an_event_of_another_term_does_not_reconcile():
    assert unreconciled_findings([_finding()], [_event(0, term="Fatigue")]) == [_finding()]
