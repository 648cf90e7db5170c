"""Source data verification states: what a monitor checked, and whether it still holds.

A verification holds while the record keeps the version the monitor saw; the change that
moved it on is the audit line `source_verified: version N -> no` (services/records.py).
"""

from __future__ import annotations

from collections import defaultdict

from django.db import models

from ..models import AuditEvent, DataLock, LockScope, SourceVerification, Visit
from .records import describe_record, kind_slug, records_by_key


def verification_of(record: models.Model) -> SourceVerification | None:
    """The latest source verification of a record, whether it still holds or not."""
    return (
        SourceVerification.objects.filter(model=record._meta.label, object_id=str(record.pk))
        .order_by("-verified_at", "-id")
        .first()
    )


def is_source_verified(record: models.Model) -> bool:
    verification = verification_of(record)
    return verification is not None and verification.record_version == record.version


def verification_states(label: str, records: list[models.Model]) -> dict[str, dict]:
    """Per record id: its latest source verification and, if a change cleared it, that change.

    Two queries for any number of records of one model.
    """
    ids = [str(r.pk) for r in records]
    latest = {}
    for verification in (
        SourceVerification.objects.filter(model=label, object_id__in=ids)
        .select_related("verified_by")
        .order_by("verified_at", "id")
    ):
        latest[verification.object_id] = verification
    versions = {str(r.pk): r.version for r in records}
    cleared_ids = [pk for pk, v in latest.items() if v.record_version != versions[pk]]
    clearing = {}
    if cleared_ids:
        for change in AuditEvent.objects.filter(
            model=label, object_id__in=cleared_ids, field="source_verified", new_value="no"
        ).order_by("at", "id"):
            if change.old_value == f"version {latest[change.object_id].record_version}":
                clearing.setdefault(change.object_id, change)
    return {
        pk: {
            "verification": v,
            "valid": v.record_version == versions[pk],
            "cleared_by": clearing.get(pk),
        }
        for pk, v in latest.items()
    }


def active_locks(subject) -> list[DataLock]:
    """The subject's locks in force, with who locked them."""
    return list(DataLock.objects.filter(subject=subject, locked=True).select_related("locked_by"))


def covering_lock(record: models.Model, locks: list[DataLock]) -> DataLock | None:
    """Which of the subject's active locks covers this record (its own, its visit's, the subject's)."""
    label, pk = record._meta.label, str(record.pk)
    visit_id = str(record.pk) if isinstance(record, Visit) else str(getattr(record, "visit_id", ""))
    for lock in locks:
        if lock.scope == LockScope.SUBJECT:
            return lock
    for lock in locks:
        if (lock.model, lock.object_id) == (label, pk) or (
            lock.scope == LockScope.VISIT and lock.object_id == visit_id
        ):
            return lock
    return None


def subject_verifications(subject) -> tuple[list[dict], list[dict], int]:
    """(cleared, verified, number verified) over the subject's current records: each row a
    record's description and kind with its state (see `verification_states`); the verified
    ones newest first."""
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
            row = {"description": describe_record(record), "kind": kind_slug(model), **state}
            (verified if state["valid"] else cleared).append(row)
    verified.sort(key=lambda row: row["verification"].verified_at, reverse=True)
    return cleared, verified, len(verified)
