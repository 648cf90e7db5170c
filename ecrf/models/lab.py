"""Laboratory results, one row per test per sample, with their computed CTCAE grade."""

from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import F, Q

from .base import AuditedModel, ClinicalRecord, date_errors
from .dosing import VISIT_OF_OTHER_SUBJECT
from .study import Site
from .subject import Sex, Subject
from .visit import Visit


class LabTest(models.TextChoices):
    """CDISC SDTM LBTESTCD codes used by the trial (plus TEMP, the body temperature)."""

    ALT = "ALT", "Alanine aminotransferase"
    AST = "AST", "Aspartate aminotransferase"
    BILI = "BILI", "Bilirubin"
    ALP = "ALP", "Alkaline phosphatase"
    GGT = "GGT", "Gamma glutamyl transferase"
    CREAT = "CREAT", "Creatinine"
    CK = "CK", "Creatine kinase"
    LIPASE = "LIPASE", "Lipase"
    AMYLASE = "AMYLASE", "Amylase"
    INR = "INR", "Prothrombin INR"
    NEUT = "NEUT", "Neutrophils"
    PLAT = "PLAT", "Platelets"
    WBC = "WBC", "Leukocytes"
    LYM = "LYM", "Lymphocytes"
    HGB = "HGB", "Hemoglobin"
    GLUC = "GLUC", "Glucose"
    K = "K", "Potassium"
    SODIUM = "SODIUM", "Sodium"
    CA = "CA", "Calcium"
    MG = "MG", "Magnesium"
    ALB = "ALB", "Albumin"
    CHOL = "CHOL", "Cholesterol"
    TRIG = "TRIG", "Triglycerides"
    CD4 = "CD4", "CD4 lymphocytes"
    CD8 = "CD8", "CD8 lymphocytes"
    NK = "NK", "NK cells"
    TEMP = "TEMP", "Body temperature"


class LabResult(ClinicalRecord):
    subject = models.ForeignKey(Subject, on_delete=models.PROTECT, related_name="lab_results")
    visit = models.ForeignKey(
        Visit, on_delete=models.PROTECT, null=True, blank=True, related_name="lab_results"
    )
    test_code = models.CharField("test", max_length=10, choices=LabTest.choices)
    value = models.DecimalField(max_digits=12, decimal_places=4)
    unit = models.CharField(max_length=20)
    lln = models.DecimalField(
        "lower limit of normal", max_digits=12, decimal_places=4, null=True, blank=True
    )
    uln = models.DecimalField(
        "upper limit of normal", max_digits=12, decimal_places=4, null=True, blank=True
    )
    collected_at = models.DateTimeField()
    ctcae_version = models.CharField(max_length=8, blank=True)
    ctcae_term = models.CharField("CTCAE term", max_length=200, blank=True)
    ctcae_grade = models.PositiveSmallIntegerField("CTCAE grade", null=True, blank=True)

    class Meta:
        ordering = ["subject", "collected_at", "test_code"]
        constraints = [
            *ClinicalRecord.Meta.constraints,
            models.CheckConstraint(
                condition=Q(value__gte=Decimal(0)),
                name="lab_value_not_negative",
                violation_error_message="A lab value cannot be negative.",
            ),
            models.CheckConstraint(
                condition=Q(lln__isnull=True) | Q(uln__isnull=True) | Q(lln__lte=F("uln")),
                name="lab_lln_not_above_uln",
                violation_error_message="The lower limit of normal cannot be above the upper.",
            ),
            models.CheckConstraint(
                condition=Q(ctcae_grade__isnull=True) | Q(ctcae_grade__lte=4),
                name="lab_grade_0_to_4",
            ),
        ]
        indexes = [
            models.Index(fields=["subject", "test_code", "collected_at"]),
            # The casebook's pages of results, newest first.
            models.Index(fields=["subject", "collected_at"], name="lab_subject_collected_idx"),
            # Lab-AE reconciliation (home page and casebook) reads only the high grades.
            models.Index(
                fields=["subject", "ctcae_grade"],
                condition=Q(ctcae_grade__gte=3, entered_in_error=False),
                name="lab_subject_high_grade_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.test_code} {self.value} {self.unit}"

    def clean(self) -> None:
        errors = {}
        if self.subject_id:
            errors.update(
                date_errors(self.subject, {"collected_at": ("The sample time", self.collected_at)})
            )
        if self.visit_id and self.subject_id and self.visit.subject_id != self.subject_id:
            errors["visit"] = VISIT_OF_OTHER_SUBJECT
        if errors:
            raise ValidationError(errors)


class ReferenceRange(AuditedModel):
    """A site's normal range for a test, unit and sex, valid from a date (until the next one)."""

    site = models.ForeignKey(Site, on_delete=models.PROTECT, related_name="reference_ranges")
    test_code = models.CharField("test", max_length=10, choices=LabTest.choices)
    unit = models.CharField(max_length=20)
    sex = models.CharField(
        max_length=1, choices=Sex.choices, blank=True, help_text="Empty: applies to everyone."
    )
    lln = models.DecimalField(
        "lower limit of normal", max_digits=12, decimal_places=4, null=True, blank=True
    )
    uln = models.DecimalField(
        "upper limit of normal", max_digits=12, decimal_places=4, null=True, blank=True
    )
    effective_from = models.DateField()

    class Meta:
        ordering = ["site", "test_code", "sex", "-effective_from"]
        constraints = [
            models.UniqueConstraint(
                fields=["site", "test_code", "unit", "sex", "effective_from"],
                name="reference_range_unique",
            ),
            models.CheckConstraint(
                condition=Q(lln__isnull=True) | Q(uln__isnull=True) | Q(lln__lte=F("uln")),
                name="reference_range_lln_not_above_uln",
                violation_error_message="The lower limit of normal cannot be above the upper.",
            ),
            models.CheckConstraint(
                condition=Q(lln__isnull=False) | Q(uln__isnull=False),
                name="reference_range_has_a_limit",
                violation_error_message="A reference range needs a lower or an upper limit.",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.site.code} {self.test_code} {self.lln}-{self.uln} {self.unit}"
