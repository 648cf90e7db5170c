"""The open items of lab results: the results of grade 3 or more that no adverse event explains
(lab-AE reconciliation), and the results of a test CTCAE grades that could not be graded.

The matching rule is pure (`ecrf.safety.reconciliation`); this module loads what it needs for
any number of subjects in two queries (DESIGN.md, rule 3).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from django.db.models import Count

from ..ctcae.labs import LAB_TESTS, GradingError, grade_lab
from ..models import AdverseEvent, LabResult, Subject
from ..safety.reconciliation import (
    RECONCILIATION_MIN_GRADE,
    EventSpan,
    LabFinding,
    unreconciled_findings,
)


def _event_spans(subject_ids: Iterable) -> dict:
    """Each subject's current adverse events as spans, in one query."""
    spans: dict = defaultdict(list)
    for subject_id, term, onset, resolved in AdverseEvent.objects.filter(
        subject_id__in=list(subject_ids), entered_in_error=False
    ).values_list("subject_id", "ctcae_term", "onset_on", "resolved_on"):
        spans[subject_id].append(EventSpan(term, onset, resolved))
    return spans


def _unreconciled(findings: dict, event_spans: dict | None = None) -> dict:
    """Per subject id, its findings that no event explains (subjects with none are left out).
    `event_spans`: the subjects' events as spans when the caller has read them."""
    events = _event_spans(findings) if event_spans is None else event_spans
    found = {
        subject_id: unreconciled_findings(items, events.get(subject_id, []))
        for subject_id, items in findings.items()
    }
    return {subject_id: items for subject_id, items in found.items() if items}


def _high_grade(subjects) -> dict:
    return {
        "subject__in": subjects,
        "entered_in_error": False,
        "ctcae_grade__gte": RECONCILIATION_MIN_GRADE,
    }


def reconciliation_items(subjects, *, event_spans: dict | None = None) -> dict:
    """Per subject id, its results of grade 3 or more with no adverse event of their CTCAE term
    within 7 days, in the results' usual order; subjects with none are left out. Two queries,
    one when `event_spans` gives every subject's current events as spans (see
    `consistency.findings_for`).

    `subjects` is a queryset, or a list of subjects or subject ids.
    """
    results = {}
    findings: dict = defaultdict(list)
    for result in LabResult.objects.filter(**_high_grade(subjects)):
        results[result.pk] = result
        findings[result.subject_id].append(
            LabFinding(result.pk, result.test_code, result.ctcae_term, result.ctcae_grade,
                       result.collected_at.date())
        )  # fmt: skip
    # A subject passed in as a record is set on its results, so reading it costs no query.
    known = (
        {s.pk: s for s in subjects if isinstance(s, Subject)} if isinstance(subjects, list) else {}
    )
    items = {}
    for subject_id, unexplained in _unreconciled(findings, event_spans).items():
        items[subject_id] = [results[f.result_id] for f in unexplained]
        if subject_id in known:
            for result in items[subject_id]:
                result.subject = known[subject_id]
    return items


def reconciliation_counts(subjects) -> dict:
    """Per subject id, how many reconciliation items it has (see `reconciliation_items`); reads
    plain values only, for lists of many subjects. Two queries."""
    findings: dict = defaultdict(list)
    for pk, subject_id, test, term, grade, collected_at in LabResult.objects.filter(
        **_high_grade(subjects)
    ).values_list("pk", "subject_id", "test_code", "ctcae_term", "ctcae_grade", "collected_at"):
        findings[subject_id].append(LabFinding(pk, test, term, grade, collected_at.date()))
    return {subject_id: len(items) for subject_id, items in _unreconciled(findings).items()}


def subject_reconciliation_items(
    subject: Subject, *, event_spans: dict | None = None
) -> list[LabResult]:
    """One subject's reconciliation items (see `reconciliation_items`)."""
    return reconciliation_items([subject], event_spans=event_spans).get(subject.pk, [])


# A result left ungraded although the grader now grades it (a rule of the grader changed since).
GRADE_OUT_OF_DATE = "its grade was not computed when it was saved; save it again to grade it."


@dataclass(frozen=True)
class UngradedResult:
    """A result of a test CTCAE grades that has no grade, and why (the grader's message)."""

    result: LabResult
    reason: str


def not_graded_reason(result: LabResult) -> str | None:
    """Why a result of a test CTCAE grades has no grade, in the grader's words; None when it
    has one or its test is not graded by CTCAE (CD8, NK).

    The reason is not stored: the grader gives it again from the result's own value, unit and
    limits, the inputs a missing limit or an unknown unit is about (a baseline never makes a
    result gradable that lacks a limit).
    """
    if result.ctcae_grade is not None or result.test_code not in LAB_TESTS:
        return None
    try:
        grade_lab(result.test_code, result.value, result.unit, lln=result.lln, uln=result.uln)
    except GradingError as exc:
        return str(exc)
    return GRADE_OUT_OF_DATE


def _ungraded(subjects) -> dict:
    return {
        "subject__in": subjects,
        "entered_in_error": False,
        "ctcae_grade__isnull": True,
        "test_code__in": sorted(LAB_TESTS),
    }


def ungraded_items(subjects) -> dict:
    """Per subject id, its results of a test CTCAE grades that have no grade, with why, in the
    results' usual order; subjects with none are left out. One query.

    `subjects` is a queryset, or a list of subjects or subject ids.
    """
    items: dict = defaultdict(list)
    for result in LabResult.objects.filter(**_ungraded(subjects)):
        items[result.subject_id].append(UngradedResult(result, not_graded_reason(result) or ""))
    return dict(items)


def ungraded_counts(subjects) -> dict:
    """Per subject id, how many results could not be graded (see `ungraded_items`). One query."""
    rows = (
        LabResult.objects.filter(**_ungraded(subjects))
        .order_by()
        .values_list("subject_id")
        .annotate(n=Count("pk"))
    )
    return dict(rows)


def subject_ungraded_items(subject: Subject) -> list[UngradedResult]:
    """One subject's results that could not be graded (see `ungraded_items`)."""
    return ungraded_items([subject]).get(subject.pk, [])
