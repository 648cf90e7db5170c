"""Running the background jobs in tests: the database backend's own worker, in this process.

The worker is django-tasks-db's `db_worker` loop in batch mode (it runs every waiting task, then
returns), on the test's database connection, so it sees the rows the test wrote.
"""

from __future__ import annotations

from unittest import mock

from django.http import HttpResponse
from django.urls import reverse
from django_tasks_db.management.commands.db_worker import Worker


def run_jobs() -> None:
    """Run every waiting task with the database backend's worker, then return.

    The worker closes the database connection between tasks as a request would; inside a
    test's transaction that close would end the test's connection on PostgreSQL, so the loop
    runs here without it (it is all the worker loop is given to skip).
    """
    with mock.patch(
        "django_tasks_db.management.commands.db_worker.close_old_connections", lambda: None
    ):
        _worker().run()


def _worker() -> Worker:
    return Worker(
        queue_names=["default"],
        interval=0,
        batch=True,
        backend_name="default",
        startup_delay=False,
        max_tasks=None,
        worker_id="pytest",
        excluded_queue_names=[],
    )


def ask(client, url: str, data: dict | None = None) -> str:
    """POST the request form at `url`; the job page's address it redirects to."""
    response = client.post(url, data or {})
    assert response.status_code == 302, response.content[:300]
    location = response["Location"]
    assert location.startswith("/jobs/"), location
    return location


def body(response: HttpResponse) -> bytes:
    """The content of a download (a streamed file) or of a page."""
    if response.streaming:
        return b"".join(response.streaming_content)
    return response.content


def fetch(client, url: str, data: dict | None = None) -> HttpResponse:
    """Ask for the file at `url`, run the job, and download it: the file's response, with
    `.body` holding its bytes."""
    job_page = ask(client, url, data)
    run_jobs()
    page = client.get(job_page)
    assert page.status_code == 200
    file_url = job_page + "file"
    if file_url.encode() not in page.content:
        from django_tasks_db.models import DBTaskResult

        failed = [r.traceback for r in DBTaskResult.objects.filter(status="FAILED")]
        raise AssertionError(failed or page.content.decode().split("<main")[-1][:1500])
    assert file_url == reverse("report_job_file", args=[job_page.split("/")[2]])
    response = client.get(file_url)
    response.body = body(response) if response.status_code == 200 else b""
    return response
