"""The subject casebook PDF: every CRF record of one subject and its audit trail, printed
literally, from `manage.py casebook` and from a download on the casebook page."""

import datetime as dt
import io
import shutil
import subprocess
from decimal import Decimal

import pdfplumber
import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from PIL import Image

from ecrf.models import AdverseEvent, AuditEvent, LabResult, Signature
from ecrf.reports.casebook import LONG_TABLE_ROWS, casebook_load, casebook_write
from ecrf.services import (
    ae_record,
    dose_record,
    lab_record,
    record_mark_entered_in_error,
    record_update,
)
from ecrf.services.adverse_events import ae_correct
from ecrf.services.dlt import MEANING_CONFIRM, dlt_decide
from ecrf.services.labs import lab_correct
from ecrf.services.subjects import subject_correct
from tests.factories import user_create
from tests.jobs import fetch

# Every test reaches the database, if only through the module's rendered casebook: the mark
# makes pytest-django create the test database when a module's tests are run on their own.
pytestmark = pytest.mark.django_db

PASSWORD = "correct horse battery"
VERBATIM = '<b>rash</b> & "itch"'
GENERATED_AT = dt.datetime(2026, 11, 20, 9, 30, 15, tzinfo=dt.UTC)


def record_casebook(subject, alice, bob):
    """Fill A-001's casebook: a visit done, doses, four adverse events (one serious, one a DLT
    confirmed with a signature, one entered in error), lab results and corrections."""
    subject = subject_correct(
        subject=subject, changes={"birth_year": 1958}, reason="Birth year from the ID card",
        by=alice,
    )  # fmt: skip
    record_update(record=subject.visits.get(label="C1D8"),
                  changes={"status": "done", "done_on": dt.date(2026, 3, 9)}, reason="Visit done",
                  by=alice)  # fmt: skip
    agents = {agent.code: agent for agent in subject.study.agents.all()}
    rash = ae_record(
        subject=subject, ctcae_term="Rash maculo-papular", verbatim=VERBATIM, grade=2,
        onset_on=dt.date(2026, 3, 5),
        assessments={"CTX": ("unrelated", "none"), "IM": ("probable", "reduced"),
                     "IL2": ("unlikely", "none")},
        by=alice,
    )  # fmt: skip
    fatigue = ae_record(
        subject=subject, ctcae_term="Fatigue", grade=3, onset_on=dt.date(2026, 3, 13),
        resolved_on=dt.date(2026, 3, 23), outcome="recovered",
        assessments={"CTX": ("unrelated", "none"), "IM": ("unlikely", "none"),
                     "IL2": ("possible", "interrupted")},
        by=alice,
    )  # fmt: skip
    ae_record(
        subject=subject, ctcae_term="Capillary leak syndrome", grade=3,
        onset_on=dt.date(2026, 3, 14), serious_criteria=("sae_hospitalisation",),
        site_aware_at=dt.datetime(2026, 3, 14, 10, 0, tzinfo=dt.UTC),
        assessments={"CTX": ("unrelated", "none"), "IM": ("unlikely", "none"),
                     "IL2": ("probable", "withdrawn")},
        by=alice,
    )  # fmt: skip
    duplicate = ae_record(
        subject=subject, ctcae_term="Nausea", grade=1, onset_on=dt.date(2026, 3, 6),
        assessments=dict.fromkeys(("CTX", "IM", "IL2"), ("unrelated", "none")), by=alice,
    )  # fmt: skip
    record_mark_entered_in_error(record=duplicate, reason="Entered for the wrong subject", by=alice)
    ae_correct(record=rash, changes={"grade": 1}, reason="Source note says grade 1", by=alice)
    dlt_decide(assessment=fatigue.dlt_assessment, decision="confirmed",
               reason="Fatigue kept her in bed for 10 days", by=bob, password=PASSWORD)  # fmt: skip
    dose_record(subject=subject, agent=agents["IM"], given_on=dt.date(2026, 3, 2),
                given_dose=Decimal(400), by=alice)  # fmt: skip
    dose_record(subject=subject, agent=agents["IM"], given_on=dt.date(2026, 3, 6),
                given_dose=Decimal(300), reason="Reduced for the rash", adverse_event=rash,
                by=alice)  # fmt: skip
    alt = lab_record(subject=subject, test_code="ALT", value=Decimal(310), unit="U/L",
                     lln=Decimal(7), uln=Decimal(40),
                     collected_at=dt.datetime(2026, 3, 9, 8, 15, tzinfo=dt.UTC), by=alice)  # fmt: skip
    lab_correct(result=alt, changes={"value": Decimal("31.5")},
                reason="Transcription error: decimal point", by=alice)  # fmt: skip
    lab_record(subject=subject, test_code="ALT", value=Decimal(250), unit="U/L", uln=Decimal(40),
               collected_at=dt.datetime(2026, 3, 16, 8, tzinfo=dt.UTC), by=alice)  # fmt: skip
    subject.refresh_from_db()
    return subject


@pytest.fixture
def casebook_subject(subject, alice, bob):
    return record_casebook(subject, alice, bob)


def _render(subject, generated_by: str = "alice (Alice Archer), Research nurse") -> bytes:
    out = io.BytesIO()
    casebook_write(out, casebook_load(subject), generated_at=GENERATED_AT,
                   generated_by=generated_by)  # fmt: skip
    return out.getvalue()


def _cell(value) -> str:
    return " ".join((value or "").split())


class Printed:
    """What a reader sees in the PDF: each page's text, size and table rows (of the first
    `pages` pages only, when given: reading a page back costs a quarter of a second)."""

    def __init__(self, content: bytes, pages: int | None = None):
        self.content = content
        with pdfplumber.open(io.BytesIO(content)) as document:
            self.page_count = len(document.pages)
            read = document.pages[:pages]
            self.pages = [page.extract_text() or "" for page in read]
            self.sizes = [(page.width, page.height) for page in read]
            self.rows_by_page = [
                [[_cell(c) for c in row] for t in page.extract_tables() for row in t]
                for page in read
            ]
        self.rows = [row for rows in self.rows_by_page for row in rows]

    def rows_with(self, first: str) -> list[list[str]]:
        return [row for row in self.rows if row and row[0] == first]

    def row(self, *cells: str) -> list[str]:
        """The one table row that holds every one of `cells`."""
        found = [row for row in self.rows if all(cell in row for cell in cells)]
        assert len(found) == 1, (cells, found)
        return found[0]

    def page_with(self, title: str) -> int:
        return next(n for n, text in enumerate(self.pages) if title in text)


# Enough platelet counts for the lab table to run over several pages.
LONG_LAB_ROWS = 3 * LONG_TABLE_ROWS + 17


@pytest.fixture(scope="module")
def printed(django_db_setup, django_db_blocker):
    """The casebook of a fully recorded subject, rendered and read back once for the tests that
    only read it; the data is rolled back at once, and the facts the tests compare with are
    kept in `printed.facts`."""
    from django.db import transaction

    from tests.factories import study_create, subject_enrolled, user_create

    with django_db_blocker.unblock(), transaction.atomic():
        study = study_create()
        site_a = study.sites.get(code="A")
        alice = user_create("alice", "research_nurse", study, site_a)
        bob = user_create("bob", "investigator", study, site_a)
        subject = subject_enrolled(study, site_a, "A-001", sex="F", by=alice)
        subject = record_casebook(subject, alice, bob)
        LabResult.objects.bulk_create(
            LabResult(subject=subject, test_code="PLAT", value=Decimal(100 + i), unit="10^9/L",
                      collected_at=dt.datetime(2026, 4, 1, tzinfo=dt.UTC)
                      + dt.timedelta(minutes=i))
            for i in range(LONG_LAB_ROWS)
        )  # fmt: skip
        document = Printed(_render(subject))
        signature = Signature.objects.get()
        document.facts = {
            "data_hash": casebook_load(subject).data_hash,
            "audit_events": AuditEvent.objects.filter(subject_id=subject.pk).count(),
            "signed_at": f"{signature.signed_at.astimezone(dt.UTC):%Y-%m-%d %H:%M:%S}",
            "content_hash": signature.content_hash,
        }
        transaction.set_rollback(True)
    return document


def test_the_subject_header_prints_every_field(printed):
    for item, value in [
        ("Study", "TEST-IL2: Test trial of interleukin-2, imatinib and cyclophosphamide"),
        ("Site", "A Site A"),
        ("Subject ID", "A-001"),
        ("Sex", "Female"),
        ("Birth year", "1958"),
        ("Status", "On treatment"),
        ("Informed consent", "2026-02-01"),
        ("Enrolled", "2026-02-10"),
        ("Dose level", "DL1 IL-2 3 MIU/day"),
        ("First dose", "2026-03-02"),
    ]:
        assert [item, value] in printed.rows


def test_the_cover_says_when_by_whom_and_the_hash_of_the_data(printed):
    assert ["Generated at (UTC)", "2026-11-20 09:30:15"] in printed.rows
    assert ["Generated by", "alice (Alice Archer), Research nurse"] in printed.rows
    assert ["Data hash (SHA-256)", printed.facts["data_hash"]] in printed.rows
    assert len(printed.facts["data_hash"]) == 64


def test_the_data_hash_is_stable_and_changes_with_any_change(casebook_subject, alice):
    first = casebook_load(casebook_subject).data_hash
    assert casebook_load(casebook_subject).data_hash == first
    lab = casebook_subject.lab_results.get(value=Decimal(250))
    lab_correct(result=lab, changes={"value": Decimal(251)}, reason="Re-read", by=alice)
    assert casebook_load(casebook_subject).data_hash != first


def test_visits_print_planned_and_actual_dates_window_and_status(printed):
    assert printed.row("C1D8", "Cycle day", "2026-03-09", "Done", "2026-03-09")
    row = printed.rows_with("C1D8")[0]
    assert row[3] == "-1/+1 d (2026-03-08 to 2026-03-10)"
    assert printed.rows_with("C1D1")[0][4] == "Planned"


def test_doses_print_agent_cycle_day_planned_and_given_with_the_reason(printed):
    assert printed.row("2026-03-02", "IM Imatinib", "C1 D1", "400", "mg")
    reduced = printed.row("2026-03-06", "IM Imatinib", "C1 D5", "400", "300", "mg")
    assert reduced[7] == "Reduced for the rash (adverse event AE1 Rash maculo-papular)"


def test_adverse_events_print_coding_grade_seriousness_attribution_and_dlt_status(printed):
    rash, nausea, fatigue, leak = (printed.rows_with(f"AE{n}")[0] for n in (1, 2, 3, 4))
    assert rash[1:8] == ["Rash maculo-papular (10037868)", VERBATIM,
                         "Skin and subcutaneous tissue disorders", "1", "2026-03-05", "ongoing",
                         "No"]  # fmt: skip
    assert rash[9] == ("CTX: Unrelated, dose not changed; IL2: Unlikely, dose not changed; "
                       "IM: Probable, dose reduced")  # fmt: skip
    assert nausea[1] == "Nausea (10028813)"
    assert fatigue[4:9] == ["3", "2026-03-13", "2026-03-23", "No", "Recovered / resolved"]
    assert fatigue[10] == "Confirmed DLT"
    assert leak[7] == "Yes: requires or prolongs hospitalisation"
    assert "IL2: Probable, drug withdrawn" in leak[9]
    assert leak[10] == "Potential DLT"


def test_lab_results_print_value_range_and_ctcae_grade(printed):
    row = printed.row("2026-03-16 08:00:00")
    assert row[1:9] == ["ALT Alanine aminotransferase", "", "250", "U/L", "", "40",
                        "Alanine aminotransferase increased", "3"]  # fmt: skip
    corrected = printed.row("2026-03-09 08:15:00")
    assert corrected[3:7] == ["31.5", "U/L", "7", "40"]


def test_a_long_table_runs_over_pages_with_its_header_on_each_and_no_row_lost(printed):
    values = [row[3] for row in printed.rows if len(row) == 10 and row[1] == "PLAT Platelets"]
    assert values == [str(100 + i) for i in range(LONG_LAB_ROWS)]
    pages = [n for n, rows in enumerate(printed.rows_by_page)
             if any(row[1:2] == ["PLAT Platelets"] for row in rows)]  # fmt: skip
    assert len(pages) >= 4
    for page in pages:
        assert printed.rows_by_page[page][0][0] == "Collected at (UTC)"


def test_a_dlt_decision_prints_with_its_signature(printed):
    decision = printed.rows_with("AE3")[1]  # the adverse events table first, then DLT decisions
    assert decision[3:7] == ["Confirmed DLT", "Confirmed DLT",
                             "Fatigue kept her in bed for 10 days", "bob"]  # fmt: skip
    signed = printed.row("Bob Baker")
    assert signed[:7] == ["AE3", printed.facts["signed_at"], "bob", "Bob Baker",
                          "Investigator", MEANING_CONFIRM, "Confirmed DLT"]  # fmt: skip
    assert signed[7].replace(" ", "") == printed.facts["content_hash"]


def test_records_entered_in_error_are_marked_with_the_reason(printed):
    nausea = printed.rows_with("AE2")[0]
    assert nausea[-1] == "ENTERED IN ERROR: Entered for the wrong subject"
    marked = printed.rows_with("Adverse event")
    assert len(marked) == 1
    assert marked[0][1:4] == ["AE2 Nausea grade 1, onset 2026-03-06",
                              "Entered for the wrong subject", "alice"]  # fmt: skip


def test_the_audit_trail_prints_a_correction_with_old_and_new_values(printed):
    grade = printed.row("ecrf.adverseevent.updated", "grade")
    assert grade[1:3] == ["alice", "Research nurse"]
    assert grade[6:9] == ["2", "1", "Source note says grade 1"]
    value = printed.row("value", "Transcription error: decimal point")
    assert value[6:8] == ["310", "31.5"]
    assert printed.row("birth_year")[6:9] == ["", "1958", "Birth year from the ID card"]


def test_the_audit_trail_is_complete_and_in_chronological_order(printed):
    start = printed.page_with("Audit trail")
    rows = [row for page in printed.rows_by_page[start:] for row in page]
    entries = [row for row in rows if len(row) == 9 and row[0] != "When (UTC)"]
    assert len(entries) == printed.facts["audit_events"]
    times = [row[0] for row in entries]
    assert times == sorted(times)


def test_user_text_prints_literally(printed):
    assert VERBATIM in printed.rows_with("AE1")[0]
    # The verbatim as first recorded, in the audit trail.
    assert printed.row("verbatim")[7] == VERBATIM
    text = "".join(printed.pages)
    assert "<b>rash</b>" in text and "&amp;" not in text and "&quot;" not in text


def test_wide_tables_are_on_landscape_pages_and_every_page_is_numbered(printed):
    count = printed.page_count
    assert count > 1
    assert f"Page 1 of {count}" in printed.pages[0]
    assert f"Page {count} of {count}" in printed.pages[-1]
    assert "TEST-IL2" in printed.pages[-1].splitlines()[-1]
    width, height = printed.sizes[0]
    assert width < height
    for title in ("Lab results and CTCAE grades", "Audit trail"):
        width, height = printed.sizes[printed.page_with(title)]
        assert width > height, title


@pytest.mark.skipif(shutil.which("pdftoppm") is None, reason="pdftoppm is not installed")
def test_the_pages_render_to_images_that_are_not_blank(printed, tmp_path):
    path = tmp_path / "casebook.pdf"
    path.write_bytes(printed.content)
    subprocess.run([shutil.which("pdftoppm"), "-r", "30", "-gray", "-png", str(path),
                    str(tmp_path / "page")], check=True, timeout=120)  # fmt: skip
    images = sorted(tmp_path.glob("page*.png"))
    assert len(images) == printed.page_count
    for image_path in images:
        with Image.open(image_path) as image:
            histogram = image.convert("L").histogram()
        inked = sum(histogram[:160])  # pixels darker than light grey
        assert inked > 0.01 * sum(histogram), image_path.name


def test_loading_runs_the_same_queries_whatever_the_number_of_records(casebook_subject):
    with CaptureQueriesContext(connection) as small:
        casebook_load(casebook_subject)
    AdverseEvent.objects.bulk_create(
        AdverseEvent(subject=casebook_subject, ctcae_term="Fatigue", grade=1,
                     onset_on=dt.date(2026, 4, 1))
        for _ in range(30)
    )  # fmt: skip
    LabResult.objects.bulk_create(
        LabResult(subject=casebook_subject, test_code="ALT", value=Decimal(20), unit="U/L",
                  collected_at=dt.datetime(2026, 4, 1, tzinfo=dt.UTC))
        for _ in range(50)
    )  # fmt: skip
    with CaptureQueriesContext(connection) as large:
        casebook = casebook_load(casebook_subject)
    assert len(casebook.adverse_events) == 34 and len(casebook.labs) == 52
    # Subject, visits, doses, events, attributions, labs, DLT assessments, signatures, trail.
    assert len(large) == len(small) == 9


def test_the_casebook_page_offers_the_download(client, alice, subject):
    client.force_login(alice)
    page = client.get(reverse("subject_detail", args=[subject.pk])).content.decode()
    assert reverse("subject_casebook_pdf", args=[subject.pk]) in page


def test_a_nurse_of_the_site_downloads_the_casebook(client, alice, casebook_subject):
    alice.first_name, alice.last_name = "Alice", "Archer"
    alice.save(update_fields=["first_name", "last_name"])
    client.force_login(alice)
    response = fetch(client, reverse("subject_casebook_pdf", args=[casebook_subject.pk]))
    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    assert response["Content-Disposition"] == ('attachment; filename="casebook-TEST-IL2-A-001.pdf"')
    assert "no-store" in {d.strip() for d in response["Cache-Control"].split(",")}
    cover = Printed(response.body, pages=1)
    assert ["Generated by", "alice (Alice Archer), Research nurse"] in cover.rows
    assert ["Data hash (SHA-256)", casebook_load(casebook_subject).data_hash] in cover.rows


def _download(client, user, subject) -> Printed:
    client.force_login(user)
    response = fetch(client, reverse("subject_casebook_pdf", args=[subject.pk]))
    assert response.status_code == 200
    return Printed(response.body)


def test_a_sponsor_viewers_download_leaves_the_audit_trail_out_and_says_so(
    client, study, casebook_subject
):
    """The capability table (Action.READ_AUDIT) denies sponsor viewers the record-level trail."""
    sponsor = user_create("sam", "sponsor_viewer", study, None)
    printed = _download(client, sponsor, casebook_subject)
    text = "\n".join(printed.pages)
    assert "Audit trail: not included for your role." in text
    assert "audit trail not included for your role" in text
    assert not [row for row in printed.rows if "When (UTC)" in row]
    assert "Source note says grade 1" not in text
    assert "Birth year from the ID card" not in text
    # The clinical record keeps who marked a record entered in error.
    marked = printed.rows_with("Adverse event")
    assert marked[0][1:4] == ["AE2 Nausea grade 1, onset 2026-03-06",
                              "Entered for the wrong subject", "alice"]  # fmt: skip


def test_a_nurses_download_keeps_the_audit_trail(client, alice, casebook_subject):
    printed = _download(client, alice, casebook_subject)
    text = "\n".join(printed.pages)
    assert "not included for your role" not in text
    grade = printed.row("ecrf.adverseevent.updated", "grade")
    assert grade[6:9] == ["2", "1", "Source note says grade 1"]


def test_another_sites_nurse_gets_404_for_the_download(client, charlie, casebook_subject):
    client.force_login(charlie)
    url = reverse("subject_casebook_pdf", args=[casebook_subject.pk])
    assert client.get(url).status_code == 404
    assert client.post(url).status_code == 404


def test_the_download_needs_a_signed_in_user(client, subject):
    response = client.get(reverse("subject_casebook_pdf", args=[subject.pk]))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def test_the_command_writes_the_casebook(casebook_subject, tmp_path):
    out = tmp_path / "A-001.pdf"
    stdout = io.StringIO()
    call_command("casebook", study="TEST-IL2", subject="A-001", out=str(out), stdout=stdout)
    cover = Printed(out.read_bytes(), pages=1)
    assert ["Generated by", "command:casebook"] in cover.rows
    assert ["Subject ID", "A-001"] in cover.rows
    data_hash = casebook_load(casebook_subject).data_hash
    assert ["Data hash (SHA-256)", data_hash] in cover.rows
    assert data_hash in stdout.getvalue()


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"study": "NOPE", "subject": "A-001"}, "--study: no study with code 'NOPE'."),
        ({"study": "TEST-IL2", "subject": "A-999"},
         "--subject: no subject 'A-999' in study TEST-IL2."),
    ],
)  # fmt: skip
def test_the_command_names_the_unknown_option_and_writes_nothing(
    subject, tmp_path, options, message
):
    out = tmp_path / "casebook.pdf"
    with pytest.raises(CommandError) as error:
        call_command("casebook", out=str(out), **options)
    assert str(error.value) == message
    assert not out.exists()


def test_the_command_refuses_a_folder_that_does_not_exist(subject, tmp_path):
    out = tmp_path / "missing" / "casebook.pdf"
    with pytest.raises(CommandError, match="^--out: "):
        call_command("casebook", study="TEST-IL2", subject="A-001", out=str(out))
    assert not out.parent.exists()
