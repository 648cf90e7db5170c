"""Lab-AE reconciliation: a high-grade lab abnormality should have a matching adverse event.

Pure functions over plain values, no ORM.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass

RECONCILIATION_MIN_GRADE = 3
RECONCILIATION_WINDOW_DAYS = 7


@dataclass(frozen=True)
class LabFinding:
    result_id: object
    test_code: str
    term: str
    grade: int
    collected_on: dt.date


@dataclass(frozen=True)
class EventSpan:
    term: str
    onset_on: dt.date
    resolved_on: dt.date | None


def _matches(finding: LabFinding, event: EventSpan, window_days: int) -> bool:
    if event.term != finding.term:
        return False
    window = dt.timedelta(days=window_days)
    if abs(event.onset_on - finding.collected_on) <= window:
        return True
    # An event that was already going on when the sample was taken covers it too.
    return event.onset_on <= finding.collected_on and (
        event.resolved_on is None or event.resolved_on >= finding.collected_on
    )


def unreconciled_findings(
    findings: Iterable[LabFinding],
    events: Iterable[EventSpan],
    *,
    min_grade: int = RECONCILIATION_MIN_GRADE,
    window_days: int = RECONCILIATION_WINDOW_DAYS,
) -> list[LabFinding]:
    """Lab results of grade `min_grade` or more with no adverse event of the same CTCAE term
    whose onset lies within `window_days` of the sample (before or after), nor ongoing then."""
    events = list(events)
    return [
        finding
        for finding in findings
        if finding.grade >= min_grade
        and not any(_matches(finding, event, window_days) for event in events)
    ]
