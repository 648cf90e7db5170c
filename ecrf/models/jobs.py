"""A file a user asked for (safety summary, casebook PDF, export) and the background job making it.

Not clinical data: the record and its file expire, and the sweep (`manage.py report_jobs_sweep`)
removes the file and, later, the record. The file itself lives in settings.REPORTS_DIR, outside the
static files, and is served only through the job's download view to the user who asked for it.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q

from .limits import text_limit


class ReportKind(models.TextChoices):
    SAFETY_SUMMARY = "safety_summary", "Safety summary (PDF)"
    CASEBOOK = "casebook", "Casebook (PDF)"
    EXPORT = "export", "Export"


class JobStatus(models.TextChoices):
    QUEUED = "queued", "Waiting for a worker"
    RUNNING = "running", "Running"
    DONE = "done", "Ready"
    FAILED = "failed", "Failed"
    # Done, then its file was removed by the sweep (REPORT_FILE_HOURS after it was made).
    EXPIRED = "expired", "Expired"


ACTIVE_STATUSES = (JobStatus.QUEUED, JobStatus.RUNNING)


class ReportJob(models.Model):
    """One request for a file, by one user; only that user sees it.

    A running job holds a lease (`lease_until`) that its worker renews while it works. A worker
    that dies leaves the lease to run out, and the job is then failed: its half-written file was
    never renamed to `file_path`, which is set only together with the status DONE.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="report_jobs"
    )
    kind = models.CharField(max_length=20, choices=ReportKind.choices)
    study = models.ForeignKey("ecrf.Study", on_delete=models.PROTECT, related_name="+")
    subject = models.ForeignKey(
        "ecrf.Subject", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    fmt = models.CharField(max_length=10, blank=True, help_text="Export format (exports only).")
    cutoff = models.DateField(null=True, blank=True, help_text="Safety summary only.")
    generated_by = models.CharField(max_length=300, help_text="Who the file says made it.")
    task_id = models.CharField(max_length=64, blank=True)
    status = models.CharField(max_length=10, choices=JobStatus.choices, default=JobStatus.QUEUED)
    step = models.CharField(max_length=200, blank=True, help_text="What the job is doing now.")
    percent = models.PositiveSmallIntegerField(default=0)
    created_at = models.DateTimeField()
    started_at = models.DateTimeField(null=True, blank=True)
    lease_until = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    file_path = models.CharField(
        max_length=200, blank=True, help_text="Name of the finished file in REPORTS_DIR."
    )
    file_name = models.CharField(max_length=200, blank=True, help_text="Download name.")
    content_type = models.CharField(max_length=100, blank=True)
    file_size = models.PositiveBigIntegerField(null=True, blank=True)
    error = models.TextField(blank=True, **text_limit())

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["requested_by", "-created_at"], name="report_job_user_idx"),
            models.Index(fields=["status", "lease_until"], name="report_job_status_idx"),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(percent__lte=100), name="report_job_percent"),
            # A file is offered only by a finished job, and a finished job has its file.
            models.CheckConstraint(
                condition=Q(status=JobStatus.DONE, file_path__gt="")
                | (~Q(status=JobStatus.DONE) & Q(file_path="")),
                name="report_job_file_iff_done",
            ),
            models.CheckConstraint(
                condition=Q(kind=ReportKind.CASEBOOK, subject__isnull=False)
                | (~Q(kind=ReportKind.CASEBOOK) & Q(subject__isnull=True)),
                name="report_job_subject_iff_casebook",
            ),
            models.CheckConstraint(
                condition=Q(kind=ReportKind.EXPORT, fmt__gt="")
                | (~Q(kind=ReportKind.EXPORT) & Q(fmt="")),
                name="report_job_fmt_iff_export",
            ),
            models.CheckConstraint(
                condition=Q(kind=ReportKind.SAFETY_SUMMARY, cutoff__isnull=False)
                | (~Q(kind=ReportKind.SAFETY_SUMMARY) & Q(cutoff__isnull=True)),
                name="report_job_cutoff_iff_safety",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} of {self.study_id} for {self.requested_by_id}"

    def describe(self) -> str:
        """What was asked for, in words: "Safety summary of TEST-IL2 at 2026-04-30"."""
        if self.kind == ReportKind.SAFETY_SUMMARY:
            return f"Safety summary of {self.study.code} at {self.cutoff:%Y-%m-%d}"
        if self.kind == ReportKind.CASEBOOK:
            return f"Casebook of {self.subject.subject_code} ({self.study.code})"
        return f"{self.fmt.upper()} export of {self.study.code}"
