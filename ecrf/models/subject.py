"""Subjects: screening, enrolment at a dose level, treatment and leaving the study."""

from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import F, Q

from .base import ClinicalRecord
from .study import DoseLevel, Site, Study


class SubjectStatus(models.TextChoices):
    SCREENING = "screening", "Screening"
    SCREEN_FAILED = "screen_failed", "Screen failed"
    ON_TREATMENT = "on_treatment", "On treatment"
    OFF_TREATMENT = "off_treatment", "Off treatment (follow-up)"
    OFF_STUDY = "off_study", "Off study"


class TreatmentEnd(models.TextChoices):
    """Why study treatment ended: "completed" is the planned course given; every other reason is a
    discontinuation, as the disposition table of the safety summary counts it."""

    COMPLETED = "completed", "Completed planned treatment"
    ADVERSE_EVENT = "adverse_event", "Adverse event"
    PROGRESSION = "progression", "Disease progression"
    WITHDRAWAL = "withdrawal", "Subject withdrew"
    INVESTIGATOR = "investigator", "Investigator decision"
    DEATH = "death", "Death"
    OTHER = "other", "Other"


class Sex(models.TextChoices):
    FEMALE = "F", "Female"
    MALE = "M", "Male"
    UNKNOWN = "U", "Unknown"


SITE_NOT_IN_STUDY = "This site does not take part in the subject's study."
DOSE_LEVEL_NOT_IN_STUDY = "This dose level belongs to another study."


class Subject(ClinicalRecord):
    study = models.ForeignKey(Study, on_delete=models.PROTECT, related_name="subjects")
    site = models.ForeignKey(Site, on_delete=models.PROTECT, related_name="subjects")
    subject_code = models.CharField("subject ID", max_length=30)
    sex = models.CharField(max_length=1, choices=Sex.choices, default=Sex.UNKNOWN)
    birth_year = models.PositiveSmallIntegerField(null=True, blank=True)
    status = models.CharField(
        max_length=16, choices=SubjectStatus.choices, default=SubjectStatus.SCREENING
    )
    consent_on = models.DateField("informed consent date")
    eligibility_confirmed_on = models.DateField(null=True, blank=True)
    enrolled_on = models.DateField(null=True, blank=True)
    dose_level = models.ForeignKey(
        DoseLevel, on_delete=models.PROTECT, null=True, blank=True, related_name="subjects"
    )
    first_dose_on = models.DateField(null=True, blank=True)
    treatment_end_on = models.DateField(
        "end of treatment date", null=True, blank=True, help_text="The day of the last dose."
    )
    treatment_end_reason = models.CharField(
        "reason treatment ended", max_length=16, choices=TreatmentEnd.choices, blank=True
    )
    off_study_on = models.DateField(null=True, blank=True)
    off_study_reason = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["study__code", "subject_code"]
        constraints = [
            *ClinicalRecord.Meta.constraints,
            models.UniqueConstraint(
                fields=["study", "subject_code"],
                name="subject_code_unique_in_study",
                violation_error_message="This subject ID is already used in the study.",
            ),
            models.CheckConstraint(
                condition=Q(status__in=[SubjectStatus.SCREENING, SubjectStatus.SCREEN_FAILED])
                | Q(dose_level__isnull=False, enrolled_on__isnull=False),
                name="enrolled_subject_has_dose_level",
                violation_error_message="An enrolled subject needs a dose level and an "
                "enrolment date.",
            ),
            models.CheckConstraint(
                condition=Q(eligibility_confirmed_on__isnull=True)
                | Q(eligibility_confirmed_on__gte=F("consent_on")),
                name="eligibility_not_before_consent",
                violation_error_message="Eligibility cannot be confirmed before informed consent.",
            ),
            models.CheckConstraint(
                condition=Q(enrolled_on__isnull=True) | Q(enrolled_on__gte=F("consent_on")),
                name="enrolment_not_before_consent",
                violation_error_message="Enrolment cannot come before informed consent.",
            ),
            models.CheckConstraint(
                condition=Q(first_dose_on__isnull=True) | Q(first_dose_on__gte=F("consent_on")),
                name="first_dose_not_before_consent",
                violation_error_message="The first dose cannot come before informed consent.",
            ),
            models.CheckConstraint(
                condition=~Q(status=SubjectStatus.OFF_STUDY)
                | (Q(off_study_on__isnull=False) & ~Q(off_study_reason="")),
                name="off_study_needs_date_and_reason",
                violation_error_message="Taking a subject off study needs a date and a reason.",
            ),
            models.CheckConstraint(
                condition=Q(treatment_end_on__isnull=True, treatment_end_reason="")
                | (Q(treatment_end_on__isnull=False) & ~Q(treatment_end_reason="")),
                name="treatment_end_needs_date_and_reason",
                violation_error_message="The end of treatment needs both a date and a reason.",
            ),
            models.CheckConstraint(
                condition=Q(treatment_end_on__isnull=True)
                | Q(treatment_end_on__gte=F("consent_on")),
                name="treatment_end_not_before_consent",
                violation_error_message="Treatment cannot end before informed consent.",
            ),
        ]
        indexes = [models.Index(fields=["site", "status"])]

    def __str__(self) -> str:
        return self.subject_code

    def clean(self) -> None:
        errors = {}
        if self.site_id and self.study_id and self.site.study_id != self.study_id:
            errors["site"] = SITE_NOT_IN_STUDY
        if self.dose_level_id and self.study_id and self.dose_level.study_id != self.study_id:
            errors["dose_level"] = DOSE_LEVEL_NOT_IN_STUDY
        if errors:
            raise ValidationError(errors)
