"""Oversight on pages whose views know nothing of it: the casebook panel and the query counts.

`{% oversight_panel subject %}` (casebook),
`{% open_query_counts_for page as query_counts %}` then `{% query_count_badge query_counts pk %}`
(subject list: one query for the whole page).
"""

from __future__ import annotations

from django import template
from django.utils.html import format_html

from ..access import Action, can, may_lock, may_raise_queries, may_sign, may_verify
from ..models import LockScope, QueryState
from ..selectors.queries import open_query_counts, subject_queries
from ..selectors.records import describe_key, records_by_key
from ..selectors.signatures import subject_signatures
from ..selectors.verification import active_locks, subject_verifications

register = template.Library()

# The casebook lists every record whose verification a change cleared, and the latest verified.
VERIFIED_ROWS = 20


@register.inclusion_tag("ecrf/oversight/panel.html", takes_context=True)
def oversight_panel(context, subject):
    """Queries, locks, source verification and signatures of one subject, for the casebook."""
    user = context["request"].user
    queries = subject_queries(subject)
    locks = active_locks(subject)
    targets = records_by_key((lock.model, lock.object_id) for lock in locks)
    cleared, verified, verified_total = subject_verifications(subject)
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
                "description": describe_key(targets, lock.model, lock.object_id),
            }
            for lock in locks
            if lock.scope != LockScope.SUBJECT
        ],  # fmt: skip
        "signatures": subject_signatures(subject),
        "cleared": cleared,
        "verified": verified[:VERIFIED_ROWS],
        "verified_total": verified_total,
        "may_raise": may_raise_queries(user),
        "may_verify": may_verify(user),
        "may_lock": may_lock(user),
        "may_sign": may_sign(user, subject),
        # Who changed a verified record, and why, is the audit trail's (not sponsor viewers').
        "may_read_audit": can(user, Action.READ_AUDIT, site=subject.site),
        "request": context["request"],
    }


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
