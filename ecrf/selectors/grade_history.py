"""Reads of adverse events' grade histories that pages, reports and exports share."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable
from uuid import UUID

from ..models import AdverseEvent, AdverseEventGrade

Step = tuple[dt.date, int]


def grade_histories(event_ids: Iterable[UUID]) -> dict[UUID, list[Step]]:
    """The current grade history of each event, by date, in one query; an event without
    history is absent (it was at its grade from onset to resolution)."""
    rows = (
        AdverseEventGrade.objects.filter(
            adverse_event_id__in=list(event_ids), entered_in_error=False
        )
        .order_by("adverse_event_id", "from_on")
        .values_list("adverse_event_id", "from_on", "grade")
    )
    histories: dict[UUID, list[Step]] = defaultdict(list)
    for event_id, from_on, grade in rows:
        histories[event_id].append((from_on, grade))
    return dict(histories)


def grade_history_of(event: AdverseEvent) -> list[Step]:
    """One event's current grade history, by date (empty: one grade throughout)."""
    return grade_histories([event.pk]).get(event.pk, [])
