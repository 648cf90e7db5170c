"""What awaits an investigator: the lists of the investigator's home page.

Each list reads the subjects the user may see, in a fixed number of queries whatever their
number (DESIGN.md, rule 3). The DLT lists are the DLT dashboard's (`dlt_overview`): the rules
are not run again here.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from ..models import AdverseEvent, DataQuery, DltAssessment, LabResult, QueryState, Study, Subject
from .dlt import KIND_POTENTIAL_DLT, KIND_UNRECONCILED_LAB, dlt_overview_today
from .queries import query_rows

# The home lists the oldest open queries; the query list has them all.
OPEN_QUERY_ROWS = 20


@dataclass
class AwaitingDecision:
    """A potential DLT undecided (pending since its onset) or a lab toxicity unreconciled
    (pending since its collection): `assessment` or `lab_result` is the record to decide on."""

    kind: str
    study: Study
    subject: Subject
    what: str
    since: dt.date
    days_pending: int
    assessment: DltAssessment | None = None
    lab_result: LabResult | None = None


def awaiting_decisions(studies, visible: set) -> list[AwaitingDecision]:
    """The potential DLTs and unreconciled lab toxicities of the subjects whose ids are in
    `visible`, over the studies' DLT overviews at today, oldest first."""
    items = []
    for study in studies:
        overview = dlt_overview_today(study)
        for item in overview.queue:
            event = item.event
            if event.subject.pk in visible:
                items.append(
                    AwaitingDecision(
                        KIND_POTENTIAL_DLT, study, event.subject,
                        f"{event.ctcae_term} grade {event.grade}", event.onset_on,
                        # As the dashboard's pending list counts it: days since onset.
                        (overview.cutoff - event.onset_on).days, assessment=item.assessment,
                    )
                )  # fmt: skip
        for lab in overview.unreconciled_labs:
            if lab.subject.pk in visible:
                items.append(
                    AwaitingDecision(
                        KIND_UNRECONCILED_LAB, study, lab.subject,
                        f"{lab.test} {lab.term} grade {lab.grade}, no adverse event",
                        lab.collected_on, lab.days_pending, lab_result=lab.result,
                    )
                )  # fmt: skip
    return sorted(items, key=lambda i: (-i.days_pending, i.subject.subject_code, i.what))


def serious_events(subjects, *, aware_since: dt.datetime) -> list[AdverseEvent]:
    """The subjects' current serious adverse events the site became aware of at or after
    `aware_since`, the longest known first (the clock counts from awareness), in one query."""
    return list(
        AdverseEvent.objects.filter(
            subject__in=subjects,
            serious=True,
            entered_in_error=False,
            site_aware_at__gte=aware_since,
        )  # fmt: skip
        .select_related("subject")
        .order_by("site_aware_at", "created_at")
    )


def open_queries(subjects, limit: int = OPEN_QUERY_ROWS) -> tuple[list[dict], int]:
    """The subjects' queries awaiting the site's answer, oldest first: the first `limit` with
    their records described (`query_rows`), and how many there are in all."""
    queries = DataQuery.objects.filter(subject__in=subjects, state=QueryState.OPEN)
    rows = query_rows(queries.select_related("subject").order_by("created_at")[:limit])
    return rows, queries.count()
