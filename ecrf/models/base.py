"""Abstract bases shared by every clinical model: UUID keys, versions, no deletion."""

import datetime as dt
import uuid

from django.db import models
from django.utils import timezone

from .limits import text_limit


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
    entered_in_error_reason = models.TextField(blank=True, **text_limit())

    class Meta:
        abstract = True
        constraints = [
            models.CheckConstraint(
                condition=models.Q(entered_in_error=False) | ~models.Q(entered_in_error_reason=""),
                name="%(app_label)s_%(class)s_entered_in_error_needs_reason",
                violation_error_message="Marking a record as entered in error needs a reason.",
            ),
        ]


DATE_BEFORE_CONSENT = "{label} ({value}) is before the informed consent date ({consent})."
DATE_IN_FUTURE = "{label} ({value}) is in the future."


def date_errors(subject, dates: dict[str, tuple[str, object]]) -> dict[str, str]:
    """Hard edit check shared by the clinical records: no date before consent or in the future.

    `dates` maps a field name to (label, date); empty dates are skipped.
    """
    today = timezone.localdate()
    errors = {}
    for name, (label, value) in dates.items():
        if value is None:
            continue
        day = value.date() if isinstance(value, dt.datetime) else value
        if subject is not None and subject.consent_on and day < subject.consent_on:
            errors[name] = DATE_BEFORE_CONSENT.format(
                label=label, value=day.isoformat(), consent=subject.consent_on.isoformat()
            )
        elif day > today:
            errors[name] = DATE_IN_FUTURE.format(label=label, value=day.isoformat())
    return errors
