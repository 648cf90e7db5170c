"""Consistency checks across the forms, for one subject or a whole study at a cutoff.

The checks are pure (`ecrf.safety.consistency`); this module loads their plain values for any
number of subjects in at most five queries (DESIGN.md, rule 3): subjects, adverse events,
their agent rows, doses and the lab results of the terms the checks read. Nothing entered in error counts.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict

from django.utils import timezone

from ..models import AdverseEvent, AdverseEventAgent, DoseAdministration, LabResult, Study, Subject
from ..safety.consistency import (
    DOSE_CHANGING_ACTIONS,
    LAB_TERM_TESTS,
    RELATED,
    AssessmentFacts,
    DoseFacts,
    EventFacts,
    Finding,
    LabFacts,
    SubjectFacts,
    subject_findings,
)
from ..safety.reconciliation import EventSpan


def findings_for(
    subjects: list[Subject], cutoff: dt.date | None = None, *, event_spans: dict | None = None
) -> list[Finding]:
    """Every finding of the subjects (records up to `cutoff` when given), by subject code.

    At most four queries whatever the number of subjects: the doses are read only when an event
    is related to an agent or changed one, the lab results only of the tests of the events'
    lab terms. A sync runs this on every save, so rows come as plain tuples in no order.
    `event_spans`, when given, is filled with each subject id's events as the lab-AE
    reconciliation reads them (EventSpan), from the same query.
    """
    if not subjects:
        return []
    ids = [subject.pk for subject in subjects]
    events = AdverseEvent.objects.filter(subject_id__in=ids, entered_in_error=False)
    assessments = AdverseEventAgent.objects.filter(
        adverse_event__subject_id__in=ids,
        adverse_event__entered_in_error=False,
        entered_in_error=False,
    )
    doses = DoseAdministration.objects.filter(subject_id__in=ids, entered_in_error=False)
    labs = LabResult.objects.filter(subject_id__in=ids, entered_in_error=False)
    if cutoff is not None:
        events = events.filter(onset_on__lte=cutoff)
        assessments = assessments.filter(adverse_event__onset_on__lte=cutoff)
        doses = doses.filter(given_on__lte=cutoff)
        day_after = timezone.make_aware(
            dt.datetime.combine(cutoff + dt.timedelta(days=1), dt.time())
        )
        labs = labs.filter(collected_at__lt=day_after)

    def known(day: dt.date | None) -> dt.date | None:
        """A date after the cutoff is not known at the cutoff."""
        return None if day is None or (cutoff is not None and day > cutoff) else day

    per_subject: dict = defaultdict(lambda: ([], [], [], []))
    event_subject = {}
    tests = set()
    for pk, subject_id, term, grade, onset, resolved in events.order_by().values_list(
        "pk", "subject_id", "ctcae_term", "grade", "onset_on", "resolved_on"
    ):
        event_subject[pk] = subject_id
        per_subject[subject_id][0].append(EventFacts(pk, term, grade, onset, known(resolved)))
        if event_spans is not None:
            event_spans.setdefault(subject_id, []).append(EventSpan(term, onset, resolved))
        if term in LAB_TERM_TESTS:
            tests.add(LAB_TERM_TESTS[term])
    if not event_subject:
        return []
    read_doses = False
    for pk, event_id, agent, attribution, action in assessments.order_by().values_list(
        "pk", "adverse_event_id", "agent__code", "attribution", "action_taken"
    ):
        if event_id in event_subject:
            per_subject[event_subject[event_id]][1].append(
                AssessmentFacts(pk, event_id, agent, attribution, action)
            )
            read_doses |= attribution in RELATED or action in DOSE_CHANGING_ACTIONS
    if read_doses:
        for subject_id, agent, given_on, planned, given in doses.order_by().values_list(
            "subject_id", "agent__code", "given_on", "planned_dose", "given_dose"
        ):
            per_subject[subject_id][2].append(DoseFacts(agent, given_on, planned, given))
    if tests:
        zone = timezone.get_current_timezone()
        for row in labs.filter(test_code__in=sorted(tests)).order_by().values_list(
            "subject_id", "test_code", "ctcae_term", "ctcae_grade", "value", "unit", "lln", "uln",
            "collected_at",
        ):  # fmt: skip
            subject_id, test, term, grade, value, unit, lln, uln, collected_at = row
            per_subject[subject_id][3].append(
                LabFacts(
                    None, test, term, grade, value, unit, lln, uln,
                    collected_at.astimezone(zone).date(),
                )
            )  # fmt: skip
    findings = []
    for subject in sorted(subjects, key=lambda s: s.subject_code):
        facts = SubjectFacts(subject.pk, subject.subject_code, subject.sex, subject.birth_year)
        findings.extend(subject_findings(facts, *per_subject.get(subject.pk, ([], [], [], []))))
    return findings


def subject_consistency_findings(
    subject: Subject, *, event_spans: dict | None = None
) -> list[Finding]:
    """One subject's findings, on everything recorded so far. At most four queries.
    `event_spans`: as for `findings_for`."""
    return findings_for([subject], event_spans=event_spans)


def study_consistency_findings(study: Study, cutoff: dt.date) -> list[Finding]:
    """The findings of every subject of the study on the data up to the cutoff. At most five
    queries."""
    subjects = list(
        Subject.objects.filter(study=study, entered_in_error=False, consent_on__lte=cutoff)
    )
    return findings_for(subjects, cutoff)


def consistency_rows(study: Study, cutoff: dt.date) -> list[dict]:
    """The findings of the study at the cutoff as rows of the safety summary: ``subject_id``
    (the subject's study ID, as in the summary's other tables), ``check`` and ``detail``."""
    return [
        {"subject_id": f.subject_code, "check": f.check, "detail": f.detail}
        for f in study_consistency_findings(study, cutoff)
    ]
