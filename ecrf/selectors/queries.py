"""Data query reads: counts per subject, per study and site, per record, and a subject's list."""

from __future__ import annotations

from django.db.models import Count, Q

from ..models import DataQuery, QueryState
from .records import describe_key, field_label, records_by_key

NOT_CLOSED = ~Q(state=QueryState.CLOSED)
COUNT_OPEN = Count("id", filter=Q(state=QueryState.OPEN))
COUNT_ANSWERED = Count("id", filter=Q(state=QueryState.ANSWERED))


def open_query_counts(subjects) -> dict:
    """Open (not yet answered) and answered query counts per subject id, in one query."""
    rows = (
        DataQuery.objects.filter(NOT_CLOSED, subject__in=subjects)
        .values("subject_id")
        .annotate(open=COUNT_OPEN, answered=COUNT_ANSWERED)
    )
    return {row["subject_id"]: {"open": row["open"], "answered": row["answered"]} for row in rows}


def open_queries_by_study_site(subjects) -> list[dict]:
    """Open and answered queries per study and site of the subjects (a queryset, or ids), in
    one query."""
    rows = (
        DataQuery.objects.filter(NOT_CLOSED, subject__in=subjects)
        .values("subject__study__code", "subject__site__code")
        .annotate(open=COUNT_OPEN, answered=COUNT_ANSWERED)
        .order_by("subject__study__code", "subject__site__code")
    )
    return list(rows)


def open_queries_per_record(subject, label: str, object_ids: list[str]) -> dict[str, int]:
    """Per record id of one model, how many of its queries are not closed, in one query."""
    return dict(
        DataQuery.objects.filter(NOT_CLOSED, subject=subject, model=label, object_id__in=object_ids)
        .values("object_id")
        .annotate(n=Count("id"))
        .values_list("object_id", "n")
    )


def open_query_total(subject) -> int:
    return DataQuery.objects.filter(NOT_CLOSED, subject=subject).count()


def query_rows(queries) -> list[dict]:
    """Each query with a description of its record and the label of its field."""
    queries = list(queries)
    records = records_by_key((q.model, q.object_id) for q in queries)
    return [
        {
            "query": q,
            "description": describe_key(records, q.model, q.object_id),
            "field_label": field_label(q.model, q.field),
        }
        for q in queries
    ]


def subject_queries(subject) -> list[dict]:
    """Every query of a subject with its thread, oldest first (see `query_rows`)."""
    return query_rows(
        DataQuery.objects.filter(subject=subject)
        .select_related("raised_by")
        .prefetch_related("messages")
        .order_by("created_at", "pk")
    )
