"""Review of clinical data: DLT assessments and electronic signatures (21 CFR Part 11)."""

from django.conf import settings
from django.db import models
from django.db.models import Q

from .adverse_event import AdverseEvent
from .audit import AppendOnlyModel
from .base import AuditedModel
from .lab import LabResult
from .limits import text_limit
from .study import Study


class DltStatus(models.TextChoices):
    NOT_DLT = "not_dlt", "Not a DLT"
    POTENTIAL = "potential", "Potential DLT"
    CONFIRMED = "confirmed", "Confirmed DLT"
    RULED_OUT = "ruled_out", "Ruled out"


class DltDecision(models.TextChoices):
    CONFIRMED = "confirmed", "Confirmed DLT"
    RULED_OUT = "ruled_out", "Ruled out"


# Statuses that count as a DLT: until an investigator decides, a potential DLT counts.
COUNTING_STATUSES = (DltStatus.POTENTIAL, DltStatus.CONFIRMED)


class Signature(AppendOnlyModel):
    """An electronic signature: who (re-authenticated), printed name, UTC time, meaning, and a
    hash of the data signed, so that a later change to that data can be detected."""

    signer = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    printed_name = models.CharField(max_length=150)
    role = models.CharField(max_length=40)
    signed_at = models.DateTimeField("signed at (UTC)")
    meaning = models.CharField(max_length=300)
    model = models.CharField(max_length=60)
    object_id = models.CharField(max_length=36)
    content_hash = models.CharField(max_length=64)

    class Meta:
        ordering = ["signed_at"]
        indexes = [models.Index(fields=["model", "object_id"])]

    def __str__(self) -> str:
        return f"{self.printed_name}, {self.signed_at:%Y-%m-%d %H:%M} UTC: {self.meaning}"


class DltRuleSet(AuditedModel):
    """One version of a study's DLT definition: the ordered rules of its study file (or of the
    default rule set), as ``ecrf.safety.dlt_rules`` reads them. A version is never changed: a
    changed definition is a new version, with who loaded it, when (``created_at``) and why."""

    study = models.ForeignKey(Study, on_delete=models.PROTECT, related_name="dlt_rule_sets")
    number = models.PositiveIntegerField("version")
    rules = models.JSONField()
    digest = models.CharField(max_length=64, help_text="SHA-256 of the rules as canonical JSON.")
    source = models.CharField(max_length=300)
    reason = models.CharField(max_length=300)
    recorded_by = models.CharField(max_length=150)

    class Meta:
        verbose_name = "DLT rule set version"
        ordering = ["study", "-number"]
        constraints = [
            models.UniqueConstraint(fields=["study", "number"], name="one_rule_set_per_version")
        ]

    def __str__(self) -> str:
        return f"DLT rules version {self.number}"


class DltAssessment(AuditedModel):
    """What the protocol's DLT rules say of one adverse event, and the investigator's decision.

    Both stay visible; the decision overrides the rule flag in every count.
    """

    adverse_event = models.OneToOneField(
        AdverseEvent, on_delete=models.PROTECT, related_name="dlt_assessment"
    )
    rule_flag = models.BooleanField("flagged by the rules", default=False)
    rule = models.CharField(max_length=40)
    rule_reason = models.CharField(max_length=500)
    onset_day = models.SmallIntegerField(null=True, blank=True)
    decision = models.CharField(max_length=12, choices=DltDecision.choices, blank=True)
    decision_reason = models.TextField(blank=True, **text_limit())
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    signature = models.OneToOneField(
        Signature, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    needs_review = models.BooleanField(
        default=False, help_text="The rules changed their flag after the investigator decided."
    )
    status = models.CharField(max_length=12, choices=DltStatus.choices, default=DltStatus.NOT_DLT)
    rule_set = models.ForeignKey(
        DltRuleSet,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        help_text="The version of the DLT rules that gave the flag.",
    )

    class Meta:
        ordering = ["adverse_event__onset_on"]
        constraints = [
            models.CheckConstraint(
                condition=Q(decision="")
                | (
                    ~Q(decision_reason="")
                    & Q(decided_by__isnull=False, decided_at__isnull=False, signature__isnull=False)
                ),
                name="dlt_decision_is_signed_with_reason",
                violation_error_message="A DLT decision needs a reason and a signature.",
            ),
            models.CheckConstraint(
                condition=(Q(decision="") & Q(rule_flag=True) & Q(status=DltStatus.POTENTIAL))
                | (Q(decision="") & Q(rule_flag=False) & Q(status=DltStatus.NOT_DLT))
                | (~Q(decision="") & Q(status=models.F("decision"))),
                name="dlt_status_follows_flag_and_decision",
            ),
        ]
        indexes = [models.Index(fields=["status", "created_at"])]

    def __str__(self) -> str:
        return f"{self.adverse_event}: {self.get_status_display()}"


class DltReviewQueue(DltAssessment):
    """Potential DLTs awaiting an investigator's decision, oldest first (admin list)."""

    class Meta:
        proxy = True
        verbose_name = "DLT awaiting review"
        verbose_name_plural = "DLT review queue"


class LabToxicityDecision(models.TextChoices):
    NOT_DLT = "not_dlt", "Not a DLT"


class LabToxicityAssessment(AuditedModel):
    """An investigator's signed word that a grade 3 or more lab result in the DLT window, with
    no matching adverse event, is not a DLT. Until an adverse event is recorded for it or this
    is signed, the result is an unreconciled potential DLT (ecrf.selectors.dlt)."""

    lab_result = models.OneToOneField(
        LabResult, on_delete=models.PROTECT, related_name="toxicity_assessment"
    )
    decision = models.CharField(max_length=12, choices=LabToxicityDecision.choices)
    decision_reason = models.TextField(**text_limit())
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    decided_at = models.DateTimeField()
    signature = models.OneToOneField(Signature, on_delete=models.PROTECT, related_name="+")

    class Meta:
        ordering = ["decided_at"]
        constraints = [
            models.CheckConstraint(
                condition=~Q(decision_reason=""),
                name="lab_toxicity_decision_has_reason",
                violation_error_message="A decision on a lab toxicity needs a reason.",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.lab_result}: {self.get_decision_display()}"

    @property
    def subject(self):
        """The lab result's subject: whose site's investigators may decide, and whose audit
        trail the decision joins."""
        return self.lab_result.subject
