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


def _first_change_after(target: models.Model, signature: Signature) -> AuditEvent | None:
    subject = _subject_of(target)
    changes = AuditEvent.objects.filter(subject_id=subject.pk, at__gt=signature.signed_at).exclude(
        field__in=["signature", "source_verified", "locked"]
    )
    changes = changes.exclude(model__in=["ecrf.DataQuery", "ecrf.DataLock", "ecrf.DltAssessment"])
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
