"""Adverse events graded with CTCAE, with seriousness, attribution and action per agent."""

import datetime as dt

from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import F, Q
from django.utils import timezone

from ..ctcae.dictionary import GradeNotAllowedError, UnknownTermError, check_grade, get_term
from .base import ClinicalRecord, date_errors
from .dosing import AGENT_NOT_IN_STUDY
from .study import Agent, Attribution
from .subject import Subject


class Outcome(models.TextChoices):
    RECOVERED = "recovered", "Recovered / resolved"
    RECOVERING = "recovering", "Recovering / resolving"
    NOT_RECOVERED = "not_recovered", "Not recovered / not resolved"
    RECOVERED_WITH_SEQUELAE = "sequelae", "Recovered / resolved with sequelae"
    FATAL = "fatal", "Fatal"
    UNKNOWN = "unknown", "Unknown"


class ActionTaken(models.TextChoices):
    NONE = "none", "Dose not changed"
    REDUCED = "reduced", "Dose reduced"
    INTERRUPTED = "interrupted", "Drug interrupted"
    WITHDRAWN = "withdrawn", "Drug withdrawn"
    NOT_APPLICABLE = "not_applicable", "Not applicable"
    UNKNOWN = "unknown", "Unknown"


OTHER_SPECIFY_NEEDS_VERBATIM = "An 'Other, specify' term needs the verbatim description."
MIXED_CTCAE_VERSIONS = (
    "This event is graded with CTCAE v{record} but the study uses CTCAE v{study}; "
    "versions are never mixed."
)

AWARENESS_REQUIRED = (
    "A serious adverse event needs the date and time the site became aware of it: "
    "the 24-hour reporting clock counts from it."
)
AWARENESS_NEEDS_SERIOUS = (
    "Give the date and time the site became aware only for a serious event, or answer Yes to "
    "Serious."
)
AWARENESS_BEFORE_ONSET = (
    "The time the site became aware ({value}) cannot come before the onset date ({onset})."
)
AWARENESS_IN_FUTURE = "The time the site became aware ({value}) is in the future."


def awareness_errors(
    *, serious: bool, site_aware_at: dt.datetime | None, onset_on: dt.date | None
) -> dict[str, str]:
    """The problems of the time the site became aware of an event, keyed "site_aware_at".

    Required for a serious event and only for one; not before the onset date (compared in the
    site's time zone, as the dates are entered) and not in the future. Shared by the form, so
    that one save shows them with every other error, and the model, for every other caller.
    """
    if site_aware_at is None:
        return {"site_aware_at": AWARENESS_REQUIRED} if serious else {}
    if not serious:
        return {"site_aware_at": AWARENESS_NEEDS_SERIOUS}
    shown = timezone.localtime(site_aware_at).strftime("%Y-%m-%d %H:%M")
    if site_aware_at > timezone.now():
        return {"site_aware_at": AWARENESS_IN_FUTURE.format(value=shown)}
    if onset_on is not None and timezone.localtime(site_aware_at).date() < onset_on:
        return {
            "site_aware_at": AWARENESS_BEFORE_ONSET.format(value=shown, onset=onset_on.isoformat())
        }
    return {}


# The ICH E2A criteria that make an adverse event serious.
SERIOUSNESS_CRITERIA = (
    "sae_death",
    "sae_life_threatening",
    "sae_hospitalisation",
    "sae_disability",
    "sae_congenital_anomaly",
    "sae_important_medical_event",
)

_any_criterion = Q(sae_death=True)
for _name in SERIOUSNESS_CRITERIA[1:]:
    _any_criterion |= Q(**{_name: True})
_no_criterion = ~_any_criterion


class AdverseEvent(ClinicalRecord):
    subject = models.ForeignKey(Subject, on_delete=models.PROTECT, related_name="adverse_events")
    ctcae_version = models.CharField(max_length=8, default="5.0")
    ctcae_term = models.CharField("CTCAE term", max_length=200)
    meddra_code = models.CharField("MedDRA code", max_length=12, blank=True)
    soc = models.CharField("system organ class", max_length=200, blank=True)
    verbatim = models.CharField(
        "verbatim description",
        max_length=300,
        blank=True,
        help_text="The event in the investigator's words; required for 'Other, specify' terms.",
    )
    grade = models.PositiveSmallIntegerField()
    onset_on = models.DateField("onset date")
    resolved_on = models.DateField("resolution date", null=True, blank=True)
    serious = models.BooleanField(default=False)
    sae_death = models.BooleanField("results in death", default=False)
    sae_life_threatening = models.BooleanField("is life-threatening", default=False)
    sae_hospitalisation = models.BooleanField("requires or prolongs hospitalisation", default=False)
    sae_disability = models.BooleanField("persistent or significant disability", default=False)
    sae_congenital_anomaly = models.BooleanField("congenital anomaly / birth defect", default=False)
    sae_important_medical_event = models.BooleanField("important medical event", default=False)
    site_aware_at = models.DateTimeField(
        "site became aware at",
        null=True,
        blank=True,
        help_text="When the site became aware of the serious event; the 24-hour reporting clock "
        "(ICH E2A) counts from it. Only for a serious event.",
    )
    outcome = models.CharField(
        max_length=16, choices=Outcome.choices, default=Outcome.NOT_RECOVERED
    )
    death_on = models.DateField("date of death", null=True, blank=True)
    despite_supportive_care = models.BooleanField(
        "persisted despite optimal supportive care",
        default=False,
        help_text="The event did not come down although optimal supportive care was given; "
        "some DLT rules require it.",
    )

    class Meta:
        ordering = ["subject", "onset_on", "ctcae_term"]
        constraints = [
            *ClinicalRecord.Meta.constraints,
            models.CheckConstraint(
                condition=Q(grade__gte=1, grade__lte=5),
                name="ae_grade_1_to_5",
                violation_error_message="The grade must be between 1 and 5.",
            ),
            models.CheckConstraint(
                condition=Q(resolved_on__isnull=True) | Q(resolved_on__gte=F("onset_on")),
                name="ae_resolution_not_before_onset",
                violation_error_message="The resolution date cannot come before the onset date.",
            ),
            models.CheckConstraint(
                condition=(Q(serious=True) & _any_criterion) | (Q(serious=False) & _no_criterion),
                name="ae_serious_iff_criterion",
                violation_error_message="A serious adverse event needs at least one seriousness "
                "criterion, and a criterion makes the event serious.",
            ),
            models.CheckConstraint(
                condition=~Q(grade=5) | Q(outcome=Outcome.FATAL, death_on__isnull=False),
                name="ae_grade5_is_fatal",
                violation_error_message="A grade 5 event needs a fatal outcome and a date of death.",
            ),
            models.CheckConstraint(
                condition=~Q(outcome=Outcome.FATAL) | Q(death_on__isnull=False),
                name="ae_fatal_needs_death_date",
                violation_error_message="A fatal outcome needs the date of death.",
            ),
            models.CheckConstraint(
                condition=Q(serious=True, site_aware_at__isnull=False)
                | Q(serious=False, site_aware_at__isnull=True),
                name="ae_serious_has_awareness",
                violation_error_message="A serious adverse event needs the time the site became "
                "aware of it, and only a serious event has one.",
            ),
        ]
        indexes = [
            models.Index(fields=["subject", "ctcae_term", "onset_on"]),
            # The casebook's pages of events, latest onset first.
            models.Index(fields=["subject", "onset_on"], name="ae_subject_onset_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.ctcae_term} grade {self.grade}"

    def clean(self) -> None:
        """Check the term and grade against CTCAE and fill in its MedDRA code and SOC."""
        errors = {}
        if self.subject_id:
            errors.update(
                date_errors(
                    self.subject,
                    {
                        "onset_on": ("The onset date", self.onset_on),
                        "resolved_on": ("The resolution date", self.resolved_on),
                        "death_on": ("The date of death", self.death_on),
                    },
                )
            )
        # Seriousness follows from the criteria (the constraint ties the two); the admin's form
        # changes the criteria and leaves "serious" to the service.
        serious = any(getattr(self, name) for name in SERIOUSNESS_CRITERIA)
        errors.update(
            awareness_errors(
                serious=serious, site_aware_at=self.site_aware_at, onset_on=self.onset_on
            )
        )
        if self.subject_id and self.ctcae_version != self.subject.study.ctcae_version:
            errors["ctcae_version"] = MIXED_CTCAE_VERSIONS.format(
                record=self.ctcae_version, study=self.subject.study.ctcae_version
            )
        if self.ctcae_term:
            try:
                term = get_term(self.ctcae_term)
            except UnknownTermError as exc:
                errors["ctcae_term"] = str(exc)
            else:
                self.ctcae_term, self.meddra_code, self.soc = term.term, term.meddra_code, term.soc
                if isinstance(self.grade, int):
                    try:
                        check_grade(term, self.grade)
                    except GradeNotAllowedError as exc:
                        errors["grade"] = str(exc)
                if term.is_other_specify and not self.verbatim.strip():
                    errors["verbatim"] = OTHER_SPECIFY_NEEDS_VERBATIM
        if errors:
            raise ValidationError(errors)


class AdverseEventAgent(ClinicalRecord):
    """Attribution and action taken for one study agent of one adverse event."""

    adverse_event = models.ForeignKey(
        AdverseEvent, on_delete=models.PROTECT, related_name="agent_assessments"
    )
    agent = models.ForeignKey(Agent, on_delete=models.PROTECT, related_name="+")
    attribution = models.CharField(max_length=12, choices=Attribution.choices)
    action_taken = models.CharField(
        max_length=16, choices=ActionTaken.choices, default=ActionTaken.NONE
    )

    class Meta:
        ordering = ["adverse_event", "agent__code"]
        constraints = [
            *ClinicalRecord.Meta.constraints,
            models.UniqueConstraint(
                fields=["adverse_event", "agent"], name="one_assessment_per_agent"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.agent.code}: {self.get_attribution_display()}"

    def clean(self) -> None:
        if (
            self.agent_id
            and self.adverse_event_id
            and self.agent.study_id != self.adverse_event.subject.study_id
        ):
            raise ValidationError({"agent": AGENT_NOT_IN_STUDY})


GRADE_CHANGE_BEFORE_ONSET = "A grade change ({value}) cannot come before the onset date ({onset})."
GRADE_CHANGE_AFTER_RESOLUTION = (
    "A grade change ({value}) cannot come after the resolution date ({resolved})."
)


class AdverseEventGrade(ClinicalRecord):
    """One step of an adverse event's grade history: the event is at `grade` from `from_on` until
    the next step, or until it resolves. CTCAE reporting records the worst grade on the event
    (`AdverseEvent.grade`); the history says how long each grade lasted, which DLT rules on the
    time spent at or above a grade need. An event with no history was at its grade throughout."""

    adverse_event = models.ForeignKey(
        AdverseEvent, on_delete=models.PROTECT, related_name="grade_changes"
    )
    grade = models.PositiveSmallIntegerField()
    from_on = models.DateField("at this grade from")

    class Meta:
        ordering = ["adverse_event", "from_on"]
        constraints = [
            *ClinicalRecord.Meta.constraints,
            models.CheckConstraint(
                condition=Q(grade__gte=1, grade__lte=5),
                name="ae_grade_change_grade_1_to_5",
                violation_error_message="The grade must be between 1 and 5.",
            ),
            models.UniqueConstraint(
                fields=["adverse_event", "from_on"],
                condition=Q(entered_in_error=False),
                name="one_grade_per_event_day",
                violation_error_message="The event already has a grade from that date.",
            ),
        ]

    def __str__(self) -> str:
        return f"grade {self.grade} from {self.from_on}"

    def clean(self) -> None:
        if not self.adverse_event_id or self.from_on is None:
            return
        event = self.adverse_event
        if self.from_on < event.onset_on:
            raise ValidationError(
                {
                    "from_on": GRADE_CHANGE_BEFORE_ONSET.format(
                        value=self.from_on, onset=event.onset_on
                    )
                }
            )
        if event.resolved_on is not None and self.from_on > event.resolved_on:
            raise ValidationError(
                {
                    "from_on": GRADE_CHANGE_AFTER_RESOLUTION.format(
                        value=self.from_on, resolved=event.resolved_on
                    )
                }
            )
