"""The audit trail: one append-only row per changed field (21 CFR Part 11, ICH E6)."""

import datetime as dt
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import models
from django.utils import timezone

from .limits import AUDIT_REASON_MAX, AUDIT_VALUE_MAX, text_limit

# Bookkeeping columns that every audited model has; they are not clinical data.
UNAUDITED_FIELDS = frozenset({"id", "created_at", "updated_at", "version"})


def audit_value(value: Any) -> str | None:
    """Render a field value as the text kept in the audit trail."""
    if value is None:
        return None
    if isinstance(value, Decimal):
        return format(value.normalize(), "f") if value == value.to_integral() else str(value)
    if isinstance(value, dt.datetime):
        return (
            value.astimezone(dt.UTC).isoformat() if timezone.is_aware(value) else value.isoformat()
        )
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value)


def audited_fields(model: type[models.Model]) -> list[models.Field]:
    return [f for f in model._meta.concrete_fields if f.name not in UNAUDITED_FIELDS]


def field_value(record: models.Model, field: models.Field) -> Any:
    return getattr(record, field.attname)


class AuditTrailIsAppendOnly(Exception):
    """Audit events and signatures can be added, never changed or removed."""


APPEND_ONLY = "The audit trail is append-only: audit events cannot be changed or deleted."


class AppendOnlyQuerySet(models.QuerySet):
    def update(self, **kwargs):
        raise AuditTrailIsAppendOnly(APPEND_ONLY)

    def delete(self):
        raise AuditTrailIsAppendOnly(APPEND_ONLY)

    def bulk_update(self, objs, fields, batch_size=None):
        raise AuditTrailIsAppendOnly(APPEND_ONLY)


class AppendOnlyModel(models.Model):
    """A row that is written once and then never changed or deleted."""

    objects = AppendOnlyQuerySet.as_manager()

    class Meta:
        abstract = True

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise AuditTrailIsAppendOnly(APPEND_ONLY)
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise AuditTrailIsAppendOnly(APPEND_ONLY)


class AuditEvent(AppendOnlyModel):
    at = models.DateTimeField("time (UTC)", db_index=True)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    actor = models.CharField(
        max_length=150, help_text="User name at the time, or the command that wrote the data."
    )
    role = models.CharField(max_length=40, blank=True)
    site = models.CharField(max_length=20, blank=True)
    action = models.CharField(max_length=60, help_text="e.g. ecrf.adverseevent.updated")
    model = models.CharField(max_length=60)
    object_id = models.CharField(max_length=36)
    object_repr = models.CharField(max_length=200, blank=True)
    subject_id = models.UUIDField(null=True, blank=True)
    field = models.CharField(max_length=60)
    # NULL means "no value" (a field set for the first time), which differs from an empty text.
    old_value = models.TextField(null=True, blank=True, **text_limit(AUDIT_VALUE_MAX))  # noqa: DJ001
    new_value = models.TextField(null=True, blank=True, **text_limit(AUDIT_VALUE_MAX))  # noqa: DJ001
    reason = models.TextField(blank=True, **text_limit(AUDIT_REASON_MAX))

    class Meta:
        ordering = ["at", "id"]
        indexes = [
            models.Index(fields=["model", "object_id"]),
            models.Index(fields=["subject_id", "at"]),
        ]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M:%S} {self.actor} {self.action} {self.field}"
