"""Investigator sign-off of a visit or a whole casebook (21 CFR Part 11, 11.50 and 11.70).

A signature records the password re-entered, the printed name, the UTC time and its meaning, and
is bound to a SHA-256 hash of the data signed. When the data changes later the hash no longer
matches: the signature shows as invalidated by the first change after it, until signed again.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import models, transaction
from django.utils import timezone

from .. import access
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
from .audit import as_actor, audit_value, audited_fields, write_audit
from .locking import label_of

MEANING_REVIEWED = "I have reviewed these data and they are accurate."
ONLY_SITE_INVESTIGATOR = "Only an investigator of this subject's site signs its data."
PRINTED_NAME_REQUIRED = "Type your name as it should appear on the signature."
WRONG_PASSWORD = "The password is not correct; the data was not signed."  # noqa: S105


def _rows(queryset: models.QuerySet) -> list[list]:
    model = queryset.model
    names = [f.attname for f in audited_fields(model)]
    return [
        [label_of(model), *(audit_value(value) for value in row)]
        for row in queryset.order_by("pk").values_list("pk", *names)
    ]


def _covered(target: models.Model) -> list[models.QuerySet]:
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


def signed_data_hash(target: models.Model) -> str:
    """SHA-256 of every field of every record the signature covers, in a fixed order."""
    rows = [row for queryset in _covered(target) for row in _rows(queryset)]
    canonical = json.dumps(rows, separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def _subject_of(target: models.Model) -> Subject:
    return target if isinstance(target, Subject) else target.subject


def data_sign(*, target: models.Model, by, password: str, printed_name: str) -> Signature:
    """An investigator signs a visit or a subject's whole casebook."""
    actor = as_actor(by)
    user = actor.user
    subject = _subject_of(target)
    if actor.is_system or not access.is_site_investigator(user, subject.site):
        raise PermissionDenied(ONLY_SITE_INVESTIGATOR)
    printed_name = (printed_name or "").strip()
    errors = {}
    if not printed_name:
        errors["printed_name"] = PRINTED_NAME_REQUIRED
    if not user.check_password(password or ""):
        errors["password"] = WRONG_PASSWORD
    if errors:
        raise ValidationError(errors)
    with transaction.atomic():
        signature = Signature.objects.create(
            signer=user,
            printed_name=printed_name,
            role=actor.role,
            signed_at=timezone.now(),
            meaning=MEANING_REVIEWED,
            model=label_of(target),
            object_id=str(target.pk),
            content_hash=signed_data_hash(target),
        )
        write_audit(
            record=target,
            actor=actor,
            action=f"{label_of(target).lower()}.signed",
            changes=[("signature", None, f"{printed_name}: {MEANING_REVIEWED}")],
        )
    return signature


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
            str(pk) for queryset in _covered(target) for pk in queryset.values_list("pk", flat=True)
        }
        changes = changes.filter(object_id__in=covered)
    return changes.order_by("at", "id").first()


def signature_states(target: models.Model) -> list[SignatureState]:
    """The sign-offs of a visit or casebook, oldest first, each valid or invalidated."""
    signatures = list(
        Signature.objects.filter(model=label_of(target), object_id=str(target.pk)).order_by(
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
