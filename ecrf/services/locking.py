"""Source data verification and locks: what a monitor has checked and what nobody may change.

A lock covers a form (one record, with its per-agent rows for an adverse event), a visit (the
visit and the doses and lab results recorded at it) or a whole subject. Every write of clinical
data goes through `ensure_not_locked` in the record service, so a lock holds for forms, admin,
imports and commands alike.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import models, transaction
from django.db.models import Q
from django.utils import timezone

from ..access import Action, ensure_can
from ..models import (
    AdverseEventAgent,
    AdverseEventGrade,
    ClinicalRecord,
    DataLock,
    LockScope,
    SourceVerification,
    Subject,
    Visit,
)
from ..models.limits import TEXT_MAX
from ..selectors.verification import verification_of
from .audit import Actor, as_actor, subject_of, write_audit
from .errors import invalid

RECORD_LOCKED = "This {what} is locked by {who} since {when} UTC; it cannot be changed."
ALREADY_LOCKED = "This {what} is already locked."
NOT_LOCKED = "This lock has already been lifted."
REASON_TOO_LONG = "Keep the reason to {limit} characters (it has {length})."
UNLOCK_REASON_REQUIRED = "Give a reason for unlocking."
ONLY_DATA_MANAGERS_LOCK = "Only data managers lock and unlock data."
ONLY_MONITORS_VERIFY = "Only monitors assigned to this site mark data as source-verified."


class RecordLocked(ValidationError):
    """The data is locked; nothing was written."""


def label_of(record: models.Model) -> str:
    return record._meta.label


def _covering_locks(record: models.Model) -> Q:
    """The locks that would cover `record`: its own, its visit's, its subject's."""
    subject = subject_of(record)
    covering = Q(scope=LockScope.SUBJECT, subject=subject)
    # An agent row (attribution, action taken) and a step of the grade history belong to their
    # adverse event's form.
    part_of_event = isinstance(record, AdverseEventAgent | AdverseEventGrade)
    own = record.adverse_event if part_of_event else record
    if own.pk is not None:
        covering |= Q(model=label_of(own), object_id=str(own.pk))
    visit_id = record.pk if isinstance(record, Visit) else getattr(record, "visit_id", None)
    if visit_id is not None:
        covering |= Q(scope=LockScope.VISIT, object_id=str(visit_id))
    return covering


def active_lock(record: models.Model) -> DataLock | None:
    if not isinstance(record, ClinicalRecord) or subject_of(record) is None:
        return None
    return (
        DataLock.objects.filter(_covering_locks(record), locked=True)
        .select_related("locked_by")
        .first()
    )


def ensure_not_locked(record: models.Model) -> None:
    """Refuse any change to clinical data that a lock covers (new records of a locked visit or
    subject included)."""
    lock = active_lock(record)
    if lock is not None:
        raise RecordLocked(
            RECORD_LOCKED.format(
                what=lock.get_scope_display().lower(),
                who=lock.locked_by.get_username(),
                when=f"{lock.locked_at:%Y-%m-%d %H:%M}",
            ),
            code="locked",
        )


def _ensure_may(actor: Actor, subject: Subject, action: Action, message: str) -> None:
    """Commands of the installation may; a user only as access.CAPABILITIES says."""
    if not actor.is_system:
        ensure_can(actor.user, action, site=subject.site, message=message)


def _lock_target(target: models.Model) -> tuple[str, Subject]:
    if isinstance(target, Subject):
        return LockScope.SUBJECT, target
    if isinstance(target, Visit):
        return LockScope.VISIT, target.subject
    return LockScope.RECORD, subject_of(target)


def lock_place(*, target: models.Model, by) -> DataLock:
    """Lock a subject, a visit or one form."""
    actor = as_actor(by)
    scope, subject = _lock_target(target)
    _ensure_may(actor, subject, Action.LOCK_DATA, ONLY_DATA_MANAGERS_LOCK)
    with transaction.atomic(durable=True):
        if DataLock.objects.filter(
            model=label_of(target), object_id=str(target.pk), locked=True
        ).exists():
            raise ValidationError(
                ALREADY_LOCKED.format(what=LockScope(scope).label.lower()), code="already_locked"
            )
        lock = DataLock.objects.create(
            subject=subject,
            scope=scope,
            model=label_of(target),
            object_id=str(target.pk),
            locked_by=actor.user,
            locked_at=timezone.now(),
        )
        write_audit(
            record=target,
            actor=actor,
            action="ecrf.datalock.locked",
            changes=[("locked", "no", "yes")],
            reason=f"{lock.get_scope_display()} locked",
        )
    return lock


def lock_remove(*, lock: DataLock, reason: str, by) -> DataLock:
    """Lift a lock; the reason is kept in the audit trail."""
    actor = as_actor(by)
    _ensure_may(actor, lock.subject, Action.LOCK_DATA, ONLY_DATA_MANAGERS_LOCK)
    reason = (reason or "").strip()
    if not reason:
        raise invalid("reason", UNLOCK_REASON_REQUIRED, "reason_required")
    if len(reason) > TEXT_MAX:
        raise invalid(
            "reason", REASON_TOO_LONG.format(limit=TEXT_MAX, length=len(reason)), "too_long"
        )
    now = timezone.now()
    with transaction.atomic(durable=True):
        written = DataLock.objects.filter(pk=lock.pk, locked=True).update(
            locked=False,
            unlocked_by=actor.user,
            unlocked_at=now,
            unlock_reason=reason,
            version=models.F("version") + 1,
            updated_at=now,
        )
        if written != 1:
            raise ValidationError(NOT_LOCKED, code="not_locked")
        lock.refresh_from_db()
        write_audit(
            record=lock,
            actor=actor,
            action="ecrf.datalock.unlocked",
            changes=[("locked", "yes", "no")],
            reason=reason,
        )
    return lock


# Source data verification


def verification_record(*, record: ClinicalRecord, by) -> SourceVerification:
    """Mark a record, as it stands now, as checked against the source documents."""
    actor = as_actor(by)
    subject = subject_of(record)
    _ensure_may(actor, subject, Action.VERIFY_SOURCE, ONLY_MONITORS_VERIFY)
    with transaction.atomic(durable=True):
        current = type(record).objects.get(pk=record.pk)
        verification = SourceVerification.objects.create(
            subject=subject,
            model=label_of(current),
            object_id=str(current.pk),
            record_version=current.version,
            verified_by=actor.user,
            verified_at=timezone.now(),
        )
        write_audit(
            record=current,
            actor=actor,
            action=f"{label_of(current).lower()}.source_verified",
            changes=[("source_verified", "no", f"version {current.version}")],
        )
    return verification


def verification_cleared(record: models.Model, old_version: int) -> tuple[str, str, str] | None:
    """The audit line saying a change cleared the record's source verification, if it had one."""
    verification = verification_of(record)
    if verification is None or verification.record_version != old_version:
        return None
    return ("source_verified", f"version {old_version}", "no")
