"""Oversight of the entered data: data queries, source data verification and locks (ICH E6).

Each points at one record the way the audit trail does: the model's label and the record's id.
"""

from django.conf import settings
from django.db import models
from django.db.models import Q

from .audit import AppendOnlyModel
from .base import AuditedModel
from .limits import text_limit
from .subject import Subject


class QueryState(models.TextChoices):
    OPEN = "open", "Open"
    ANSWERED = "answered", "Answered"
    CLOSED = "closed", "Closed"


class QueryOrigin(models.TextChoices):
    MANUAL = "manual", "Raised by a reviewer"
    EDIT_CHECK = "edit_check", "Edit check accepted with a reason"
    RECONCILIATION = "reconciliation", "Lab result without an adverse event"
    CONSISTENCY = "consistency", "Forms that contradict each other"
    DOSE_ABOVE_PLAN = "dose_above_plan", "Dose far above the plan (possible medication error)"


class DataQuery(AuditedModel):
    """A question on one field of one record, from a monitor, a data manager or an edit check."""

    subject = models.ForeignKey(Subject, on_delete=models.PROTECT, related_name="queries")
    model = models.CharField(max_length=60, help_text="e.g. ecrf.AdverseEvent")
    object_id = models.CharField(max_length=36)
    field = models.CharField(max_length=60, blank=True)
    origin = models.CharField(max_length=20, choices=QueryOrigin.choices)
    # What keeps an automatic query open, e.g. "reconciliation:<lab result id>"; empty for manual.
    cause = models.CharField(max_length=120, blank=True)
    state = models.CharField(max_length=10, choices=QueryState.choices, default=QueryState.OPEN)
    message = models.TextField(**text_limit())
    raised_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["created_at"]
        verbose_name = "data query"
        verbose_name_plural = "data queries"
        constraints = [
            models.UniqueConstraint(
                fields=["cause"],
                condition=~Q(cause="") & ~Q(state="closed"),
                name="one_open_query_per_cause",
            ),
            models.CheckConstraint(
                condition=Q(origin="manual", cause="", raised_by__isnull=False)
                | (~Q(origin="manual") & ~Q(cause="")),
                name="query_origin_matches_cause",
            ),
        ]
        indexes = [
            models.Index(fields=["subject", "state"]),
            models.Index(fields=["model", "object_id"]),
        ]

    def __str__(self) -> str:
        return f"Query on {self.model.split('.')[-1]} {self.field}: {self.get_state_display()}"


class QueryMessageKind(models.TextChoices):
    RAISED = "raised", "Raised"
    ANSWERED = "answered", "Answered"
    CLOSED = "closed", "Closed"
    REOPENED = "reopened", "Re-opened"


# The author the automatic checks write on their messages (ecrf.services.queries), and the name
# the pages give it: the site reads who asked, not which command ran.
AUTOMATIC_QUERY_AUTHOR = "command:automatic queries"
EDIT_CHECK_AUTHOR = "Edit check"


class DataQueryMessage(AppendOnlyModel):
    """One step of a query's conversation; kept for ever, in order."""

    query = models.ForeignKey(DataQuery, on_delete=models.PROTECT, related_name="messages")
    at = models.DateTimeField("time (UTC)")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    author = models.CharField(max_length=150)
    role = models.CharField(max_length=40, blank=True)
    kind = models.CharField(max_length=10, choices=QueryMessageKind.choices)
    text = models.TextField(blank=True, **text_limit())

    class Meta:
        ordering = ["at", "id"]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M} {self.author} {self.kind}"

    @property
    def author_label(self) -> str:
        """The author as the pages show it."""
        return EDIT_CHECK_AUTHOR if self.author == AUTOMATIC_QUERY_AUTHOR else self.author


class SourceVerification(AppendOnlyModel):
    """A monitor's mark that a record, as it stood at `record_version`, matches the source.

    The mark holds while the record keeps that version; any later change clears it.
    """

    subject = models.ForeignKey(Subject, on_delete=models.PROTECT, related_name="+")
    model = models.CharField(max_length=60)
    object_id = models.CharField(max_length=36)
    record_version = models.PositiveIntegerField()
    verified_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    verified_at = models.DateTimeField("verified at (UTC)")

    class Meta:
        ordering = ["verified_at", "id"]
        indexes = [models.Index(fields=["model", "object_id"])]

    def __str__(self) -> str:
        return f"{self.model} {self.object_id} v{self.record_version} verified"


class LockScope(models.TextChoices):
    RECORD = "record", "Form"
    VISIT = "visit", "Visit"
    SUBJECT = "subject", "Subject"


class DataLock(AuditedModel):
    """A data manager's lock on a form, a visit (with the forms of that visit) or a subject.

    While `locked`, nobody changes the data it covers; unlocking needs a reason.
    """

    subject = models.ForeignKey(Subject, on_delete=models.PROTECT, related_name="locks")
    scope = models.CharField(max_length=10, choices=LockScope.choices)
    model = models.CharField(max_length=60)
    object_id = models.CharField(max_length=36)
    locked = models.BooleanField(default=True)
    locked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    locked_at = models.DateTimeField("locked at (UTC)")
    unlocked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    unlocked_at = models.DateTimeField("unlocked at (UTC)", null=True, blank=True)
    unlock_reason = models.TextField(blank=True, **text_limit())

    class Meta:
        ordering = ["locked_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["model", "object_id"], condition=Q(locked=True), name="one_lock_per_record"
            ),
            models.CheckConstraint(
                condition=Q(locked=True, unlocked_at__isnull=True)
                | Q(locked=False, unlocked_at__isnull=False, unlocked_by__isnull=False)
                & ~Q(unlock_reason=""),
                name="unlock_needs_who_when_and_reason",
            ),
        ]
        indexes = [models.Index(fields=["subject", "locked"])]

    def __str__(self) -> str:
        state = "locked" if self.locked else "unlocked"
        return f"{self.get_scope_display()} {state}"
