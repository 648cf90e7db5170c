"""Study definition: the trial, its sites, agents, dose levels and visit schedule."""

from decimal import Decimal

from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q

from .base import AuditedModel


class DesignMethod(models.TextChoices):
    THREE_PLUS_THREE = "3+3", "3+3"
    BOIN = "boin", "BOIN"


class Attribution(models.TextChoices):
    """Relationship of an adverse event to a study agent, on the usual 5-point scale."""

    UNRELATED = "unrelated", "Unrelated"
    UNLIKELY = "unlikely", "Unlikely"
    POSSIBLE = "possible", "Possible"
    PROBABLE = "probable", "Probable"
    DEFINITE = "definite", "Definite"


class Study(AuditedModel):
    code = models.SlugField(max_length=40, unique=True, allow_unicode=False)
    title = models.CharField(max_length=300)
    ctcae_version = models.CharField(max_length=8, choices=[("5.0", "CTCAE v5.0")], default="5.0")
    cycle_days = models.PositiveSmallIntegerField(
        default=21, validators=[MinValueValidator(1), MaxValueValidator(365)]
    )
    design_method = models.CharField(
        max_length=8, choices=DesignMethod.choices, default=DesignMethod.THREE_PLUS_THREE
    )
    design_target = models.DecimalField(
        max_digits=4,
        decimal_places=3,
        null=True,
        blank=True,
        help_text="Target DLT rate (BOIN only), e.g. 0.30.",
    )
    allow_deescalate = models.BooleanField(default=True)
    dlt_window_days = models.PositiveSmallIntegerField(
        default=21, validators=[MinValueValidator(1), MaxValueValidator(365)]
    )
    dlt_min_attribution = models.CharField(
        max_length=12, choices=Attribution.choices, default=Attribution.POSSIBLE
    )
    dlt_min_exposure_pct = models.PositiveSmallIntegerField(
        default=75, validators=[MinValueValidator(0), MaxValueValidator(100)]
    )
    dlt_underdosing_for_toxicity_evaluable = models.BooleanField(
        "under-dosing for toxicity stays DLT-evaluable",
        default=True,
        help_text="A dose missed or reduced because of an adverse event does not count "
        "against the minimum exposure.",
    )
    screening_days = models.PositiveSmallIntegerField(
        default=28, help_text="How many days before the first dose screening may start."
    )
    planned_cycles = models.PositiveSmallIntegerField(
        default=2, help_text="Cycles planned when a subject's visits are scheduled."
    )
    follow_up_days = models.PositiveSmallIntegerField(
        default=30, help_text="Days from the end-of-treatment visit to the follow-up visit."
    )
    dose_above_plan_pct = models.PositiveSmallIntegerField(
        "dose above plan (% of planned)",
        default=110,
        validators=[MinValueValidator(100), MaxValueValidator(1000)],
        help_text="A dose given above this percentage of the planned dose needs an explicit "
        "confirmation and opens a data query as a possible medication error.",
    )
    subject_id_pattern = models.CharField(
        max_length=60,
        default="{site}-{number:03d}",
        help_text="How new subject IDs are made: {site} is the site code, {number} the "
        "study-wide sequence number, {study} the study code.",
    )

    class Meta:
        verbose_name_plural = "studies"
        ordering = ["code"]
        constraints = [
            models.CheckConstraint(
                condition=~Q(design_method=DesignMethod.BOIN)
                | Q(design_target__gt=0, design_target__lt=1),
                name="study_boin_needs_target",
                violation_error_message="A BOIN design needs a target DLT rate between 0 and 1.",
            ),
            models.CheckConstraint(
                condition=Q(dlt_min_exposure_pct__lte=100),
                name="study_exposure_pct_at_most_100",
            ),
            models.CheckConstraint(
                condition=Q(cycle_days__gte=1), name="study_cycle_days_positive"
            ),
            models.CheckConstraint(
                condition=Q(dose_above_plan_pct__gte=100, dose_above_plan_pct__lte=1000),
                name="study_dose_above_plan_pct_range",
                violation_error_message="The dose above plan must be 100 to 1000 % of planned.",
            ),
        ]

    def __str__(self) -> str:
        return self.code


class Site(AuditedModel):
    study = models.ForeignKey(Study, on_delete=models.PROTECT, related_name="sites")
    code = models.CharField(max_length=20)
    name = models.CharField(max_length=200)

    class Meta:
        ordering = ["study__code", "code"]
        constraints = [
            models.UniqueConstraint(fields=["study", "code"], name="site_code_unique_in_study"),
        ]

    def __str__(self) -> str:
        return f"{self.code} {self.name}"


class Agent(AuditedModel):
    study = models.ForeignKey(Study, on_delete=models.PROTECT, related_name="agents")
    code = models.CharField(max_length=20)
    name = models.CharField(max_length=120)
    unit = models.CharField(max_length=20, help_text="Dose unit, e.g. mg or MIU.")

    class Meta:
        ordering = ["study__code", "code"]
        constraints = [
            models.UniqueConstraint(fields=["study", "code"], name="agent_code_unique_in_study"),
        ]

    def __str__(self) -> str:
        return self.name


class DoseLevel(AuditedModel):
    study = models.ForeignKey(Study, on_delete=models.PROTECT, related_name="dose_levels")
    level = models.SmallIntegerField(help_text="-1, 1, 2, ...: the escalation order.")
    label = models.CharField(max_length=120)
    open_for_enrolment = models.BooleanField(default=True)

    class Meta:
        ordering = ["study__code", "level"]
        constraints = [
            models.UniqueConstraint(fields=["study", "level"], name="dose_level_unique_in_study"),
        ]

    def __str__(self) -> str:
        return f"DL{self.level} {self.label}"


class DoseLevelDose(AuditedModel):
    """The planned daily dose of one agent at one dose level."""

    dose_level = models.ForeignKey(DoseLevel, on_delete=models.PROTECT, related_name="doses")
    agent = models.ForeignKey(Agent, on_delete=models.PROTECT, related_name="+")
    dose = models.DecimalField(max_digits=10, decimal_places=3)

    class Meta:
        ordering = ["dose_level__level", "agent__code"]
        constraints = [
            models.UniqueConstraint(
                fields=["dose_level", "agent"], name="one_dose_per_agent_level"
            ),
            models.CheckConstraint(
                condition=Q(dose__gte=Decimal(0)),
                name="dose_level_dose_not_negative",
                violation_error_message="A dose cannot be negative.",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.agent.code} {self.dose} {self.agent.unit}"

    def clean(self) -> None:
        if self.agent_id and self.dose_level_id and self.agent.study_id != self.dose_level.study_id:
            raise ValidationError({"agent": "This agent belongs to another study."})


class ScheduledVisit(AuditedModel):
    """One visit of the cycle's schedule, e.g. day 1, 8 and 15 of every cycle."""

    study = models.ForeignKey(Study, on_delete=models.PROTECT, related_name="schedule")
    day = models.PositiveSmallIntegerField(validators=[MinValueValidator(1)])
    window_before = models.PositiveSmallIntegerField(default=0)
    window_after = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["study__code", "day"]
        constraints = [
            models.UniqueConstraint(fields=["study", "day"], name="scheduled_visit_day_unique"),
            models.CheckConstraint(condition=Q(day__gte=1), name="scheduled_visit_day_positive"),
        ]

    def __str__(self) -> str:
        return f"Day {self.day}"


class AgentSchedule(AuditedModel):
    """The days of a cycle on which an agent is given, e.g. imatinib days 1-14.

    A negative first day is a lead-in before cycle 1 (metronomic cyclophosphamide from day -21)
    and applies to cycle 1 only.
    """

    agent = models.OneToOneField(Agent, on_delete=models.PROTECT, related_name="schedule")
    first_day = models.SmallIntegerField()
    last_day = models.SmallIntegerField()

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(last_day__gte=models.F("first_day")),
                name="agent_schedule_days_in_order",
                violation_error_message="The last dosing day cannot come before the first.",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.agent.code} days {self.first_day} to {self.last_day}"
