"""No browser or proxy cache keeps a signed-in user's pages: Cache-Control: no-store.

Issue #22: casebook pages, the audit CSV and exports came without Cache-Control, so a shared
computer's browser cache could keep patient data after the session ended.
"""

from __future__ import annotations

from django.urls import reverse

from tests.jobs import ask, fetch, run_jobs


def _no_store(response) -> bool:
    directives = {part.strip() for part in response.get("Cache-Control", "").split(",")}
    return {"no-store", "private"} <= directives


def test_casebook_pages_of_a_signed_in_user_are_not_stored(client, alice, subject):
    client.force_login(alice)
    for url in (
        reverse("home"),
        reverse("subject_detail", args=[subject.pk]),
        reverse("subject_casebook_pdf", args=[subject.pk]),
    ):
        response = client.get(url)
        assert response.status_code == 200, url
        assert _no_store(response), url
    job_page = ask(client, reverse("subject_casebook_pdf", args=[subject.pk]))
    run_jobs()
    assert _no_store(client.get(job_page))
    response = client.get(job_page + "file")
    assert response.status_code == 200 and _no_store(response)
    b"".join(response.streaming_content)  # the PDF file is closed once read


def test_the_audit_csv_is_not_stored(client, data_manager, subject):
    client.force_login(data_manager)
    response = client.get(reverse("audit_trail", args=[subject.pk]), {"format": "csv"})
    assert response["Content-Type"].startswith("text/csv")
    assert _no_store(response)


def test_an_export_download_is_not_stored(client, data_manager, subject):
    client.force_login(data_manager)
    response = fetch(client, reverse("export_file", args=[subject.study_id, "csv"]))
    assert response.status_code == 200
    assert response["Content-Disposition"].startswith("attachment")
    assert _no_store(response)
    assert response.body  # read through, which closes the file
