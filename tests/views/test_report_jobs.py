"""Long reports as background jobs (issue #15): the request returns at once, the job page shows
progress and offers the file to its requester only, the download checks access again, files
expire, and a job whose worker died is failed, never done with a partial file.

The jobs run on the database backend with its own worker loop (tests/jobs.py), in this process.
"""

from __future__ import annotations

import datetime as dt
import os

import pytest
from django.test import override_settings
from django.urls import reverse
from django.utils import timezone

from ecrf.models import JobStatus, ReportJob, ReportKind, StudyAssignment
from ecrf.services import report_jobs
from ecrf.tasks import run_report_job
from tests.factories import user_create
from tests.jobs import ask, body, fetch, run_jobs


@pytest.fixture
def casebook_url(subject):
    return reverse("subject_casebook_pdf", args=[subject.pk])


def test_asking_for_the_safety_summary_returns_at_once_and_the_pdf_comes_through_the_job(
    client, bob, study, subject, reports_dir
):
    client.force_login(bob)
    url = reverse("safety_report", args=[study.pk])
    response = client.post(url, {"cutoff": "2026-04-30"})

    # Nothing was drawn in the request: the job waits for a worker and no file exists.
    job = ReportJob.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("report_job", args=[job.pk])
    assert (job.status, job.kind, job.cutoff) == (
        JobStatus.QUEUED,
        ReportKind.SAFETY_SUMMARY,
        dt.date(2026, 4, 30),
    )
    assert job.task_id and not list(reports_dir.glob("*"))
    page = client.get(response["Location"]).content.decode()
    assert 'data-status="queued"' in page and "Waiting for a worker" in page
    assert '<meta http-equiv="refresh" content="2">' in page
    assert reverse("report_job_file", args=[job.pk]) not in page
    assert client.get(reverse("report_job_file", args=[job.pk])).status_code == 404

    run_jobs()

    job.refresh_from_db()
    assert job.status == JobStatus.DONE and job.percent == 100
    assert job.file_size == (reports_dir / job.file_path).stat().st_size > 0
    page = client.get(response["Location"]).content.decode()
    assert 'data-status="done"' in page and "http-equiv" not in page
    download = client.get(reverse("report_job_file", args=[job.pk]))
    assert download.status_code == 200 and download["Content-Type"] == "application/pdf"
    assert body(download).startswith(b"%PDF")
    assert download["Content-Disposition"] == (
        'attachment; filename="safety-summary-TEST-IL2-2026-04-30.pdf"'
    )


def test_asking_again_while_the_job_waits_reuses_it_and_after_it_is_done_makes_a_new_one(
    client, alice, casebook_url
):
    client.force_login(alice)
    first = ask(client, casebook_url)
    assert ask(client, casebook_url) == first
    assert "already being made" in client.get(casebook_url).content.decode()
    run_jobs()
    assert ask(client, casebook_url) != first
    assert ReportJob.objects.count() == 2


def test_the_job_page_and_its_file_are_the_requesters_alone(
    client, alice, study, site_a, casebook_url
):
    client.force_login(alice)
    job_page = ask(client, casebook_url)
    run_jobs()
    assert body(client.get(job_page + "file")).startswith(b"%PDF")
    # A colleague of the same site and role, who may read the same casebook, gets 404.
    colleague = user_create("ada", "research_nurse", study, site_a)
    client.force_login(colleague)
    assert client.get(casebook_url).status_code == 200
    assert client.get(job_page).status_code == 404
    assert client.get(job_page + "file").status_code == 404
    assert b"jobs/" not in client.get(reverse("export_list")).content


def test_a_requester_who_lost_access_cannot_fetch_the_file(client, alice, site_b, casebook_url):
    client.force_login(alice)
    job_page = ask(client, casebook_url)
    run_jobs()
    # An administrator moves Alice to site B: site A's casebook is no longer hers to read.
    StudyAssignment.objects.filter(user=alice).update(site=site_b)
    assert client.get(job_page + "file").status_code == 404


def test_a_job_whose_requester_lost_access_before_it_ran_fails_and_writes_nothing(
    client, alice, site_b, casebook_url, reports_dir
):
    client.force_login(alice)
    job_page = ask(client, casebook_url)
    StudyAssignment.objects.filter(user=alice).update(site=site_b)
    run_jobs()
    job = ReportJob.objects.get()
    assert (job.status, job.error) == (JobStatus.FAILED, report_jobs.ACCESS_LOST)
    assert not list(reports_dir.glob("*"))
    assert report_jobs.ACCESS_LOST in client.get(job_page).content.decode()


def test_an_expired_file_is_gone_the_page_says_so_and_offers_a_new_request(
    client, bob, study, subject, reports_dir
):
    client.force_login(bob)
    url = reverse("safety_report", args=[study.pk])
    job_page = ask(client, url, {"cutoff": "2026-04-30"})
    run_jobs()
    job = ReportJob.objects.get()
    ReportJob.objects.filter(pk=job.pk).update(expires_at=timezone.now() - dt.timedelta(1))

    page = client.get(job_page).content.decode()
    assert 'data-status="expired"' in page and "This file has expired" in page
    assert f'action="{url}"' in page and 'name="cutoff" value="2026-04-30"' in page
    assert client.get(job_page + "file").status_code == 404

    result = report_jobs.report_jobs_sweep()
    assert (result.expired, result.failed) == (1, 0)
    job.refresh_from_db()
    assert (job.status, job.file_path) == (JobStatus.EXPIRED, "")
    assert not list(reports_dir.glob("*"))
    # The page's button asks for the same file again.
    assert ask(client, url, {"cutoff": "2026-04-30"}) != job_page


def test_a_job_whose_worker_died_shows_failed_and_never_offers_the_file_it_was_writing(
    client, alice, casebook_url, reports_dir
):
    """The worker is simulated at the service level: it claims the job, writes part of the
    file and stops (as a killed process would) without renewing its lease. The kill of a real
    worker process is tests/test_report_jobs_worker.py."""
    client.force_login(alice)
    job_page = ask(client, casebook_url)
    job = report_jobs.report_job_claim(ReportJob.objects.get().pk)
    partial = report_jobs.reports_dir() / f".{job.pk}{report_jobs.PART_SUFFIX}"
    partial.write_bytes(b"%PDF-1.4 half a casebook")
    page = client.get(job_page).content.decode()
    assert 'data-status="running"' in page and "http-equiv" in page

    ReportJob.objects.filter(pk=job.pk).update(lease_until=timezone.now() - dt.timedelta(1))

    page = client.get(job_page).content.decode()
    assert 'data-status="failed"' in page and report_jobs.WORKER_LOST in page
    assert "Request it again" in page and "http-equiv" not in page
    assert client.get(job_page + "file").status_code == 404
    # Asking again makes a new job: the lost one is not reused.
    assert ask(client, casebook_url) != job_page

    old = (timezone.now() - dt.timedelta(hours=1)).timestamp()
    os.utime(partial, (old, old))
    result = report_jobs.report_jobs_sweep()
    assert (result.failed, result.files_removed) == (1, 1)
    assert ReportJob.objects.get(pk=job.pk).status == JobStatus.FAILED
    assert not partial.exists()
    # A stalled worker that comes back is not allowed to finish it, and its file is removed.
    assert not report_jobs.report_job_write(
        job, lambda out: out.write(b"%PDF late"), file_name="x.pdf", content_type="application/pdf"
    )
    assert ReportJob.objects.get(pk=job.pk).status == JobStatus.FAILED
    assert not list(report_jobs.reports_dir().glob("*"))


def test_a_job_runs_once_even_if_its_task_is_delivered_twice(client, alice, casebook_url):
    client.force_login(alice)
    ask(client, casebook_url)
    job = ReportJob.objects.get()
    run_jobs()
    assert run_report_job.call(str(job.pk)) == "not waiting"
    assert ReportJob.objects.get().status == JobStatus.DONE


def test_a_failed_render_fails_the_job_with_a_sentence_and_keeps_no_file(
    client, alice, casebook_url, reports_dir, monkeypatch
):
    def broken(*args, **kwargs):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr("ecrf.tasks.casebook_write", broken)
    client.force_login(alice)
    job_page = ask(client, casebook_url)
    run_jobs()
    page = client.get(job_page).content.decode()
    assert "The file could not be made (RuntimeError)" in page and "disk on fire" not in page
    assert not list(reports_dir.glob("*"))


def test_a_job_that_cannot_be_queued_fails_at_once(client, alice, casebook_url):
    unreachable = {"default": {"URL": "redis://127.0.0.1:1/0"}}
    tasks = {"default": {"BACKEND": "django_tasks_rq.RQBackend", "QUEUES": ["default"]}}
    client.force_login(alice)
    with override_settings(TASKS=tasks, RQ_QUEUES=unreachable):
        job_page = ask(client, casebook_url)
    job = ReportJob.objects.get()
    assert job.status == JobStatus.FAILED
    assert job.error == report_jobs.NOT_QUEUED.format(error="ConnectionError")
    assert "Request it again" in client.get(job_page).content.decode()


def test_the_request_pages_are_forms_that_post(client, alice, bob, study, subject, casebook_url):
    """The links of the casebook and the DLT dashboard are buttons of POST forms; a GET shows
    the form and asks for nothing."""
    client.force_login(alice)
    detail = client.get(reverse("subject_detail", args=[subject.pk])).content.decode()
    assert f'method="post" action="{casebook_url}"' in detail
    assert 'id="report-request"' in client.get(casebook_url).content.decode()
    client.force_login(bob)
    dashboard = client.get(reverse("dlt_dashboard")).content.decode()
    assert f'method="post" action="{reverse("safety_report", args=[study.pk])}"' in dashboard
    assert not ReportJob.objects.exists()


def test_the_export_page_lists_the_users_recent_files(client, data_manager, study, subject):
    client.force_login(data_manager)
    response = fetch(client, reverse("export_file", args=[study.pk, "sdtm"]))
    assert response.status_code == 200
    page = client.get(reverse("export_list")).content.decode()
    job = ReportJob.objects.get()
    assert reverse("report_job", args=[job.pk]) in page and "SDTM export of TEST-IL2" in page
