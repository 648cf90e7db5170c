"""Abstract bases shared by every clinical model: UUID keys, versions, no deletion."""

import uuid

from django.db import models


class DeletionRefused(Exception):
    """Clinical data is never deleted; it is marked entered-in-error with a reason."""


DELETION_REFUSED = (
    "{model} records are never deleted; mark the record as entered in error with a reason instead."
)


class NoDeleteQuerySet(models.QuerySet):
    def delete(self):
        raise DeletionRefused(DELETION_REFUSED.format(model=self.model._meta.verbose_name))


class AuditedModel(models.Model):
    """A row whose every change is written to the audit trail by the service layer.

    `version` increases by one on every update so that a form saved on a stale copy is refused
    instead of silently overwriting someone else's change.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    version = models.PositiveIntegerField(default=1, editable=False)

    objects = NoDeleteQuerySet.as_manager()

    class Meta:
        abstract = True

    def delete(self, *args, **kwargs):
        raise DeletionRefused(DELETION_REFUSED.format(model=self._meta.verbose_name))


class ClinicalRecord(AuditedModel):
    """A clinical record: corrected with a reason, or marked entered-in-error, never deleted."""

    entered_in_error = models.BooleanField(default=False)
    entered_in_error_reason = models.TextField(blank=True)

    class Meta:
        abstract = True
        constraints = [
            models.CheckConstraint(
                condition=models.Q(entered_in_error=False) | ~models.Q(entered_in_error_reason=""),
                name="%(app_label)s_%(class)s_entered_in_error_needs_reason",
                violation_error_message="Marking a record as entered in error needs a reason.",
            ),
        ]
