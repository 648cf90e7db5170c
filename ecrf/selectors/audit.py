"""Reads of the audit trail that pages share."""

from __future__ import annotations

from django.db import models

from ..models import AuditEvent


def changes_since(record: models.Model, loaded_version: int | None) -> list[AuditEvent]:
    """The audit events of the saves made to `record` after the version a form was loaded from."""
    if loaded_version is None:
        return []
    current = type(record).objects.filter(pk=record.pk).values_list("version", flat=True).first()
    saves = (current or loaded_version) - loaded_version
    if saves <= 0:
        return []
    updates = AuditEvent.objects.filter(model=record._meta.label, object_id=str(record.pk)).exclude(
        action__endswith=".created"
    )
    times = list(updates.values_list("at", flat=True).distinct().order_by("-at")[:saves])
    return list(updates.filter(at__in=times).order_by("at", "id"))
