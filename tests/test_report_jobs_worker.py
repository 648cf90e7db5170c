"""Report jobs run by real workers (issue #15): a database worker process killed with SIGKILL
in the middle of a job, and one job through Redis with a real RQ worker.

The killed worker needs a database that another process sees: the PostgreSQL test database
(CI's second run). SQLite's test database lives in this process's memory, so there the dead
worker is simulated at the service level (tests/views/test_report_jobs.py).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.db import connection
from django.test import override_settings
from django.urls import reverse

from ecrf.models import JobStatus, ReportJob
from ecrf.services import report_jobs
from tests.jobs import ask, body

ROOT = Path(__file__).resolve().parents[1]
LEASE_SECONDS = 3
# The worker's casebook writer writes half a PDF, says so, and hangs until it is killed.
HANGING_WORKER = """
import time, django
django.setup()
import ecrf.tasks
from pathlib import Path
def hang(out, *args, **kwargs):
    out.write(b"%PDF-1.4 half a casebook")
    out.flush()
    Path({ready!r}).touch()
    time.sleep(600)
ecrf.tasks.casebook_write = hang
from django.core.management import call_command
call_command("db_worker", "--batch", "--no-startup-delay", "--no-reload", verbosity=0)
"""


def _database_url() -> str:
    s = connection.settings_dict
    auth = s["USER"] + (f":{s['PASSWORD']}" if s.get("PASSWORD") else "")
    return f"postgres://{auth}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{s['NAME']}"


def _wait_for(predicate, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return False


@pytest.mark.django_db(transaction=True)
def test_a_worker_killed_mid_job_leaves_the_job_failed_and_no_file_offered(
    client, alice, subject, reports_dir, settings, tmp_path
):
    if connection.vendor != "postgresql":
        pytest.skip("the SQLite test database is in this process's memory: no worker sees it")
    settings.REPORT_JOB_LEASE_SECONDS = LEASE_SECONDS
    client.force_login(alice)
    job_page = ask(client, reverse("subject_casebook_pdf", args=[subject.pk]))
    job = ReportJob.objects.get()
    ready = tmp_path / "writing"
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "trial.settings",
        "DJANGO_DEBUG": "1",
        "DATABASE_URL": _database_url(),
        "DJANGO_REPORTS_DIR": str(reports_dir),
        "DJANGO_REPORT_JOB_LEASE_SECONDS": str(LEASE_SECONDS),
    }
    env.pop("REDIS_URL", None)
    worker = subprocess.Popen(
        [sys.executable, "-c", HANGING_WORKER.format(ready=str(ready))], cwd=ROOT, env=env
    )
    try:
        assert _wait_for(ready.exists, 60), "the worker never started writing"
        job.refresh_from_db()
        assert job.status == JobStatus.RUNNING and job.lease_until
        partial = reports_dir / f".{job.pk}{report_jobs.PART_SUFFIX}"
        assert partial.read_bytes().startswith(b"%PDF")
        assert 'data-status="running"' in client.get(job_page).content.decode()
    finally:
        worker.send_signal(signal.SIGKILL)
        worker.wait(30)
    assert worker.returncode == -signal.SIGKILL

    # The lease the dead worker no longer renews runs out: the job is failed, no file offered.
    assert _wait_for(
        lambda: b'data-status="failed"' in client.get(job_page).content, LEASE_SECONDS + 10
    )
    page = client.get(job_page).content.decode()
    assert report_jobs.WORKER_LOST in page and "Request it again" in page
    assert client.get(job_page + "file").status_code == 404
    assert [p.name for p in reports_dir.iterdir()] == [partial.name]
    time.sleep(LEASE_SECONDS)  # the sweep leaves files younger than a lease alone
    result = report_jobs.report_jobs_sweep()
    assert (result.failed, result.files_removed) == (1, 1)
    assert ReportJob.objects.get().status == JobStatus.FAILED
    assert not list(reports_dir.iterdir())


def _redis_answers() -> bool:
    try:
        socket.create_connection(("127.0.0.1", 6379), timeout=0.5).close()
    except OSError:
        return False
    return True


@pytest.mark.skipif(not _redis_answers(), reason="no Redis server on 127.0.0.1:6379")
def test_one_job_runs_through_redis_with_a_real_rq_worker(client, alice, subject, settings):
    """The RQ backend on the Redis server: the request enqueues there, an RQ worker (burst mode,
    in this process so that it shares the test's database transaction) runs it."""
    import django_rq
    from django_tasks_rq import Job
    from rq import SimpleWorker

    # A queue of this test alone, so that no other run's worker takes its job.
    queue_name = f"ecrf-test-{uuid.uuid4().hex}"
    settings.REPORT_JOB_QUEUE = queue_name
    queues = ["default", queue_name]
    rq_queues = dict.fromkeys(queues, {"URL": "redis://127.0.0.1:6379/0"})
    tasks = {"default": {"BACKEND": "django_tasks_rq.RQBackend", "QUEUES": queues}}
    with override_settings(TASKS=tasks, RQ_QUEUES=rq_queues):
        client.force_login(alice)
        job_page = ask(client, reverse("subject_casebook_pdf", args=[subject.pk]))
        queue = django_rq.get_queue(queue_name, job_class=Job)
        try:
            job = ReportJob.objects.get()
            assert queue.job_ids == [job.task_id]
            assert job.status == JobStatus.QUEUED
            worker = SimpleWorker([queue], connection=queue.connection, job_class=Job)
            assert worker.work(burst=True)
        finally:
            queue.delete(delete_jobs=True)
    job.refresh_from_db()
    assert job.status == JobStatus.DONE
    download = client.get(job_page + "file")
    assert download.status_code == 200 and body(download).startswith(b"%PDF")
    assert django_settings.TASKS["default"]["BACKEND"] != "django_tasks_rq.RQBackend"
