"""The home page's lists: the visits due or overdue by their window, the open items of lab
results and the data queries per study and site, over the subjects a user sees; kept while the
data stay the same (`memo.kept`)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from uuid import UUID

from django.utils import timezone

from ..models import Visit, VisitStatus
from .memo import kept
from .queries import open_queries_by_study_site
from .reconciliation import reconciliation_counts, ungraded_counts


def _visits_by_window(subject_ids: list[UUID], today: dt.date) -> tuple[list, list]:
    """The planned visits whose window is open today (due) and those whose window has closed
    (overdue, with the day it closed and the days since)."""
    planned = (
        Visit.objects.filter(
            subject_id__in=subject_ids,
            status=VisitStatus.PLANNED,
            entered_in_error=False,
            planned_on__isnull=False,
        )
        .select_related("subject")
        .order_by("planned_on")
    )
    due, overdue = [], []
    for visit in planned:
        opens = visit.planned_on - dt.timedelta(days=visit.window_before)
        closes = visit.planned_on + dt.timedelta(days=visit.window_after)
        if closes < today:
            visit.window_closed_on, visit.days_overdue = closes, (today - closes).days
            overdue.append(visit)
        elif opens <= today:
            due.append(visit)
    return due, overdue


def _open_items(codes: Mapping[UUID, str]) -> list[tuple]:
    """(subject code, subject id, results of grade 3 or more no adverse event explains, results
    not graded) of each subject with any, by subject code."""
    ids = list(codes)
    counts, ungraded = reconciliation_counts(ids), ungraded_counts(ids)
    return sorted(
        (codes[pk], pk, counts.get(pk, 0), ungraded.get(pk, 0))
        for pk in counts.keys() | ungraded.keys()
        if counts.get(pk) or ungraded.get(pk)
    )


def home_lists(codes: Mapping[UUID, str]) -> dict:
    """The lists of the home page over the subjects of `codes` (subject id: subject code):
    `due`, `overdue`, `open_items` and `query_overview`. Shared between requests: read them, do
    not change them."""

    def compute() -> dict:
        ids = list(codes)
        due, overdue = _visits_by_window(ids, timezone.localdate())
        return {
            "due": due,
            "overdue": overdue,
            "open_items": _open_items(codes),
            "query_overview": open_queries_by_study_site(ids),
        }

    return kept("home_lists", frozenset(codes.items()), compute)
