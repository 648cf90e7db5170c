"""Create, correct and retire any audited record.

Every write of clinical data ends here: one transaction, a permission check, full validation,
a compare-and-set save of the changed fields only, and one audit event per changed field.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from typing import Any, TypeVar

from django.core.exceptions import ValidationError
from django.db import models, transaction
from django.db.models import F
from django.utils import timezone

from ..access import Action, ensure_can, ensure_can_write_site
from ..models import AdverseEvent, AuditedModel, ClinicalRecord, Subject
from ..models.audit import audited_fields, field_value
from .audit import (
    Actor,
    AuditEntry,
    action_code,
    as_actor,
    subject_of,
    write_audit,
    write_audits,
)
from .errors import invalid
from .locking import ensure_not_locked, verification_cleared
from .queries import queries_sync_automatic

Record = TypeVar("Record", bound=AuditedModel)

REASON_REQUIRED = "Give a reason for changing data that has already been saved."
STALE_RECORD = (
    "Someone else saved this record after you opened it. Reload it to see their change, "
    "then make yours again."
)
# The code of a refused compare-and-set, for callers that show the other person's changes.
STALE = "stale"
NOT_A_FIELD = "{field} is not a field of {model}."
ALREADY_IN_ERROR = "This record is already marked as entered in error."
NO_STUDY_SETUP_ROLE = "Only data managers and administrators may change the study definition."
MOVED_TO_OTHER_STUDY = "This {what} belongs to another study; a record cannot move between studies."
OF_OTHER_SUBJECT = "This {what} belongs to another subject."
# The fields that place a clinical record: changing one moves it to another subject, visit,
# adverse event or site, where rights and locks are checked again.
PLACE_FIELDS = ("study", "site", "subject", "visit", "adverse_event")


class StaleRecord(ValidationError):
    """The record changed since the user loaded it; nothing was written."""


def ensure_can_write(actor: Actor, record: models.Model) -> None:
    """Refuse a user who may not change this record (commands run by the installation may)."""
    if actor.is_system:
        return
    subject = subject_of(record)
    if subject is not None:
        ensure_can_write_site(actor.user, subject.site)
        return
    ensure_can(actor.user, Action.SET_UP_STUDY, message=NO_STUDY_SETUP_ROLE)


def _study_of(record: models.Model):
    subject = subject_of(record)
    return None if subject is None else subject.study_id


def ensure_same_place(old: models.Model, new: models.Model, moved: list[str]) -> None:
    """Refuse a change that takes a record to another study, or points it at a visit or an
    adverse event of another subject."""
    if "study" in moved and isinstance(new, Subject):
        raise invalid("study", MOVED_TO_OTHER_STUDY.format(what="study"), "other_study")
    if {"subject", "adverse_event"} & set(moved) and _study_of(new) != _study_of(old):
        field = "subject" if "subject" in moved else "adverse_event"
        what = "subject" if field == "subject" else "adverse event"
        raise invalid(field, MOVED_TO_OTHER_STUDY.format(what=what), "other_study")
    subject_id = getattr(new, "subject_id", None)
    if subject_id is None:
        return
    # A record moved to another subject takes none of its old subject's visit or event along.
    visit = getattr(new, "visit", None) if {"subject", "visit"} & set(moved) else None
    if visit is not None and visit.subject_id != subject_id:
        raise invalid("visit", OF_OTHER_SUBJECT.format(what="visit"), "of_other_subject")
    pointing = {"subject", "adverse_event"} & set(moved)
    event = getattr(new, "adverse_event", None) if pointing else None
    if event is not None and event.subject_id != subject_id:
        raise invalid(
            "adverse_event", OF_OTHER_SUBJECT.format(what="adverse event"), "of_other_subject"
        )


def _place_relations(model: type[models.Model]) -> list[str]:
    """What the checks of a record read beside its row: its subject with the subject's site
    (rights, audit) and study (validation), through its adverse event for an agent's row."""
    links = {f.name for f in model._meta.concrete_fields if f.is_relation}
    if "subject" in links:
        return ["subject__site", "subject__study"]
    if "adverse_event" in links:
        return ["adverse_event__subject__site", "adverse_event__subject__study"]
    return []


def _non_empty(value: Any) -> bool:
    return value is not None and value != ""


def record_create(
    *, record: Record, by, reason: str = "", action: str | None = None, savepoint: bool = True
) -> Record:
    """Validate and insert a new record, writing its initial values to the audit trail.

    `savepoint=False` for a service that holds its own transaction and never goes on after a
    refusal: the savepoint that would let it go on is not made (a refusal rolls back the
    service's whole transaction, as Django's atomic(savepoint=False) does).
    """
    actor = as_actor(by)
    with transaction.atomic(savepoint=savepoint):
        ensure_can_write(actor, record)
        ensure_not_locked(record)
        record.full_clean()
        record.save(force_insert=True)
        changes = [
            (f.name, None, field_value(record, f))
            for f in audited_fields(type(record))
            if _non_empty(field_value(record, f))
        ]
        write_audit(
            record=record,
            actor=actor,
            action=action or action_code(record, "created"),
            changes=changes,
            reason=reason,
        )
    return record


PARTS_CLASH = "{what} appears twice in this form."


def _ensure_parts_distinct(parts: Sequence[AuditedModel], link: str) -> None:
    """Refuse two parts that the database would refuse as one: the same values of a unique
    constraint that includes the link to the new record."""
    meta = type(parts[0])._meta
    groups = [tuple(c.fields) for c in meta.total_unique_constraints]
    groups += [tuple(fields) for fields in meta.unique_together]
    if meta.get_field(link).unique:
        groups.append((link,))
    for fields in groups:
        if link not in fields:
            continue
        keys = [tuple(getattr(p, meta.get_field(f).attname) for f in fields) for p in parts]
        if len(set(keys)) != len(keys):
            what = meta.verbose_name.capitalize()
            raise invalid(None, PARTS_CLASH.format(what=what), "unique")


def record_parts_create(
    *, record: AuditedModel, parts: Sequence[AuditedModel], by, link: str, reason: str = ""
) -> list[AuditedModel]:
    """Validate and insert the parts of a record just created by `record_create` in the same
    transaction (the per-agent rows of a new adverse event, its grade history), audited as
    record_create audits them.

    Their rights and locks are those of `record`, checked when it was created: a part's form
    is its record's. No saved row can point to a record that did not exist, so a unique
    constraint on `link` (the parts' foreign key to `record`) can only clash among the parts,
    and that is where it is checked; the rest of the validation is the full one. The parts are
    inserted in one statement and their audit lines in another.
    """
    if not parts:
        return []
    if record._state.adding or not transaction.get_connection().in_atomic_block:
        raise RuntimeError("Parts are created with their record, inside its transaction.")
    actor = as_actor(by)
    model = type(parts[0])
    for part in parts:
        if type(part) is not model or getattr(part, f"{link}_id") != record.pk:
            raise ValueError(f"Every part is a {model.__name__} of {record!r}.")
        ensure_can_write(actor, part)
        part.full_clean(exclude=[link])
        # The check constraints on the link too, which the exclusion above left out.
        failed = part._failed_checks(
            [
                constraint
                for _model, constraints in part.get_constraints()
                for constraint in constraints
                if isinstance(constraint, models.CheckConstraint)
            ],
            None,
        )
        if failed:
            raise ValidationError(
                failed[0].get_violation_error_message(), code=failed[0].violation_error_code
            )
    _ensure_parts_distinct(parts, link)
    model.objects.bulk_create(parts)
    for part in parts:
        part._state.adding = False
    write_audits(
        [
            AuditEntry(
                record=part,
                action=action_code(part, "created"),
                changes=[
                    (f.name, None, field_value(part, f))
                    for f in audited_fields(model)
                    if _non_empty(field_value(part, f))
                ],  # fmt: skip
                reason=reason,
            )
            for part in parts
        ],
        actor=actor,
    )
    return list(parts)


def record_update(
    *,
    record: Record,
    changes: Mapping[str, Any],
    reason: str,
    by,
    expected_version: int | None = None,
    action: str | None = None,
    savepoint: bool = True,
) -> Record:
    """Change fields of a saved record, with a reason; refuse if someone else saved first.

    `expected_version` is the version the user's form was built from; without it the version
    of `record` as passed in is used. Returns the record as saved. `savepoint`: as for
    `record_create`.
    """
    actor = as_actor(by)
    reason = (reason or "").strip()
    model = type(record)
    fields = {f.name: f for f in audited_fields(model)}
    for name in changes:
        if name not in fields:
            raise invalid(
                None,
                NOT_A_FIELD.format(field=name, model=model._meta.verbose_name),
                "not_a_field",
            )
    version = record.version if expected_version is None else expected_version
    with transaction.atomic(savepoint=savepoint):
        current = model.objects.select_related(*_place_relations(model)).get(pk=record.pk)
        if current.version != version:
            raise StaleRecord(STALE_RECORD, code=STALE)
        ensure_can_write(actor, current)
        ensure_not_locked(current)
        old = {name: field_value(current, field) for name, field in fields.items()}
        before = copy.copy(current)
        for name, value in changes.items():
            setattr(current, name, value)
        moved = [
            name
            for name in PLACE_FIELDS
            if name in fields and field_value(current, fields[name]) != old[name]
        ]
        if moved:
            # The record as it will be saved: its new subject, site, visit and adverse event
            # must be ones the user may change and no lock covers.
            ensure_can_write(actor, current)
            ensure_not_locked(current)
            ensure_same_place(before, current, moved)
        # Validation may fill in derived fields (a CTCAE term's MedDRA code), so every field
        # is compared, not only the ones asked for.
        current.full_clean()
        changed = [
            name for name, field in fields.items() if field_value(current, field) != old[name]
        ]
        if not changed:
            # Saved unchanged: nothing to write and so nothing to give a reason for.
            return current
        if not reason:
            raise invalid("reason", REASON_REQUIRED, "reason_required")
        now = timezone.now()
        values = {fields[name].attname: field_value(current, fields[name]) for name in changed}
        # Compare-and-set: the row is written only if nobody saved it since it was read.
        written = model.objects.filter(pk=current.pk, version=version).update(
            **values, version=F("version") + 1, updated_at=now
        )
        if written != 1:
            raise StaleRecord(STALE_RECORD, code=STALE)
        current.version = version + 1
        current.updated_at = now
        audit_changes = [(name, old[name], field_value(current, fields[name])) for name in changed]
        cleared = verification_cleared(current, version)
        if cleared is not None:
            audit_changes.append(cleared)
        write_audit(
            record=current,
            actor=actor,
            action=action or action_code(current, "updated"),
            changes=audit_changes,
            reason=reason,
        )
    return current


def record_mark_entered_in_error(
    *, record: ClinicalRecord, reason: str, by, expected_version: int | None = None
) -> ClinicalRecord:
    """Retire a clinical record that should never have been entered; it stays in the database."""
    if record.entered_in_error:
        raise invalid(None, ALREADY_IN_ERROR, "already_in_error")
    with transaction.atomic():
        if isinstance(record, AdverseEvent):
            # The steps of an event's grade history are retired with it, for the same reason.
            for step in record.grade_changes.filter(entered_in_error=False):
                record_update(
                    record=step,
                    changes={
                        "entered_in_error": True,
                        "entered_in_error_reason": (reason or "").strip(),
                    },
                    reason=reason,
                    by=by,
                    action=action_code(step, "entered_in_error"),
                )
        retired = record_update(
            record=record,
            changes={"entered_in_error": True, "entered_in_error_reason": (reason or "").strip()},
            reason=reason,
            by=by,
            expected_version=expected_version,
            action=action_code(record, "entered_in_error"),
        )
        subject = subject_of(retired)
        if subject is not None:
            queries_sync_automatic(subject=subject)
    return retired


__all__ = [
    "ALREADY_IN_ERROR",
    "MOVED_TO_OTHER_STUDY",
    "OF_OTHER_SUBJECT",
    "NO_STUDY_SETUP_ROLE",
    "REASON_REQUIRED",
    "STALE",
    "STALE_RECORD",
    "StaleRecord",
    "ensure_can_write",
    "ensure_same_place",
    "record_create",
    "record_mark_entered_in_error",
    "record_parts_create",
    "record_update",
]
