"""Study-drug administration: one row per agent per dose given, reduced or missed."""

from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import F, Q

from .base import ClinicalRecord, date_errors
from .study import Agent
from .subject import Subject
from .visit import Visit

AGENT_NOT_IN_STUDY = "This agent is not a study agent of the subject's study."
VISIT_OF_OTHER_SUBJECT = "This visit belongs to another subject."


class DoseChangeReason(models.TextChoices):
    """Why a dose differs from the plan, structured: the DLT evaluability rule reads it
    (a shortfall for an adverse event may not count against exposure, ecrf.safety.dlt)."""

    ADVERSE_EVENT = "adverse_event", "Adverse event"
    PATIENT_DECISION = "patient_decision", "Patient decision"
    LOGISTICS = "logistics", "Logistics"
    OTHER = "other", "Other"


class DoseAdministration(ClinicalRecord):
    subject = models.ForeignKey(Subject, on_delete=models.PROTECT, related_name="doses")
    agent = models.ForeignKey(Agent, on_delete=models.PROTECT, related_name="administrations")
    visit = models.ForeignKey(
        Visit, on_delete=models.PROTECT, null=True, blank=True, related_name="doses"
    )
    given_on = models.DateField()
    cycle = models.PositiveSmallIntegerField()
    day = models.SmallIntegerField()
    planned_dose = models.DecimalField(max_digits=10, decimal_places=3)
    given_dose = models.DecimalField(max_digits=10, decimal_places=3)
    unit = models.CharField(max_length=20)
    reason = models.CharField(
        "reason for a dose other than planned",
        max_length=200,
        blank=True,
        help_text="Required when the dose given differs from the dose planned, or was missed.",
    )
    reason_category = models.CharField(
        "kind of reason",
        max_length=20,
        choices=DoseChangeReason.choices,
        blank=True,
        help_text="Required when the dose given differs from the dose planned, or was missed.",
    )
    adverse_event = models.ForeignKey(
        "ecrf.AdverseEvent",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="dose_changes",
        help_text="The adverse event that caused the change, if any.",
    )

    class Meta:
        ordering = ["subject", "given_on", "agent__code"]
        constraints = [
            *ClinicalRecord.Meta.constraints,
            models.CheckConstraint(
                condition=Q(planned_dose__gte=Decimal(0)),
                name="planned_dose_not_negative",
                violation_error_message="The planned dose cannot be negative.",
            ),
            models.CheckConstraint(
                condition=Q(given_dose__gte=Decimal(0)),
                name="given_dose_not_negative",
                violation_error_message="The given dose cannot be negative.",
            ),
            models.CheckConstraint(
                condition=Q(given_dose=F("planned_dose")) | ~Q(reason=""),
                name="dose_change_needs_reason",
                violation_error_message="A dose reduced, increased or missed needs a reason.",
            ),
            models.CheckConstraint(
                condition=Q(given_dose=F("planned_dose")) | ~Q(reason_category=""),
                name="dose_change_needs_reason_category",
                violation_error_message=(
                    "A dose reduced, increased or missed needs the kind of reason."
                ),
            ),
            models.CheckConstraint(
                condition=Q(adverse_event__isnull=True)
                | Q(reason_category=DoseChangeReason.ADVERSE_EVENT),
                name="dose_event_means_adverse_event_reason",
                violation_error_message=(
                    "A dose that cites an adverse event has the reason kind adverse event."
                ),
            ),
        ]
        indexes = [
            models.Index(fields=["subject", "agent", "given_on"]),
            # The casebook's pages of administrations, newest first.
            models.Index(fields=["subject", "given_on"], name="dose_subject_given_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.agent.code} {self.given_dose} {self.unit} on {self.given_on}"

    @property
    def missed(self) -> bool:
        return self.given_dose == 0 and self.planned_dose > 0

    def clean(self) -> None:
        errors = {}
        if self.subject_id:
            errors.update(date_errors(self.subject, {"given_on": ("The dose date", self.given_on)}))
        if self.agent_id and self.subject_id and self.agent.study_id != self.subject.study_id:
            errors["agent"] = AGENT_NOT_IN_STUDY
        if self.visit_id and self.subject_id and self.visit.subject_id != self.subject_id:
            errors["visit"] = VISIT_OF_OTHER_SUBJECT
        if errors:
            raise ValidationError(errors)
