"""Background jobs (django-tasks): the safety summary, the casebook PDF and the exports.

A page asks for a file with `request_report`; a worker (`manage.py db_worker` with the database
backend, `manage.py rqworker` with RQ) runs `run_report_job`, which makes the file with the same
functions the management commands use, for what the requester may see at that moment.
"""

from __future__ import annotations

import datetime as dt
import logging
import shutil

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.utils import timezone
from django_tasks import task

from . import access
from .exports import ExportError, export_download
from .exports.permissions import export_subjects
from .models import ReportJob, ReportKind, Study, Subject
from .reports.casebook import casebook_filename, casebook_load, casebook_write
from .reports.safety import render_safety_report
from .services import report_jobs

logger = logging.getLogger(__name__)

EXPORT_REFUSED = "The {fmt} export of {study} cannot be written: {error}"


def request_report(
    *,
    user,
    kind: str,
    study: Study,
    generated_by: str,
    subject: Subject | None = None,
    fmt: str = "",
    cutoff: dt.date | None = None,
) -> ReportJob:
    """The user's job for this file: the one already waiting or running, or a new one, queued.

    The caller has checked the user's access; the task checks it again when it runs.
    """
    job, created = report_jobs.report_job_request(
        user=user,
        kind=kind,
        study=study,
        subject=subject,
        fmt=fmt,
        cutoff=cutoff,
        generated_by=generated_by,
    )
    if created:
        try:
            queued = run_report_job.using(queue_name=settings.REPORT_JOB_QUEUE)
            result = queued.enqueue(str(job.pk))
        except Exception as exc:  # the queue's server (Redis) is down or refuses
            logger.exception("Report job %s could not be queued", job.pk)
            report_jobs.report_job_not_queued(job, exc)
        else:
            report_jobs.report_job_queued(job, task_id=str(result.id))
        job.refresh_from_db()
    return job


@task()
def run_report_job(job_id: str) -> str:
    """Make the file of one job; returns the job's final status."""
    job = report_jobs.report_job_claim(job_id)
    if job is None:
        return "not waiting"
    try:
        with report_jobs.report_job_lease(job):
            MAKERS[job.kind](job)
    except (Http404, PermissionDenied):
        report_jobs.report_job_fail(job, report_jobs.ACCESS_LOST)
    except ExportError as exc:
        report_jobs.report_job_fail(
            job, EXPORT_REFUSED.format(fmt=job.fmt, study=job.study.code, error=exc)
        )
    except BaseException as exc:
        # The backend records the traceback; the user reads a sentence.
        report_jobs.report_job_fail(job, report_jobs.UNEXPECTED.format(error=type(exc).__name__))
        raise
    job.refresh_from_db()
    return job.status


def _make_safety_summary(job: ReportJob) -> None:
    user = job.requested_by
    report_jobs.ensure_job_access(user, job)
    report_jobs.report_job_progress(job, step="Reading the data and drawing the PDF", percent=20)
    report_jobs.report_job_write(
        job,
        lambda out: render_safety_report(
            job.study, cutoff=job.cutoff, generated_by=job.generated_by, out=out
        ),
        file_name=f"safety-summary-{job.study.code}-{job.cutoff.isoformat()}.pdf",
        content_type="application/pdf",
    )


def _make_casebook(job: ReportJob) -> None:
    user = job.requested_by
    report_jobs.ensure_job_access(user, job)
    subject = job.subject
    # The audit trail section only for those who read the trail (not sponsor viewers).
    include_audit = access.can(user, access.Action.READ_AUDIT, site=subject.site)
    report_jobs.report_job_progress(job, step="Reading the casebook", percent=15)
    casebook = casebook_load(subject, include_audit=include_audit)
    report_jobs.report_job_progress(job, step="Drawing the PDF", percent=50)
    generated_at = timezone.now()
    report_jobs.report_job_write(
        job,
        lambda out: casebook_write(
            out, casebook, generated_at=generated_at, generated_by=job.generated_by
        ),
        file_name=casebook_filename(subject),
        content_type="application/pdf",
    )


def _make_export(job: ReportJob) -> None:
    user = job.requested_by
    report_jobs.ensure_job_access(user, job)
    report_jobs.report_job_progress(job, step="Writing the export files", percent=15)
    # The subjects the requester sees now, which may be fewer than when they asked.
    name, content_type, download = export_download(
        job.study, job.fmt, export_subjects(user, job.study)
    )
    report_jobs.report_job_progress(job, step="Saving the file", percent=90)
    with download:
        report_jobs.report_job_write(
            job,
            lambda out: shutil.copyfileobj(download, out),
            file_name=name,
            content_type=content_type,
        )


MAKERS = {
    ReportKind.SAFETY_SUMMARY: _make_safety_summary,
    ReportKind.CASEBOOK: _make_casebook,
    ReportKind.EXPORT: _make_export,
}
