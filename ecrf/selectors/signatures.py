"""Electronic signatures of data (21 CFR Part 11, 11.70): what a sign-off covers, the hash it is
bound to, and whether each sign-off of a visit or casebook still holds."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

from django.db import models
from django.db.models import Q

from ..models import (
    AdverseEvent,
    AdverseEventAgent,
    AuditEvent,
    DoseAdministration,
    LabResult,
    Signature,
    Subject,
    Visit,
    VisitStatus,
)
from ..models.audit import audit_value, audited_fields


def _rows(queryset: models.QuerySet) -> list[list]:
    model = queryset.model
    names = [f.attname for f in audited_fields(model)]
    return [
        [model._meta.label, *(audit_value(value) for value in row)]
        for row in queryset.order_by("pk").values_list("pk", *names)
    ]


def covered_records(target: models.Model) -> list[models.QuerySet]:
    """The records whose data a signature of `target` covers."""
    if isinstance(target, Visit):
        return [
            Visit.objects.filter(pk=target.pk),
            DoseAdministration.objects.filter(visit=target),
            LabResult.objects.filter(visit=target),
        ]
    if isinstance(target, Subject):
        return [
            Subject.objects.filter(pk=target.pk),
            Visit.objects.filter(subject=target),
            DoseAdministration.objects.filter(subject=target),
            AdverseEvent.objects.filter(subject=target),
            AdverseEventAgent.objects.filter(adverse_event__subject=target),
            LabResult.objects.filter(subject=target),
        ]
    raise TypeError(f"{type(target).__name__} records are not signed off.")


def content_hash(content: str) -> str:
    """The hash a signature is bound to: SHA-256 of the canonical text of what is signed."""
    return hashlib.sha256(content.encode()).hexdigest()


def signed_data(target: models.Model) -> str:
    """The canonical text of every field of every record a sign-off covers, in a fixed order."""
    rows = [row for queryset in covered_records(target) for row in _rows(queryset)]
    return json.dumps(rows, separators=(",", ":"), ensure_ascii=False, default=str)


def signed_data_hash(target: models.Model) -> str:
    """The hash a sign-off of `target` is bound to (see `signed_data`)."""
    return content_hash(signed_data(target))


def _subject_of(target: models.Model) -> Subject:
    return target if isinstance(target, Subject) else target.subject


@dataclass(frozen=True)
class SignatureState:
    signature: Signature
    valid: bool
    invalidated_by: AuditEvent | None = None

    @property
    def description(self) -> str:
        signed = f"Signed by {self.signature.printed_name} on {self.signature.signed_at:%Y-%m-%d %H:%M} UTC"
        if self.valid:
            return signed
        change = self.invalidated_by
        if change is None:
            return f"{signed}; invalidated: the signed data has changed since"
        return (
            f"{signed}; invalidated by {change.actor}'s change of {change.field} on "
            f"{change.at:%Y-%m-%d %H:%M} UTC ({change.reason or 'no reason given'})"
        )


def signed_data_changes() -> models.QuerySet[AuditEvent]:
    """The audit events that change signed data: not the signature itself, nor source
    verification and lock marks, nor queries, locks and DLT assessments."""
    return AuditEvent.objects.exclude(field__in=["signature", "source_verified", "locked"]).exclude(
        model__in=["ecrf.DataQuery", "ecrf.DataLock", "ecrf.DltAssessment"]
    )


def _first_change_after(target: models.Model, signature: Signature) -> AuditEvent | None:
    subject = _subject_of(target)
    changes = signed_data_changes().filter(subject_id=subject.pk, at__gt=signature.signed_at)
    if isinstance(target, Visit):
        covered = {
            str(pk)
            for queryset in covered_records(target)
            for pk in queryset.values_list("pk", flat=True)
        }
        changes = changes.filter(object_id__in=covered)
    return changes.order_by("at", "id").first()


def signature_states(target: models.Model) -> list[SignatureState]:
    """The sign-offs of a visit or casebook, oldest first, each valid or invalidated."""
    signatures = list(
        Signature.objects.filter(model=target._meta.label, object_id=str(target.pk)).order_by(
            "signed_at"
        )
    )
    if not signatures:
        return []
    current = signed_data_hash(target)
    return [
        SignatureState(s, True)
        if s.content_hash == current
        else SignatureState(s, False, _first_change_after(target, s))
        for s in signatures
    ]


def subject_signatures(subject: Subject) -> list[dict]:
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


def signed_counts(target: models.Model) -> list[tuple[str, int]]:
    """What the signature covers, as the investigator reads it before signing."""
    if isinstance(target, Visit):
        return [
            ("Doses", target.doses.filter(entered_in_error=False).count()),
            ("Lab results", target.lab_results.filter(entered_in_error=False).count()),
        ]
    return [
        ("Visits", target.visits.filter(entered_in_error=False).count()),
        ("Doses", target.doses.filter(entered_in_error=False).count()),
        ("Adverse events", target.adverse_events.filter(entered_in_error=False).count()),
        ("Lab results", target.lab_results.filter(entered_in_error=False).count()),
    ]


NOT_SIGNED = "not signed"
CHANGED_SINCE_SIGNED = "changed since signed"


@dataclass
class AwaitingSignature:
    """One subject's data that awaits the investigator's signature: its done visits never
    signed or changed since their latest sign-off, and its casebook when treatment ended (or
    the subject is off study) and it was never signed, or was changed since."""

    subject: Subject
    visits: list[tuple[Visit, str]]
    casebook: str = ""

    @property
    def since(self):
        """The oldest date that waits: the first visit's, or the end of treatment."""
        dates = [v.done_on or v.planned_on for v, _state in self.visits]
        dates.append(self.subject.treatment_end_on or self.subject.off_study_on)
        return min((d for d in dates if d), default=None)


def _latest_signatures(keys: set[tuple[str, str]]) -> dict[tuple[str, str], object]:
    """The time of the latest sign-off of each (model label, object id) of `keys` that has one."""
    latest: dict = {}
    # The object ids are text: the visits and subjects are matched here, not by a join.
    for model, object_id, signed_at in Signature.objects.filter(
        model__in=["ecrf.Visit", "ecrf.Subject"]
    ).values_list("model", "object_id", "signed_at"):
        key = (model, object_id)
        if key in keys and (key not in latest or signed_at > latest[key]):
            latest[key] = signed_at
    return latest


def _latest_changes(subject_ids: set, since) -> dict[tuple, object]:
    """Per (subject id, model label, object id) of the subjects' records, its last change of
    signed data after `since` (`signed_data_changes`)."""
    if not subject_ids:
        return {}
    return {
        (subject_id, model, object_id): at
        for subject_id, model, object_id, at in signed_data_changes()
        .filter(subject_id__in=list(subject_ids), at__gt=since)
        .values("subject_id", "model", "object_id")
        .annotate(last=models.Max("at"))
        .order_by()
        .values_list("subject_id", "model", "object_id", "last")
    }


COVERED_BY_VISIT = {"ecrf.DoseAdministration": DoseAdministration, "ecrf.LabResult": LabResult}


def _visit_of_changes(changes: dict) -> dict[tuple[str, str], str]:
    """The visit (its id as text) of each changed dose and lab result that has one."""
    visit_of = {}
    for label, model in COVERED_BY_VISIT.items():
        ids = [object_id for _subject, kind, object_id in changes if kind == label]
        if ids:
            rows = model.objects.filter(pk__in=ids, visit__isnull=False).values_list(
                "pk", "visit_id"
            )
            visit_of.update(((label, str(pk)), str(visit_id)) for pk, visit_id in rows)
    return visit_of


def _last_changes(changes: dict) -> tuple[dict, dict]:
    """The last change of each visit's data (the visit, its doses and its lab results), by the
    visit's id as text, and of each subject's data, by subject id."""
    visit_of = _visit_of_changes(changes)
    by_visit: dict = {}
    by_subject: dict = {}
    for (subject_id, model, object_id), at in changes.items():
        visit_id = object_id if model == "ecrf.Visit" else visit_of.get((model, object_id))
        for last, key in ((by_visit, visit_id), (by_subject, subject_id)):
            if key is not None and (key not in last or at > last[key]):
                last[key] = at
    return by_visit, by_subject


def _state(signed_at, changed_at) -> str:
    """NOT_SIGNED, CHANGED_SINCE_SIGNED, or "" when the latest sign-off still holds."""
    if signed_at is None:
        return NOT_SIGNED
    if changed_at is not None and changed_at > signed_at:
        return CHANGED_SINCE_SIGNED
    return ""


def awaiting_signature(subjects) -> list[AwaitingSignature]:
    """The subjects' visits and casebooks that await an investigator's signature (see
    `AwaitingSignature`), oldest first. "Changed since signed" is read from the audit trail (a
    change of signed data after the latest sign-off, as `signature_states` explains an
    invalidated signature), so that the list costs a fixed number of queries whatever the
    number of subjects and records; the sign-off page checks the signed hash itself."""
    subjects = {s.pk: s for s in subjects}
    visits = list(
        Visit.objects.filter(
            subject_id__in=list(subjects), status=VisitStatus.DONE, entered_in_error=False
        ).order_by("done_on", "planned_on", "label")
    )
    ended = [s for s in subjects.values() if s.treatment_end_on or s.off_study_on]
    keys = {("ecrf.Visit", str(v.pk)) for v in visits} | {
        ("ecrf.Subject", str(s.pk)) for s in ended
    }
    signed = _latest_signatures(keys)
    signed_subjects = {v.subject_id for v in visits if ("ecrf.Visit", str(v.pk)) in signed}
    signed_subjects |= {s.pk for s in ended if ("ecrf.Subject", str(s.pk)) in signed}
    by_visit, by_subject = _last_changes(
        _latest_changes(signed_subjects, min(signed.values(), default=None))
    )
    rows: dict = {}
    for visit in visits:
        key = str(visit.pk)
        state = _state(signed.get(("ecrf.Visit", key)), by_visit.get(key))
        if state:
            visit.subject = subjects[visit.subject_id]
            row = rows.setdefault(visit.subject_id, AwaitingSignature(visit.subject, []))
            row.visits.append((visit, state))
    for subject in ended:
        state = _state(signed.get(("ecrf.Subject", str(subject.pk))), by_subject.get(subject.pk))
        if state:
            rows.setdefault(subject.pk, AwaitingSignature(subject, [])).casebook = state
    return sorted(
        rows.values(), key=lambda row: (row.since is None, row.since, row.subject.subject_code)
    )
