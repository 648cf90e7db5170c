"""Writing the audit trail: who, when, role, site, record, field, old value, new value, reason."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db import models
from django.utils import timezone

from ..access import primary_role
from ..models import AuditEvent, Subject
from ..models.audit import audit_value


@dataclass(frozen=True)
class Actor:
    """Who makes a change: a signed-in user, or a named command run by the installation."""

    user: Any = None
    name: str = ""
    role: str = ""

    @property
    def is_system(self) -> bool:
        return self.user is None


def as_actor(by) -> Actor:
    """Accept a user or an Actor wherever a service takes `by`."""
    if isinstance(by, Actor):
        return by
    if by is None or not getattr(by, "is_authenticated", False):
        raise ValueError("A change to clinical data needs a signed-in user or a named command.")
    return Actor(user=by, name=by.get_username(), role=primary_role(by))


def system_actor(command: str) -> Actor:
    return Actor(user=None, name=f"command:{command}", role="system")


def subject_of(record: models.Model) -> Subject | None:
    """The subject a record belongs to, for the subject's audit trail and the site column."""
    if isinstance(record, Subject):
        return record
    subject = getattr(record, "subject", None)
    if subject is None and hasattr(record, "adverse_event"):
        subject = record.adverse_event.subject
    return subject


def action_code(record: models.Model, verb: str) -> str:
    return f"ecrf.{record._meta.model_name}.{verb}"


@dataclass(frozen=True)
class AuditEntry:
    """The audit lines of one change to one record: (field, old value, new value) each."""

    record: models.Model
    action: str
    changes: list[tuple[str, Any, Any]]
    reason: str = ""


def _site_of(record: models.Model, subject: Subject | None) -> str:
    if subject is not None:
        return subject.site.code
    if hasattr(record, "site") and record.site is not None:
        return record.site.code
    return ""


def write_audits(entries: list[AuditEntry], *, actor: Actor) -> list[AuditEvent]:
    """Append the audit events of several records' changes, all in one insert."""
    at = timezone.now()
    events = []
    for entry in entries:
        record = entry.record
        subject = subject_of(record)
        site = _site_of(record, subject)
        events += [
            AuditEvent(
                at=at,
                user=actor.user,
                actor=actor.name,
                role=actor.role,
                site=site,
                action=entry.action,
                model=record._meta.label,
                object_id=str(record.pk),
                object_repr=str(record)[:200],
                subject_id=subject.pk if subject is not None else None,
                field=name,
                old_value=audit_value(old),
                new_value=audit_value(new),
                reason=entry.reason,
            )
            for name, old, new in entry.changes
        ]
    return AuditEvent.objects.bulk_create(events)


def write_audit(
    *,
    record: models.Model,
    actor: Actor,
    action: str,
    changes: list[tuple[str, Any, Any]],
    reason: str = "",
) -> list[AuditEvent]:
    """Append one audit event per (field, old value, new value)."""
    return write_audits([AuditEntry(record, action, changes, reason)], actor=actor)
