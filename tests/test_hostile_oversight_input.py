"""Hostile text posted by every role to the oversight forms: the DLT decision, raising,
answering, closing and re-opening a query, the sign-off and the unlock.

Whatever comes in: no server error; a role without the right is refused (403/404) and nothing
is written; a refused or invalid form writes nothing; text shown back is escaped. Then the
saved hostile text is read back from the casebook page, the casebook PDF, the safety summary
PDF, the CSV export and the admin change pages: escaped in HTML, printed literally (not as
reportlab markup) in the PDFs, quoted where a spreadsheet would run it as a formula.
"""

from __future__ import annotations

import csv
import io
import zipfile

import pdfplumber
import pytest
from django.urls import reverse
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ecrf.models import AuditEvent, DataQuery, DltAssessment, LabResult
from ecrf.models.limits import TEXT_MAX
from tests.factories import PASSWORD, user_create
from tests.jobs import fetch
from tests.test_url_access import _project_urls, _snapshot, _url

MARKUP = "<script>alert('x')</script>"
HOSTILE = [
    MARKUP,
    "<para>bold</para><font color=red>red</font>",
    "=cmd|' /C calc'!A0",
    "+SUM(1,2)",
    "@import",
    '"><img src=x onerror=alert(1)>',
    "\x07\x08\x1b[31m\x0b\x0c",
    "\u202eevil \u200b ünïcødé 日本語 🧪",
    "x" * (TEXT_MAX + 1),
    "y" * 10_000,
    "",
    " ",
]
# NUL-free text: a NUL is answered 400 by the middleware before any form (test_hostile_get).
# No lone surrogates: they cannot be encoded as UTF-8, so no browser can send them.
TEXTS = st.one_of(
    st.sampled_from(HOSTILE),
    st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=60),
)
ACCEPTED = {200, 302, 403, 404, 409}
# Posted text that every form accepts, then looked for in every output.
LITERAL = "=cmd|' /C calc'!A0 <script>alert('x')</script> <para>bold</para> ünïcødé"


@pytest.fixture
def roles(study, site_a, alice, bob, data_manager, site_a_records):
    """One user of each role at site A; the monitor is the one who raised the query."""
    from django.contrib.auth import get_user_model

    return {
        "research_nurse": alice,
        "investigator": bob,
        "monitor": get_user_model().objects.get(username="site-a-monitor"),
        "data_manager": data_manager,
        "sponsor_viewer": user_create("sam", "sponsor_viewer", study, None),
    }


def _query_data(text, records):
    version = DataQuery.objects.get(pk=records["query_id"]).version
    return {"message": text, "loaded_version": version}


# Form URL name -> the data posted to it, around one hostile text.
FORMS = {
    "dlt_decide": lambda text, records: {
        "decision": "confirmed",
        "reason": text,
        "printed_name": text[:150],
        "password": PASSWORD,
    },
    "query_raise": lambda text, records: {"field": "grade", "message": text},
    "query_answer": _query_data,
    "query_close": _query_data,
    "query_reopen": _query_data,
    "sign_off": lambda text, records: {"printed_name": text[:150], "password": PASSWORD},
    "lock_release": lambda text, records: {"reason": text},
}


@pytest.fixture
def form_urls(site_a_records):
    patterns = dict(_project_urls())
    return {name: _url(patterns[name], site_a_records) for name in FORMS}


def _post(client, user, url, data, where):
    client.force_login(user)
    before = _snapshot()
    # The test client raises any exception of the view: a server error fails the test.
    response = client.post(url, data)
    assert response.status_code in ACCEPTED, f"{where}: {response.status_code}"
    if response.status_code != 302:
        assert _snapshot() == before, f"{where}: a refused form wrote data"
    body = response.content.decode(errors="replace")
    assert MARKUP not in body, f"{where}: markup came back unescaped"
    return response


@pytest.mark.parametrize("form", sorted(FORMS))
def test_hostile_text_posted_by_every_role_is_refused_or_saved_and_shown_escaped(
    form, client, roles, form_urls, site_a_records
):
    url = form_urls[form]

    @settings(
        max_examples=6,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(text=TEXTS)
    def post(text):
        for role, user in roles.items():
            _post(client, user, url, FORMS[form](text, site_a_records), f"{form} as {role}")

    post()


def test_a_dlt_reason_over_the_limit_is_refused_naming_the_field(
    client, bob, form_urls, site_a_records
):
    data = FORMS["dlt_decide"]("r" * (TEXT_MAX + 1), site_a_records)
    response = _post(client, bob, form_urls["dlt_decide"], data, "dlt_decide")
    assert response.status_code == 200
    assert "reason" in response.context["form"].errors
    assert DltAssessment.objects.get(pk=site_a_records["assessment_id"]).decision == ""


def _compact(text: str) -> str:
    return "".join(text.split())


def _pdf_cells(content: bytes) -> list[str]:
    """Every table cell of the PDF as a reader sees it, white space left out."""
    with pdfplumber.open(io.BytesIO(content)) as document:
        return [
            _compact(cell or "")
            for page in document.pages
            for table in page.extract_tables()
            for row in table
            for cell in row
        ]


@pytest.fixture
def hostile_records(client, roles, form_urls, site_a_records):
    """The literal text saved through each oversight form by the role that may use it."""
    who = {
        "query_answer": "research_nurse",
        "query_close": "monitor",
        "query_reopen": "monitor",
        "query_raise": "monitor",
        "dlt_decide": "investigator",
        "sign_off": "investigator",
        "lock_release": "data_manager",
    }
    for form in ("query_answer", "query_close", "query_reopen", "query_raise", "dlt_decide",
                 "sign_off", "lock_release"):  # fmt: skip
        data = FORMS[form](LITERAL, site_a_records)
        response = _post(client, roles[who[form]], form_urls[form], data, form)
        assert response.status_code == 302, (form, response.content.decode()[:2000])
    return site_a_records


def test_saved_hostile_text_is_escaped_on_the_pages_and_in_the_admin(
    client, alice, data_manager, hostile_records
):
    client.force_login(alice)
    casebook = reverse("subject_detail", args=[hostile_records["subject_id"]])
    pages = [
        casebook,
        casebook + "?tab=audit",
        reverse("query_detail", args=[hostile_records["query_id"]]),
        reverse("dlt_decide", args=[hostile_records["assessment_id"]]),
    ]
    for url in pages:
        body = client.get(url).content.decode()
        assert MARKUP not in body, url
        assert "&lt;script&gt;alert(" in body, url
    client.force_login(data_manager)
    result = LabResult.objects.get(pk=hostile_records["result_id"])
    admin_pages = [
        reverse("admin:ecrf_adverseevent_change", args=[hostile_records["event_id"]]),
        reverse("admin:ecrf_subject_change", args=[hostile_records["subject_id"]]),
        reverse("admin:ecrf_labresult_change", args=[result.pk]),
        reverse("admin:ecrf_auditevent_changelist") + f"?subject_id={result.subject_id}",
        reverse(
            "admin:ecrf_auditevent_change",
            args=[AuditEvent.objects.filter(reason=LITERAL).latest("at").pk],
        ),
    ]
    for url in admin_pages:
        response = client.get(url)
        assert response.status_code == 200, url
        assert MARKUP not in response.content.decode(), url


def test_saved_hostile_text_prints_literally_in_the_casebook_and_safety_pdfs(
    client, alice, data_manager, hostile_records
):
    client.force_login(alice)
    casebook = fetch(client, reverse("subject_casebook_pdf", args=[hostile_records["subject_id"]]))
    assert casebook.status_code == 200
    # The DLT reason, the signer's printed name and the audit trail: literal, not markup.
    assert _pdf_cells(casebook.body).count(_compact(LITERAL)) >= 3
    client.force_login(data_manager)
    safety = fetch(client, reverse("safety_report", args=[hostile_records["study_id"]]))
    assert safety.status_code == 200
    # The DLT listing's decision reason.
    assert _compact(LITERAL) in _pdf_cells(safety.body)


def test_saved_hostile_text_is_quoted_in_the_csv_export(client, data_manager, hostile_records):
    client.force_login(data_manager)
    response = fetch(client, reverse("export_file", args=[hostile_records["study_id"], "csv"]))
    assert response.status_code == 200
    found = 0
    with zipfile.ZipFile(io.BytesIO(response.body)) as archive:
        for name in archive.namelist():
            if not name.endswith(".csv"):
                continue
            for row in csv.reader(io.StringIO(archive.read(name).decode("utf-8-sig"))):
                assert not any(cell.startswith("=cmd") for cell in row), name
                found += row.count("'" + LITERAL)
    assert found >= 1
