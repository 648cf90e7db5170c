"""Visits planned from the study schedule, plus unscheduled ones."""

from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q

from .base import ClinicalRecord, date_errors
from .subject import Subject


class VisitKind(models.TextChoices):
    SCREENING = "screening", "Screening"
    CYCLE_DAY = "cycle_day", "Cycle day"
    UNSCHEDULED = "unscheduled", "Unscheduled"
    END_OF_TREATMENT = "end_of_treatment", "End of treatment"
    FOLLOW_UP = "follow_up", "Follow-up"


class VisitStatus(models.TextChoices):
    PLANNED = "planned", "Planned"
    DONE = "done", "Done"
    MISSED = "missed", "Missed"


class Visit(ClinicalRecord):
    subject = models.ForeignKey(Subject, on_delete=models.PROTECT, related_name="visits")
    kind = models.CharField(max_length=20, choices=VisitKind.choices)
    label = models.CharField(max_length=40, help_text="e.g. Screening, C1D1, C2D8, EOT.")
    cycle = models.PositiveSmallIntegerField(null=True, blank=True)
    day = models.SmallIntegerField(null=True, blank=True)
    planned_on = models.DateField(null=True, blank=True)
    window_before = models.PositiveSmallIntegerField(default=0)
    window_after = models.PositiveSmallIntegerField(default=0)
    status = models.CharField(
        max_length=10, choices=VisitStatus.choices, default=VisitStatus.PLANNED
    )
    done_on = models.DateField(null=True, blank=True)
    missed_reason = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["subject", "planned_on", "label"]
        constraints = [
            *ClinicalRecord.Meta.constraints,
            models.UniqueConstraint(fields=["subject", "label"], name="visit_label_unique"),
            models.CheckConstraint(
                condition=~Q(status=VisitStatus.MISSED) | ~Q(missed_reason=""),
                name="missed_visit_needs_reason",
                violation_error_message="A missed visit needs a reason.",
            ),
            models.CheckConstraint(
                condition=~Q(status=VisitStatus.DONE) | Q(done_on__isnull=False),
                name="done_visit_needs_date",
                violation_error_message="A visit that took place needs its date.",
            ),
            models.CheckConstraint(
                condition=~Q(kind=VisitKind.CYCLE_DAY) | Q(cycle__isnull=False, day__isnull=False),
                name="cycle_visit_needs_cycle_and_day",
            ),
        ]
        indexes = [models.Index(fields=["status", "planned_on"])]

    def __str__(self) -> str:
        return f"{self.subject.subject_code} {self.label}"

    def clean(self) -> None:
        if self.subject_id:
            errors = date_errors(self.subject, {"done_on": ("The visit date", self.done_on)})
            if errors:
                raise ValidationError(errors)
