"""Oversight on pages whose views know nothing of it: the casebook panel and the query counts.

`{% oversight_panel subject %}` (casebook), `{% open_queries_overview %}` (home),
`{% open_query_counts_for page as query_counts %}` then `{% query_count_badge query_counts pk %}`
(subject list: one query for the whole page).
"""

from __future__ import annotations

from collections import defaultdict

from django import template
from django.db.models import Count, Q
from django.utils.html import format_html

from .. import access
from ..models import (
    DataLock,
    DataQuery,
    LockScope,
    QueryState,
    Signature,
    SourceVerification,
    Visit,
)
from ..services.queries import open_query_counts
from ..services.signoff import signature_states
from ..views.oversight import (
    KIND_OF_MODEL,
    describe_record,
    field_label,
    may_lock,
    may_raise_queries,
    may_sign,
    may_verify,
    records_by_key,
    verification_states,
)

register = template.Library()

# The casebook lists every record whose verification a change cleared, and the latest verified.
VERIFIED_ROWS = 20


def _kind_slug(model_label: str) -> str:
    kind = KIND_OF_MODEL.get(model_label)
    return kind.slug if kind else ""


def _queries(subject) -> list[dict]:
    queries = list(
        DataQuery.objects.filter(subject=subject)
        .select_related("raised_by")
        .prefetch_related("messages")
        .order_by("created_at", "pk")
    )
    records = records_by_key((q.model, q.object_id) for q in queries)
    return [
        {
            "query": q,
            "description": describe_record(records[(q.model, q.object_id)])
            if (q.model, q.object_id) in records
            else q.model,
            "field_label": field_label(q.model, q.field),
        }
        for q in queries
    ]


def _signatures(subject) -> list[dict]:
    """The latest sign-off of the casebook and of each signed visit, with its state."""
    visits = {str(v.pk): v for v in Visit.objects.filter(subject=subject)}
    signed = set(
        Signature.objects.filter(
            Q(model="ecrf.Subject", object_id=str(subject.pk))
            | Q(model="ecrf.Visit", object_id__in=list(visits))
        ).values_list("model", "object_id")
    )
    targets = []
    if ("ecrf.Subject", str(subject.pk)) in signed:
        targets.append(("Casebook", "subject", subject))
    for visit in sorted(
        (visits[pk] for model, pk in signed if model == "ecrf.Visit"),
        key=lambda v: (v.planned_on is None, v.planned_on, v.label),
    ):
        targets.append((f"Visit {visit.label}", "visit", visit))
    rows = []
    for what, kind, target in targets:
        states = signature_states(target)
        rows.append({"what": what, "kind": kind, "target": target, "state": states[-1],
                     "earlier": len(states) - 1})  # fmt: skip
    return rows


def _verifications(subject) -> tuple[list[dict], list[dict], int]:
    """(cleared, latest verified, number verified) over the subject's records."""
    by_model = defaultdict(set)
    for model, object_id in (
        SourceVerification.objects.filter(subject=subject)
        .values_list("model", "object_id")
        .distinct()
    ):
        by_model[model].add(object_id)
    records = records_by_key((m, pk) for m, ids in by_model.items() for pk in ids)
    cleared, verified = [], []
    for model in by_model:
        current = [r for (m, _), r in records.items() if m == model]
        for pk, state in verification_states(model, current).items():
            record = records[(model, pk)]
            if getattr(record, "entered_in_error", False):
                continue
            row = {"description": describe_record(record), "kind": _kind_slug(model), **state}
            (verified if state["valid"] else cleared).append(row)
    verified.sort(key=lambda row: row["verification"].verified_at, reverse=True)
    return cleared, verified[:VERIFIED_ROWS], len(verified)


@register.inclusion_tag("ecrf/oversight/panel.html", takes_context=True)
def oversight_panel(context, subject):
    """Queries, locks, source verification and signatures of one subject, for the casebook."""
    user = context["request"].user
    queries = _queries(subject)
    locks = list(DataLock.objects.filter(subject=subject, locked=True).select_related("locked_by"))
    targets = records_by_key((lock.model, lock.object_id) for lock in locks)
    cleared, verified, verified_total = _verifications(subject)
    counts = dict.fromkeys(QueryState.values, 0)
    for row in queries:
        counts[row["query"].state] += 1
    return {
        "subject": subject,
        "queries": [row for row in queries if row["query"].state != QueryState.CLOSED],
        "closed_queries": [row for row in queries if row["query"].state == QueryState.CLOSED],
        "counts": counts,
        "subject_lock": next((lk for lk in locks if lk.scope == LockScope.SUBJECT), None),
        "locks": [
            {
                "lock": lock,
                "description": describe_record(targets[(lock.model, lock.object_id)])
                if (lock.model, lock.object_id) in targets
                else lock.model,
            }
            for lock in locks
            if lock.scope != LockScope.SUBJECT
        ],  # fmt: skip
        "signatures": _signatures(subject),
        "cleared": cleared,
        "verified": verified,
        "verified_total": verified_total,
        "may_raise": may_raise_queries(user),
        "may_verify": may_verify(user),
        "may_lock": may_lock(user),
        "may_sign": may_sign(user, subject),
        "request": context["request"],
    }


@register.inclusion_tag("ecrf/oversight/home_queries.html", takes_context=True)
def open_queries_overview(context):
    """Open and answered queries per study and site the user sees, for the home page."""
    user = context["request"].user
    rows = (
        DataQuery.objects.filter(
            subject__in=access.subjects_for_user(user).filter(entered_in_error=False)
        )
        .exclude(state=QueryState.CLOSED)
        .values("subject__study__code", "subject__site__code")
        .annotate(
            open=Count("id", filter=Q(state=QueryState.OPEN)),
            answered=Count("id", filter=Q(state=QueryState.ANSWERED)),
        )
        .order_by("subject__study__code", "subject__site__code")
    )
    return {"rows": list(rows)}


@register.simple_tag
def open_query_counts_for(subjects) -> dict:
    """Open and answered query counts of a page of subjects, in one query."""
    return open_query_counts([subject.pk for subject in subjects])


@register.simple_tag
def query_count_badge(counts: dict, subject_id) -> str:
    row = counts.get(subject_id)
    if not row:
        return ""
    return format_html(
        '<span class="badge bg-warning text-dark" title="{} open, {} answered">{}</span>',
        row["open"],
        row["answered"],
        row["open"] + row["answered"],
    )
