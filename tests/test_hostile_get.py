"""Hostile GET input answers 400 or the page, never a server error (issue #22: NUL bytes in
query strings and a year-9999 cutoff gave 500s).

Every URL of the project is walked, as in tests/test_url_access.py, by a data manager and a
nurse; the admin's change lists by an administrator.
"""

from __future__ import annotations

import pytest
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from django.urls import reverse
from django.utils import timezone

from ecrf.middleware import NUL_REFUSED
from tests.factories import user_create as _user
from tests.jobs import ask, run_jobs
from tests.test_url_access import _project_urls, _url

NUL_QUERY = "?study=%00&agent=%00&site=%00&q=%00&cutoff=9999-12-31&page=%00"
# Nothing the middleware refuses, only values a page has to cope with.
ODD_QUERY = (
    "?study=nope&agent=nope&site=nope&q=%25%27%22&cutoff=9999-12-31&date=9999-12-31"
    "&page=99999999999999999999&kind=nope&tab=nope&fmt=nope"
)


@pytest.fixture
def walkers(study, site_a, data_manager):
    return [data_manager, _user("nina", "research_nurse", study, site_a)]


def _finish(response):
    """Close a response as a WSGI server would, leaving the test's database connection open.

    The test client closes a page itself, and a download once its content has been read,
    each time with Django's `close_old_connections` kept off the `request_finished` signal. A
    second `response.close()` sends that signal again with the handler on: inside the test's
    transaction autocommit is off, so the handler closes the connection. On SQLite's in-memory
    database that close does nothing; on PostgreSQL the next query fails with "the connection
    is closed". Reading a download through closes it, and its temporary file, the client's way.
    """
    if response.streaming:
        b"".join(response.streaming_content)


def _walk(client, users, records, query):
    answers = {}
    for user in users:
        client.force_login(user)
        for name, pattern in _project_urls():
            response = client.get(_url(pattern, records) + query)
            answers[(user.username, name)] = response.status_code
            _finish(response)  # a download holds its temporary file until closed
    return answers


def test_the_walk_closes_a_download_and_keeps_its_database_connection(
    client, data_manager, site_a_records
):
    """The walk reads a download through: its file is closed and the next query still runs.

    It closed downloads with `response.close()`, which on PostgreSQL closed the test's
    database connection (see `_finish`): the walk's next sign-in failed with "the connection
    is closed" after a page of 400s.
    """
    client.force_login(data_manager)
    job_page = ask(client, reverse("export_file", args=[site_a_records["study_id"], "csv"]))
    run_jobs()
    response = client.get(job_page + "file")
    assert response.status_code == 200 and response.streaming
    _finish(response)
    assert response.closed  # with the file it streamed
    assert get_user_model().objects.filter(pk=data_manager.pk).exists()
    client.force_login(data_manager)
    assert client.get(reverse("home")).status_code == 200


def test_a_nul_in_the_query_string_is_a_400_on_every_page(client, walkers, site_a_records):
    answers = _walk(client, walkers, site_a_records, NUL_QUERY)
    assert len(answers) > 40
    assert {key: code for key, code in answers.items() if code != 400} == {}


def test_odd_values_and_a_year_9999_cutoff_give_no_server_error(client, walkers, site_a_records):
    answers = _walk(client, walkers, site_a_records, ODD_QUERY)
    assert {key: code for key, code in answers.items() if code >= 500} == {}


def test_a_nul_in_a_posted_form_is_a_400_and_writes_nothing(client, alice, site_a_records):
    from ecrf.models import AuditEvent

    client.force_login(alice)
    before = AuditEvent.objects.count()
    url = reverse("query_answer", args=[site_a_records["query_id"]])
    response = client.post(url, {"message": "fine\x00", "loaded_version": "1"})
    assert response.status_code == 400 and NUL_REFUSED in response.content.decode()
    assert AuditEvent.objects.count() == before


@pytest.mark.parametrize("name", ["sessionid", "csrftoken", "other"])
def test_a_nul_in_a_cookie_is_a_400_not_a_database_error(client, data_manager, name):
    """A quoted cookie spells NUL as the octal escape \\000 (RFC 6265 cookies are ASCII; Django's
    parser decodes the escape): as the session key it made PostgreSQL's session lookup raise
    "PostgreSQL text fields cannot contain NUL (0x00) bytes", a server error."""
    client.force_login(data_manager)
    signed_in = client.cookies["sessionid"].value
    client.cookies.load(f'{name}="abcdefgh\\000ij"')
    response = client.get(reverse("home"))
    assert response.status_code == 400 and NUL_REFUSED in response.content.decode()
    # The connection is still usable, and the session without the NUL still signs in.
    client.cookies.load(f"sessionid={signed_in}")
    if name != "sessionid":
        del client.cookies[name]
    assert client.get(reverse("home")).status_code == 200


def test_a_nul_in_the_user_agent_of_a_refused_sign_in_is_a_400_and_writes_nothing(
    client, data_manager
):
    """django-axes records a refused sign-in with its user agent, which PostgreSQL refused."""
    from axes.models import AccessAttempt

    credentials = {"username": "dana", "password": "not the password"}
    response = client.post(reverse("login"), credentials, HTTP_USER_AGENT="probe\x00")
    assert response.status_code == 400 and NUL_REFUSED in response.content.decode()
    assert not AccessAttempt.objects.exists()
    assert client.post(reverse("login"), credentials, HTTP_USER_AGENT="probe").status_code == 200
    assert AccessAttempt.objects.get().user_agent == "probe"


def test_a_cutoff_after_today_is_a_400_naming_the_cutoff(client, study, bob):
    client.force_login(bob)
    url = reverse("safety_report", args=[study.pk])
    response = client.get(url + "?cutoff=9999-12-31")
    assert response.status_code == 400
    assert "The cutoff (9999-12-31) is after today" in response.content.decode()
    today = timezone.localdate().isoformat()
    assert client.get(url + f"?cutoff={today}").status_code == 200


@pytest.mark.parametrize("command", ["safety_report", "dlt_report"])
def test_the_report_commands_refuse_a_cutoff_after_today(study, tmp_path, command):
    out = ["--out", str(tmp_path / "report.pdf")] if command == "safety_report" else []
    with pytest.raises(CommandError, match=r"--cutoff: The cutoff \(9999-12-31\) is after today"):
        call_command(command, "--study", study.code, "--cutoff", "9999-12-31", *out)


def _changelists():
    return [
        reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")
        for model in admin.site._registry
    ]


def test_admin_change_lists_answer_400_to_a_nul_filter_and_search(client, site_a_records):
    root = get_user_model().objects.create_superuser("root", password="correct horse battery")
    client.force_login(root)
    answers = {}
    for url in _changelists():
        for query in ("?q=%00", "?site__code=%00", "?study__id__exact=%00"):
            answers[url + query] = client.get(url + query).status_code
    assert len(answers) > 20
    assert {url: code for url, code in answers.items() if code != 400} == {}
    # Without the NUL the same filters are shown (or ignored), not refused.
    odd = {url: client.get(url + "?q=x&site__code=x").status_code for url in _changelists()}
    assert {url: code for url, code in odd.items() if code >= 500} == {}
