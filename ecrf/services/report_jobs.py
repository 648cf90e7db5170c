"""The life of a requested file (ecrf.models.ReportJob): asked for, claimed by a worker, renewed,
finished or failed, expired and swept.

A job is not clinical data, so these changes are not audited; each is one compare-and-set
update on the job's status, so that a worker that lost its lease can never mark its job done
after the page has shown it failed.

The file is written to a hidden temporary name in settings.REPORTS_DIR, flushed to disk and
renamed in one step to its final name; only then is the job marked done. A worker killed while
writing leaves a temporary file that no job points at (the sweep removes it) and a running job
whose lease runs out: `effective_status` shows it failed from then on.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from django.conf import settings
from django.db import connection
from django.utils import timezone

from .. import access
from ..models import ACTIVE_STATUSES, JobStatus, ReportJob, ReportKind, Study, Subject
from ..models.limits import TEXT_MAX

logger = logging.getLogger(__name__)

WORKER_LOST = (
    "The worker making this file stopped before it was finished (it was stopped or its machine "
    "went down). No file was kept: request it again."
)
NOT_QUEUED = "The job could not be queued ({error}): request it again later."
ACCESS_LOST = "You no longer have access to what this file contains."
UNEXPECTED = "The file could not be made ({error}). Request it again; if it fails again, tell "
UNEXPECTED += "the administrator."
PART_SUFFIX = ".part"
# Records of finished jobs are kept this long for the user's list of files, then deleted.
KEEP_RECORDS = dt.timedelta(days=30)


def _lease() -> dt.timedelta:
    return dt.timedelta(seconds=settings.REPORT_JOB_LEASE_SECONDS)


def reports_dir() -> Path:
    """The private directory of the finished files (created, owner-only, when first needed)."""
    directory = Path(settings.REPORTS_DIR)
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    return directory


# --- Asking for a file ------------------------------------------------------------------------


def report_job_request(
    *,
    user,
    kind: str,
    study: Study,
    generated_by: str,
    subject: Subject | None = None,
    fmt: str = "",
    cutoff: dt.date | None = None,
) -> tuple[ReportJob, bool]:
    """The user's waiting or running job for the same file, or a new one: (job, created).

    A job whose worker was lost is not reused. The caller enqueues a new job's task.
    """
    now = timezone.now()
    same = ReportJob.objects.filter(
        requested_by=user, kind=kind, study=study, subject=subject, fmt=fmt, cutoff=cutoff
    )
    for job in same.filter(status__in=ACTIVE_STATUSES).order_by("-created_at"):
        if effective_status(job, now) in ACTIVE_STATUSES:
            return job, False
    job = ReportJob.objects.create(
        requested_by=user,
        kind=kind,
        study=study,
        subject=subject,
        fmt=fmt,
        cutoff=cutoff,
        generated_by=generated_by,
        created_at=now,
    )
    return job, True


def report_job_queued(job: ReportJob, *, task_id: str) -> None:
    """Record the task that will run the job."""
    ReportJob.objects.filter(pk=job.pk).update(task_id=task_id)
    job.task_id = task_id


def report_job_not_queued(job: ReportJob, error: Exception) -> None:
    """The task could not be enqueued (the queue's server is down): the job fails at once."""
    _fail(job.pk, NOT_QUEUED.format(error=type(error).__name__), statuses=[JobStatus.QUEUED])


# --- What a worker does -----------------------------------------------------------------------


def report_job_claim(job_id) -> ReportJob | None:
    """Take a waiting job: it is running, with a lease. None if it is not waiting (already run,
    or failed), so that a task delivered twice runs once."""
    now = timezone.now()
    claimed = ReportJob.objects.filter(pk=job_id, status=JobStatus.QUEUED).update(
        status=JobStatus.RUNNING,
        started_at=now,
        lease_until=now + _lease(),
        step="Starting",
        percent=5,
    )
    return ReportJob.objects.select_related("study", "subject").get(pk=job_id) if claimed else None


def report_job_progress(job: ReportJob, *, step: str, percent: int) -> None:
    """Say what the job is doing now (the page shows it) and renew its lease."""
    ReportJob.objects.filter(pk=job.pk, status=JobStatus.RUNNING).update(
        step=step, percent=percent, lease_until=timezone.now() + _lease()
    )


@contextmanager
def report_job_lease(job: ReportJob) -> Iterator[None]:
    """Renew the job's lease every third of its length while the block runs.

    The rendering calls run for seconds to minutes without a place to report progress, so a
    thread renews the lease meanwhile; it stops with the block, and the lease of a worker that
    is killed runs out.
    """
    interval = _lease().total_seconds() / 3
    stop = threading.Event()

    def renew() -> None:
        try:
            while not stop.wait(interval):
                ReportJob.objects.filter(pk=job.pk, status=JobStatus.RUNNING).update(
                    lease_until=timezone.now() + _lease()
                )
        finally:
            connection.close()  # the thread's own connection

    thread = threading.Thread(target=renew, name=f"lease-{job.pk}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


def report_job_write(
    job: ReportJob,
    write: Callable[[BinaryIO], None],
    *,
    file_name: str,
    content_type: str,
) -> bool:
    """Write the file with `write(out)` and mark the job done; False if the job had lost its
    lease meanwhile (the file is then removed and the job stays failed).

    The file reaches its final name only whole: written under a temporary name, flushed to disk,
    renamed; the job is marked done after the rename, in one update that also checks the job
    still holds its lease.
    """
    directory = reports_dir()
    suffix = Path(file_name).suffix
    final = directory / f"{job.pk}{suffix}"
    part = directory / f".{job.pk}{PART_SUFFIX}"
    try:
        with part.open("wb") as out:
            write(out)
            out.flush()
            os.fsync(out.fileno())
        os.replace(part, final)
        _fsync_directory(directory)
    except BaseException:
        part.unlink(missing_ok=True)
        raise
    now = timezone.now()
    done = ReportJob.objects.filter(
        pk=job.pk, status=JobStatus.RUNNING, lease_until__gte=now
    ).update(
        status=JobStatus.DONE,
        step="",
        percent=100,
        finished_at=now,
        expires_at=now + dt.timedelta(hours=settings.REPORT_FILE_HOURS),
        file_path=final.name,
        file_name=file_name,
        content_type=content_type,
        file_size=final.stat().st_size,
    )
    if not done:
        final.unlink(missing_ok=True)
    return bool(done)


def report_job_fail(job: ReportJob, message: str) -> None:
    """The job failed with `message` (shown to the user)."""
    _fail(job.pk, message, statuses=[JobStatus.RUNNING])


def _fail(job_id, message: str, *, statuses) -> None:
    ReportJob.objects.filter(pk=job_id, status__in=statuses).update(
        status=JobStatus.FAILED, step="", finished_at=timezone.now(), error=message[:TEXT_MAX]
    )


def _fsync_directory(directory: Path) -> None:
    """Make the rename itself durable (POSIX); a no-op where directories cannot be opened."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


# --- What the pages read ----------------------------------------------------------------------


def effective_status(job: ReportJob, now: dt.datetime | None = None) -> str:
    """The job's status as the user should see it: a running job whose lease ran out has lost
    its worker and is failed; a done job past its expiry is expired."""
    now = now or timezone.now()
    if job.status == JobStatus.RUNNING and job.lease_until and job.lease_until < now:
        return JobStatus.FAILED
    if job.status == JobStatus.DONE and job.expires_at and job.expires_at <= now:
        return JobStatus.EXPIRED
    return job.status


def job_error(job: ReportJob, now: dt.datetime | None = None) -> str:
    if job.status == JobStatus.RUNNING and effective_status(job, now) == JobStatus.FAILED:
        return WORKER_LOST
    return job.error


def job_file(job: ReportJob) -> Path | None:
    """The finished file of a job that is done and not expired, if it is still on disk."""
    if effective_status(job) != JobStatus.DONE or not job.file_path:
        return None
    path = Path(settings.REPORTS_DIR) / job.file_path
    return path if path.is_file() else None


def get_job_for_user(user, job_id) -> ReportJob:
    """The job if `user` asked for it; 404 for anyone else, as for a missing id."""
    from django.shortcuts import get_object_or_404

    return get_object_or_404(
        ReportJob.objects.select_related("study", "subject"), pk=job_id, requested_by=user
    )


def recent_jobs_for_user(user, limit: int = 10) -> list[ReportJob]:
    return list(
        ReportJob.objects.filter(requested_by=user)
        .select_related("study", "subject")
        .order_by("-created_at")[:limit]
    )


def ensure_job_access(user, job: ReportJob) -> None:
    """The check of the page the file comes from, run again: Http404 or PermissionDenied."""
    from ..exports.permissions import get_study_for_export

    if job.kind == ReportKind.SAFETY_SUMMARY:
        study = access.get_study_for_user(user, job.study_id)
        access.ensure_can(user, access.Action.SAFETY_REPORT, study=study)
    elif job.kind == ReportKind.CASEBOOK:
        access.get_subject_for_user(user, job.subject_id)
    else:
        get_study_for_export(user, job.study_id)


# --- The sweep --------------------------------------------------------------------------------


@dataclass
class SweepResult:
    failed: int = 0
    expired: int = 0
    deleted: int = 0
    files_removed: int = 0


def report_jobs_sweep(now: dt.datetime | None = None) -> SweepResult:
    """Fail the jobs whose worker was lost, remove expired files, delete old records and remove
    files that no finished job points at (a killed worker's temporary file)."""
    now = now or timezone.now()
    result = SweepResult()
    result.failed = ReportJob.objects.filter(status=JobStatus.RUNNING, lease_until__lt=now).update(
        status=JobStatus.FAILED, step="", finished_at=now, error=WORKER_LOST
    )
    directory = Path(settings.REPORTS_DIR)
    for job in ReportJob.objects.filter(status=JobStatus.DONE, expires_at__lte=now):
        (directory / job.file_path).unlink(missing_ok=True)
        result.expired += ReportJob.objects.filter(pk=job.pk, status=JobStatus.DONE).update(
            status=JobStatus.EXPIRED, file_path=""
        )
    result.deleted, _ = (
        ReportJob.objects.exclude(status__in=ACTIVE_STATUSES)
        .filter(created_at__lt=now - KEEP_RECORDS)
        .delete()
    )
    if directory.is_dir():
        # A file younger than a lease may belong to a job finishing right now.
        settled = (now - _lease()).timestamp()
        kept = set(
            ReportJob.objects.filter(status=JobStatus.DONE).values_list("file_path", flat=True)
        )
        for path in directory.iterdir():
            if path.is_file() and path.name not in kept and path.stat().st_mtime < settled:
                path.unlink(missing_ok=True)
                result.files_removed += 1
    return result
