"""The pages of a requested file: the request form, the job's progress, and its download.

The safety summary, the casebook PDF and the exports take seconds to minutes, so their pages ask
for the file (a POST) and redirect at once to the job's page, which refreshes itself until the
file is ready. The job's page and its file are the requester's alone (404 for anyone else), and
the download runs the access check of the page the file came from again.
"""

from __future__ import annotations

from uuid import UUID

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import path, reverse
from django.views.decorators.http import require_GET

from ..models import ACTIVE_STATUSES, JobStatus, ReportJob, ReportKind
from ..services import report_jobs
from ..tasks import request_report
from .subjects import role_label

# Seconds between two refreshes of a waiting or running job's page.
REFRESH_SECONDS = 2
FILE_GONE = "This file has expired and was removed."


def request_url(job: ReportJob) -> str:
    """The page that asks for this job's file (its "request again" form posts there)."""
    if job.kind == ReportKind.SAFETY_SUMMARY:
        return reverse("safety_report", args=[job.study_id])
    if job.kind == ReportKind.CASEBOOK:
        return reverse("subject_casebook_pdf", args=[job.subject_id])
    return reverse("export_file", args=[job.study_id, job.fmt])


def request_fields(job: ReportJob) -> dict[str, str]:
    """The form fields of the request (the safety summary's cutoff)."""
    return {"cutoff": job.cutoff.isoformat()} if job.cutoff else {}


def start_job(request: HttpRequest, **what) -> HttpResponse:
    """Ask for the file (reusing a waiting or running job for the same one) and go to its page."""
    job = request_report(user=request.user, **what)
    return redirect("report_job", job_id=job.pk)


def request_page(
    request: HttpRequest, *, title: str, action: str, fields: dict[str, str], **what
) -> HttpResponse:
    """The page of a file not yet asked for: what it will contain and the button that asks."""
    active = [
        job
        for job in ReportJob.objects.filter(
            requested_by=request.user, status__in=ACTIVE_STATUSES, **what
        ).select_related("study", "subject")
        if report_jobs.effective_status(job) in ACTIVE_STATUSES
    ]
    return render(
        request,
        "ecrf/report_request.html",
        {
            "title": title,
            "action": action,
            "fields": fields,
            "active": active[:1],
            "recent": report_jobs.recent_jobs_for_user(request.user),
            "role_label": role_label(request.user),
        },
    )


@login_required
@require_GET
def report_job(request: HttpRequest, job_id: UUID) -> HttpResponse:
    job = report_jobs.get_job_for_user(request.user, job_id)
    status = report_jobs.effective_status(job)
    has_file = status == JobStatus.DONE and report_jobs.job_file(job) is not None
    gone = status == JobStatus.EXPIRED or (status == JobStatus.DONE and not has_file)
    return render(
        request,
        "ecrf/report_job.html",
        {
            "job": job,
            "status": JobStatus.EXPIRED if gone else status,
            "status_label": JobStatus(JobStatus.EXPIRED if gone else status).label,
            "waiting": status in ACTIVE_STATUSES,
            "refresh_seconds": REFRESH_SECONDS,
            "error": report_jobs.job_error(job),
            "gone": FILE_GONE if gone else "",
            "request_url": request_url(job),
            "request_fields": request_fields(job),
            "recent": report_jobs.recent_jobs_for_user(request.user),
            "role_label": role_label(request.user),
            "keep_hours": settings.REPORT_FILE_HOURS,
        },
    )


@login_required
@require_GET
def report_job_file(request: HttpRequest, job_id: UUID) -> HttpResponse:
    job = report_jobs.get_job_for_user(request.user, job_id)
    # The rights of the page the file came from, as they are now: a user who lost them since
    # asking gets nothing.
    report_jobs.ensure_job_access(request.user, job)
    path = report_jobs.job_file(job)
    if path is None:
        raise Http404("This job has no file to download (not ready, failed or expired).")
    return FileResponse(
        path.open("rb"), as_attachment=True, filename=job.file_name, content_type=job.content_type
    )


urlpatterns = [
    path("jobs/<uuid:job_id>/", report_job, name="report_job"),
    path("jobs/<uuid:job_id>/file", report_job_file, name="report_job_file"),
]
