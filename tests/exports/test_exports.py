"""Analysis exports: long tables, XLSX, SDTM CSV and SAS transport, the command and the page.

The trial: subject A-001 (site A, dose level 1, first dose 2026-03-02) with four doses (one
reduced, one missed, one entered in error), three adverse events (one entered in error) and
three lab results (one entered in error); subject B-001 in screening at site B.
"""

import csv
import datetime as dt
import io
import zipfile
from decimal import Decimal

import openpyxl
import pandas as pd
import pyreadstat
import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse

from ecrf.exports import (
    AUDIT_TRAIL,
    DOMAINS,
    AuditTrail,
    ExportError,
    domain_frames,
    sdtm_frames,
    write_export,
)
from ecrf.exports import domains as domains_module
from ecrf.exports.sdtm import LABELS
from ecrf.exports.writers import write_csv, write_xlsx
from ecrf.models import AuditEvent, Visit
from ecrf.services import (
    ae_record,
    dose_record,
    lab_record,
    record_mark_entered_in_error,
)
from tests.factories import study_create, user_create
from tests.jobs import ask, fetch, run_jobs

C1D1 = dt.date(2026, 3, 2)
HYPERLINK = '=HYPERLINK("http://x")'


def _agent(study, code):
    return study.agents.get(code=code)


@pytest.fixture
def trial(study, subject, subject_b, alice):
    """The doses, adverse events and labs of A-001; returns the records by name."""
    im, il2, ctx = (_agent(study, code) for code in ("IM", "IL2", "CTX"))
    records = {
        "im_full": dose_record(
            subject=subject,
            agent=im,
            given_on=C1D1,
            given_dose=Decimal(400),
            visit=subject.visits.get(label="C1D1"),
            by=alice,
        ),
        "im_reduced": dose_record(
            subject=subject,
            agent=im,
            given_on=C1D1 + dt.timedelta(days=1),
            given_dose=Decimal(300),
            reason="Nausea",
            by=alice,
        ),
        "il2_missed": dose_record(
            subject=subject,
            agent=il2,
            given_on=C1D1 + dt.timedelta(days=9),
            given_dose=Decimal(0),
            reason="Fever",
            by=alice,
        ),
        "ctx_lead_in": dose_record(
            subject=subject,
            agent=ctx,
            given_on=C1D1 - dt.timedelta(days=5),
            given_dose=Decimal(50),
            by=alice,
        ),
        "fever": ae_record(
            subject=subject,
            ctcae_term="Fever",
            grade=2,
            verbatim=HYPERLINK,
            onset_on=dt.date(2026, 3, 11),
            resolved_on=dt.date(2026, 3, 13),
            outcome="recovered",
            assessments={
                "CTX": ("unlikely", "none"),
                "IM": ("possible", "none"),
                "IL2": ("probable", "interrupted"),
            },
            by=alice,
        ),
        "nausea": ae_record(
            subject=subject,
            ctcae_term="Nausea",
            grade=3,
            verbatim="@SUM(1)",
            onset_on=dt.date(2026, 3, 4),
            serious_criteria=("sae_hospitalisation",),
            site_aware_at=dt.datetime(2026, 3, 4, 10, 0, tzinfo=dt.UTC),
            assessments=dict.fromkeys(("CTX", "IM", "IL2"), ("unrelated", "none")),
            by=alice,
        ),
        "typo": ae_record(
            subject=subject,
            ctcae_term="Fatigue",
            grade=1,
            onset_on=dt.date(2026, 3, 5),
            assessments=dict.fromkeys(("CTX", "IM", "IL2"), ("unrelated", "none")),
            by=alice,
        ),
        "alt": lab_record(
            subject=subject,
            test_code="ALT",
            value=Decimal("45.5"),
            unit="U/L",
            lln=Decimal(0),
            uln=Decimal(40),
            collected_at=dt.datetime(2026, 3, 9, 8, 15, tzinfo=dt.UTC),
            by=alice,
        ),
        "neut": lab_record(
            subject=subject,
            test_code="NEUT",
            value=Decimal("0.8"),
            unit="10^9/L",
            lln=Decimal("1.5"),
            uln=Decimal("7.5"),
            collected_at=dt.datetime(2026, 3, 9, 8, 15, tzinfo=dt.UTC),
            by=alice,
        ),
        "wrong_lab": lab_record(
            subject=subject,
            test_code="AST",
            value=Decimal(30),
            unit="U/L",
            lln=Decimal(0),
            uln=Decimal(40),
            collected_at=dt.datetime(2026, 3, 10, 9, 0, tzinfo=dt.UTC),
            by=alice,
        ),
    }
    extra = dose_record(
        subject=subject,
        agent=im,
        given_on=C1D1 + dt.timedelta(days=2),
        given_dose=Decimal(400),
        by=alice,
    )
    record_mark_entered_in_error(record=extra, reason="Entered twice", by=alice)
    records["typo"] = record_mark_entered_in_error(
        record=records["typo"], reason="Wrong subject", by=alice
    )
    records["wrong_lab"] = record_mark_entered_in_error(
        record=records["wrong_lab"], reason="Wrong sample", by=alice
    )
    return records


# ---- the long tables ---------------------------------------------------------------------------


def test_every_domain_is_one_long_table_with_one_row_per_record(study, subject, trial):
    frames = domain_frames(study)

    assert list(frames) == list(DOMAINS)
    counts = {name: len(frame) for name, frame in frames.items()}
    assert counts["subjects"] == 2
    assert counts["visits"] == Visit.objects.filter(subject__study=study).count() > 0
    assert counts["doses"] == 5
    assert counts["adverse_events"] == 3
    assert counts["adverse_event_agents"] == 9
    assert counts["labs"] == 3
    assert counts["dlt_assessments"] == 3
    # The audit trail is read in chunks as it is written, not built as a frame.
    assert AUDIT_TRAIL not in frames
    assert AuditTrail(study).count() == AuditEvent.objects.count()


@pytest.mark.parametrize("chunk_rows", [1, 2, 5])
def test_frames_read_in_chunks_equal_one_reading(study, trial, monkeypatch, chunk_rows):
    whole = domain_frames(study)
    # A column empty in some chunks only (a visit, a reason) is typed over all its values.
    monkeypatch.setattr(domains_module, "FRAME_CHUNK_ROWS", chunk_rows)
    chunked = domain_frames(study)

    for name in DOMAINS:
        pd.testing.assert_frame_equal(chunked[name], whole[name], check_exact=True, obj=name)


def test_coded_values_come_with_their_labels(study, trial):
    frames = domain_frames(study)

    subjects = frames["subjects"].set_index("subject_id")
    assert subjects.loc["A-001", ["status", "status_label"]].tolist() == [
        "on_treatment",
        "On treatment",
    ]
    assert subjects.loc["A-001", ["sex", "sex_label"]].tolist() == ["F", "Female"]
    assert subjects.loc["B-001", "status_label"] == "Screening"
    assert subjects.loc["A-001", "dose_level"] == 1

    events = frames["adverse_events"].set_index("ctcae_term")
    fever = events.loc["Fever"]
    assert fever["grade"] == 2
    assert (fever["outcome"], fever["outcome_label"]) == ("recovered", "Recovered / resolved")
    assert (fever["worst_attribution"], fever["worst_attribution_label"]) == (
        "probable",
        "Probable",
    )
    assert events.loc["Nausea", "serious"] and events.loc["Nausea", "sae_hospitalisation"]
    assert fever["dlt_status"] in ("not_dlt", "potential")
    assert fever["dlt_status_label"] in ("Not a DLT", "Potential DLT")

    agents = frames["adverse_event_agents"]
    il2 = agents[(agents["ctcae_term"] == "Fever") & (agents["agent"] == "IL2")].iloc[0]
    assert (il2["attribution"], il2["attribution_label"]) == ("probable", "Probable")
    assert (il2["action_taken"], il2["action_taken_label"]) == ("interrupted", "Drug interrupted")
    assert il2["adverse_event_id"] == str(trial["fever"].pk)

    doses = frames["doses"].set_index("record_id")
    reduced = doses.loc[str(trial["im_reduced"].pk)]
    assert (reduced["dose_change"], reduced["dose_change_label"]) == ("reduced", "Reduced")
    assert (reduced["planned_dose"], reduced["given_dose"]) == (400.0, 300.0)
    assert doses.loc[str(trial["il2_missed"].pk), "dose_change"] == "missed"
    assert doses.loc[str(trial["ctx_lead_in"].pk), "day"] == -5

    labs = frames["labs"].set_index("test_code")
    assert labs.loc["ALT", "test_code_label"] == "Alanine aminotransferase"
    assert labs.loc["ALT", "value"] == 45.5
    assert labs.loc["NEUT", "ctcae_grade"] == 3
    assert labs.loc["ALT", "collected_at"] == pd.Timestamp("2026-03-09T08:15", tz="UTC")

    visits = frames["visits"]
    assert set(visits["status_label"]) == {"Planned"}
    assert "C1D1" in set(visits["visit"])


def test_entered_in_error_records_stay_in_the_long_tables_flagged(study, trial):
    frames = domain_frames(study)

    events = frames["adverse_events"].set_index("ctcae_term")
    assert events.loc["Fatigue", "entered_in_error"]
    assert events.loc["Fatigue", "entered_in_error_reason"] == "Wrong subject"
    assert not events.loc["Fever", "entered_in_error"]
    assert frames["doses"]["entered_in_error"].sum() == 1
    assert frames["labs"].set_index("test_code").loc["AST", "entered_in_error"]
    fatigue_agents = frames["adverse_event_agents"].query("ctcae_term == 'Fatigue'")
    assert fatigue_agents["adverse_event_entered_in_error"].all()


def test_the_audit_trail_names_subjects_by_their_subject_id(study, subject, trial):
    audit = AuditTrail(study).frame()

    fever = audit[audit["object_id"] == str(trial["fever"].pk)]
    assert set(fever["subject_id"]) == {"A-001"}
    assert set(fever["action"]) == {"ecrf.adverseevent.created"}
    in_error = audit[audit["action"] == "ecrf.adverseevent.entered_in_error"]
    assert set(in_error["reason"]) == {"Wrong subject"}
    # The study definition's own history is there too, with no subject.
    definition = audit[audit["model"] == "ecrf.Study"]
    assert len(definition) and definition["subject_id"].isna().all()


def test_a_subject_restriction_leaves_out_other_sites(study, subject, subject_b, trial):
    from ecrf.models import Subject

    site_b = Subject.objects.filter(site__code="B")
    frames = domain_frames(study, site_b)

    assert frames["subjects"]["subject_id"].tolist() == ["B-001"]
    assert frames["adverse_events"].empty and frames["labs"].empty
    assert set(AuditTrail(study, site_b).frame()["subject_id"].dropna()) == {"B-001"}


# ---- SDTM ---------------------------------------------------------------------------------------


def test_sdtm_datasets_have_sdtm_variables_and_iso_dates(study, trial):
    sdtm = sdtm_frames(study)

    assert list(sdtm) == ["DM", "EX", "AE", "LB"]
    dm = sdtm["DM"].set_index("SUBJID")
    assert list(sdtm["DM"].columns[:4]) == ["STUDYID", "DOMAIN", "USUBJID", "SUBJID"]
    a001 = dm.loc["A-001"]
    assert (a001["USUBJID"], a001["SITEID"], a001["SEX"]) == ("TEST-IL2-A-001", "A", "F")
    assert (a001["ARMCD"], a001["ARM"]) == ("DL1", "IL-2 3 MIU/day")
    assert a001["RFSTDTC"] == "2026-03-02"
    # The last dose given (not the missed one on day 10, nor the one entered in error).
    assert a001["RFENDTC"] == "2026-03-03"
    assert a001["RFXSTDTC"] == "2026-02-25"
    assert a001["RFICDTC"] == "2026-02-01"
    assert (dm.loc["B-001", "ARMCD"], dm.loc["B-001", "ARM"]) == ("NOTASSGN", "Not Assigned")

    ex = sdtm["EX"]
    for column in ("EXSEQ", "EXTRT", "EXDOSE", "EXDOSU", "EXSTDTC", "EXENDTC", "VISIT", "EXADJ"):
        assert column in ex.columns
    assert len(ex) == 4  # the dose entered in error is not data
    assert ex["EXSEQ"].tolist() == [1.0, 2.0, 3.0, 4.0]
    missed = ex[ex["EXSTDTC"] == "2026-03-11"].iloc[0]
    assert (missed["EXTRT"], missed["EXDOSE"], missed["EXADJ"]) == ("Interleukin-2", 0.0, "Fever")
    reduced = ex[ex["EXSTDTC"] == "2026-03-03"].iloc[0]
    assert (reduced["EXDOSE"], reduced["EXDOSU"], reduced["EXADJ"]) == (300.0, "mg", "Nausea")
    assert ex[ex["EXSTDTC"] == "2026-03-02"].iloc[0]["EXADJ"] == ""
    assert ex[ex["EXSTDTC"] == "2026-03-02"].iloc[0]["VISIT"] == "C1D1"

    ae = sdtm["AE"].set_index("AEDECOD")
    assert "Fatigue" not in ae.index
    fever = ae.loc["Fever"]
    assert fever["AETERM"] == HYPERLINK
    assert fever["AEBODSYS"] == "General disorders and administration site conditions"
    assert (fever["AETOXGR"], fever["AESER"], fever["AEREL"]) == ("2", "N", "PROBABLY RELATED")
    assert (fever["AESTDTC"], fever["AEENDTC"]) == ("2026-03-11", "2026-03-13")
    assert fever["AEOUT"] == "RECOVERED/RESOLVED"
    assert fever["AEACN"] == "MULTIPLE"
    nausea = ae.loc["Nausea"]
    assert (nausea["AESER"], nausea["AESHOSP"], nausea["AESDTH"]) == ("Y", "Y", "N")
    assert (nausea["AEREL"], nausea["AEACN"], nausea["AEENDTC"]) == (
        "NOT RELATED",
        "DOSE NOT CHANGED",
        "",
    )
    assert nausea["AESEQ"] == 1.0  # onset 2026-03-04, before the fever

    lb = sdtm["LB"].set_index("LBTESTCD")
    assert "AST" not in lb.index
    alt = lb.loc["ALT"]
    assert (alt["LBTEST"], alt["LBORRES"], alt["LBORRESU"]) == (
        "Alanine aminotransferase",
        "45.5",
        "U/L",
    )
    assert (alt["LBSTRESN"], alt["LBSTNRLO"], alt["LBSTNRHI"]) == (45.5, 0.0, 40.0)
    assert (alt["LBNRIND"], alt["LBDTC"], alt["LBORNRHI"]) == ("HIGH", "2026-03-09T08:15", "40")
    neut = lb.loc["NEUT"]
    assert (neut["LBTOXGR"], neut["LBTOX"], neut["LBNRIND"]) == (
        "3",
        "Neutrophil count decreased",
        "LOW",
    )


def test_a_fatal_event_gives_the_death_in_dm_and_ae(study, subject, alice):
    ae_record(
        subject=subject,
        ctcae_term="Capillary leak syndrome",
        grade=5,
        onset_on=dt.date(2026, 3, 12),
        outcome="fatal",
        death_on=dt.date(2026, 3, 14),
        serious_criteria=("sae_death",),
        site_aware_at=dt.datetime(2026, 3, 14, 10, 0, tzinfo=dt.UTC),
        assessments={
            **dict.fromkeys(("CTX", "IM"), ("unlikely", "none")),
            "IL2": ("definite", "withdrawn"),
        },
        by=alice,
    )

    sdtm = sdtm_frames(study)

    dm = sdtm["DM"].iloc[0]
    assert (dm["DTHFL"], dm["DTHDTC"]) == ("Y", "2026-03-14")
    ae = sdtm["AE"].iloc[0]
    assert (ae["AESDTH"], ae["AEOUT"], ae["AETOXGR"]) == ("Y", "FATAL", "5")
    assert (ae["AEREL"], ae["AEACN"]) == ("DEFINITELY RELATED", "MULTIPLE")


def test_xpt_files_read_back_equal_the_sdtm_frames(study, trial, tmp_path):
    paths = write_export(study, "xpt", tmp_path)

    assert sorted(p.name for p in paths) == ["ae.xpt", "dm.xpt", "ex.xpt", "lb.xpt"]
    for name, expected in sdtm_frames(study).items():
        frame, meta = pyreadstat.read_xport(str(tmp_path / f"{name.lower()}.xpt"))
        assert meta.table_name == name
        assert list(frame.columns) == list(expected.columns)
        assert meta.column_labels == [LABELS[column] for column in expected.columns]
        for column in expected.columns:
            if expected[column].dtype == float:
                pd.testing.assert_series_equal(
                    frame[column], expected[column], check_names=False, check_dtype=False
                )
            else:
                assert frame[column].tolist() == expected[column].tolist(), (name, column)


def test_the_xpt_writer_refuses_a_text_longer_than_200_bytes_and_writes_nothing(tmp_path):
    # The SDTM datasets split such texts into SUPP-- first (tests/test_sdtm_long_text.py);
    # the writer still refuses what SAS transport v5 cannot hold.
    from ecrf.exports.writers import write_xpt

    frame = pd.DataFrame({"AETERM": ["short", "x" * 250]})

    with pytest.raises(ExportError, match=r"AE\.AETERM: row 2 has 250 bytes"):
        write_xpt("AE", frame, tmp_path / "ae.xpt", LABELS)
    assert not (tmp_path / "ae.xpt").exists()


def test_xpt_refuses_long_names_and_labels():
    from ecrf.exports.writers import xpt_problems

    frame = pd.DataFrame({"TOOLONGNAME": ["a"], "OK": [1.0]})
    problems = xpt_problems("DATASETXX", frame, {"OK": "x" * 41})

    assert problems == [
        "DATASETXX: a dataset name needs at most 8 letters, digits or _.",
        "DATASETXX.TOOLONGNAME: a variable name needs at most 8 letters, digits or _.",
        f"DATASETXX.OK: the label {'x' * 41!r} is longer than 40 characters.",
    ]


# ---- formula neutralisation ------------------------------------------------------------------


def test_formula_like_text_is_neutralised_but_numbers_are_not(tmp_path):
    texts = ["=1+1", "+33 1 23", "-x", "@SUM(1)", "\tcmd", "-21", "+1.5", "fine", "a=b", None]
    frame = pd.DataFrame({"text": texts, "number": [-1.5, 2, -3, 0, 1, -21, 1.5, 7, 8, 9]})

    write_csv(frame, tmp_path / "t.csv")
    write_xlsx({"t": frame}, tmp_path / "t.xlsx")

    rows = _csv_rows(tmp_path / "t.csv")
    expected = ["'=1+1", "'+33 1 23", "'-x", "'@SUM(1)", "'\tcmd", "-21", "+1.5", "fine", "a=b"]
    assert [row["text"] for row in rows] == [*expected, ""]
    assert [row["number"] for row in rows][:6] == ["-1.5", "2.0", "-3.0", "0.0", "1.0", "-21.0"]
    sheet = openpyxl.load_workbook(tmp_path / "t.xlsx")["t"]
    cells = list(sheet.iter_rows(min_row=2, values_only=True))
    assert [row[0] for row in cells] == [*expected, None]
    assert [row[1] for row in cells][:6] == [-1.5, 2, -3, 0, 1, -21]
    assert frame["text"][0] == "=1+1"  # the frame itself is left alone


def _csv_rows(path):
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def test_csv_files_neutralise_formulas_and_keep_negative_numbers(study, trial, tmp_path):
    paths = write_export(study, "csv", tmp_path / "csv")

    assert [p.name for p in paths] == [f"{name}.csv" for name in (*DOMAINS, AUDIT_TRAIL)]
    events = {row["ctcae_term"]: row for row in _csv_rows(tmp_path / "csv/adverse_events.csv")}
    assert events["Fever"]["verbatim"] == "'" + HYPERLINK
    assert events["Nausea"]["verbatim"] == "'@SUM(1)"
    assert events["Fever"]["outcome_label"] == "Recovered / resolved"
    doses = _csv_rows(tmp_path / "csv/doses.csv")
    assert {row["day"] for row in doses} >= {"-5", "1"}
    labs = {row["test_code"]: row for row in _csv_rows(tmp_path / "csv/labs.csv")}
    assert labs["ALT"]["collected_at"] == "2026-03-09T08:15:00Z"
    assert labs["ALT"]["value"] == "45.5"


def test_sdtm_csv_files_neutralise_formulas_too(study, trial, tmp_path):
    paths = write_export(study, "sdtm", tmp_path)

    assert sorted(p.name for p in paths) == ["ae.csv", "dm.csv", "ex.csv", "lb.csv"]
    terms = {row["AEDECOD"]: row["AETERM"] for row in _csv_rows(tmp_path / "ae.csv")}
    assert terms == {"Nausea": "'@SUM(1)", "Fever": "'" + HYPERLINK}


def test_the_workbook_has_a_sheet_per_table_and_neutralised_formulas(study, trial, tmp_path):
    (path,) = write_export(study, "xlsx", tmp_path)
    frames = domain_frames(study)

    book = openpyxl.load_workbook(path, read_only=True)
    assert path.name == "TEST-IL2.xlsx"
    assert book.sheetnames == [*DOMAINS, AUDIT_TRAIL]
    for name, frame in frames.items():
        rows = list(book[name].iter_rows(values_only=True))
        assert list(rows[0]) == list(frame.columns), name
        assert len(rows) == len(frame) + 1, name
    events = list(book["adverse_events"].iter_rows(values_only=True))
    header = events[0]
    by_term = {row[header.index("ctcae_term")]: row for row in events[1:]}
    fever = by_term["Fever"]
    assert fever[header.index("verbatim")] == "'" + HYPERLINK
    assert by_term["Nausea"][header.index("verbatim")] == "'@SUM(1)"
    assert fever[header.index("grade")] == 2
    assert fever[header.index("onset_on")] == "2026-03-11"
    assert fever[header.index("resolved_on")] == "2026-03-13"
    assert by_term["Nausea"][header.index("resolved_on")] is None
    doses = list(book["doses"].iter_rows(values_only=True))
    days = [row[doses[0].index("day")] for row in doses[1:]]
    assert -5 in days  # a negative number stays a number
    labs = list(book["labs"].iter_rows(values_only=True))
    assert 45.5 in [row[labs[0].index("value")] for row in labs[1:]]
    book.close()


def test_the_workbook_escapes_markup_and_keeps_characters_xml_cannot_hold(tmp_path):
    """A control character is stored in the workbook's escaped form (ECMA-376 ST_Xstring,
    `_x0001_`), which spreadsheet programs show as the character; openpyxl reads it raw."""
    frame = pd.DataFrame(
        {"text": ["<b>&amp;</b>", "a\x01b", "  spaced  ", "line\nbreak"], "n": [1, 2, 3, 4]}
    )
    write_xlsx({"t": frame}, tmp_path / "t.xlsx")

    sheet = openpyxl.load_workbook(tmp_path / "t.xlsx")["t"]
    assert [row[0] for row in sheet.iter_rows(min_row=2, values_only=True)] == [
        "<b>&amp;</b>",
        "a_x0001_b",
        "  spaced  ",
        "line\nbreak",
    ]


def test_a_table_longer_than_a_sheet_continues_on_the_next():
    from ecrf.exports.writers import _sheet_parts

    frame = pd.DataFrame({"n": range(5)})
    parts = _sheet_parts("labs", frame, max_rows=3)

    assert [name for name, _ in parts] == ["labs", "labs_2", "labs_3"]
    assert [part["n"].tolist() for _, part in parts] == [[0, 1], [2, 3], [4]]


# ---- the command ---------------------------------------------------------------------------------


def test_the_command_writes_the_files_into_a_new_directory(study, trial, tmp_path):
    out = io.StringIO()
    call_command(
        "export",
        "--study",
        "TEST-IL2",
        "--format",
        "sdtm",
        "--out",
        str(tmp_path / "new"),
        stdout=out,
    )

    written = out.getvalue().split()
    assert written == [str(tmp_path / "new" / f"{name}.csv") for name in ("dm", "ex", "ae", "lb")]
    assert all((tmp_path / "new" / f"{name}.csv").exists() for name in ("dm", "ex", "ae", "lb"))


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--study", "NOPE", "--format", "csv"], "--study: no study with code 'NOPE'"),
        (["--study", "TEST-IL2", "--format", "sav"], "--format: unknown format 'sav'"),
    ],
)
def test_the_command_refuses_bad_options_and_writes_nothing(study, tmp_path, arguments, message):
    out = tmp_path / "out"
    with pytest.raises(CommandError, match=message):
        call_command("export", *arguments, "--out", str(out))
    assert not out.exists()


# ---- the download page -------------------------------------------------------------------------


def test_a_data_manager_sees_the_page_and_downloads_each_format(client, data_manager, trial):
    client.force_login(data_manager)
    study = trial["fever"].subject.study

    page = client.get(reverse("export_list"))
    assert page.status_code == 200
    assert reverse("export_file", args=[study.pk, "xpt"]).encode() in page.content
    assert f'href="{reverse("export_list")}"'.encode() in page.content  # the nav link

    workbook = fetch(client, reverse("export_file", args=[study.pk, "xlsx"]))
    assert workbook.status_code == 200
    assert workbook["Content-Type"] == (
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    )
    assert 'filename="TEST-IL2.xlsx"' in workbook["Content-Disposition"]
    book = openpyxl.load_workbook(io.BytesIO(workbook.body))
    assert book.sheetnames == [*DOMAINS, AUDIT_TRAIL]

    archive = fetch(client, reverse("export_file", args=[study.pk, "csv"]))
    assert archive.status_code == 200
    assert archive["Content-Type"] == "application/zip"
    names = zipfile.ZipFile(io.BytesIO(archive.body)).namelist()
    assert names == [f"{name}.csv" for name in (*DOMAINS, AUDIT_TRAIL)]

    parquet = fetch(client, reverse("export_file", args=[study.pk, "parquet"]))
    assert parquet.status_code == 200
    assert 'filename="TEST-IL2-parquet.zip"' in parquet["Content-Disposition"]
    names = zipfile.ZipFile(io.BytesIO(parquet.body)).namelist()
    assert names == [f"{name}.parquet" for name in (*DOMAINS, AUDIT_TRAIL)]

    xpt = fetch(client, reverse("export_file", args=[study.pk, "xpt"]))
    names = zipfile.ZipFile(io.BytesIO(xpt.body)).namelist()
    assert names == ["dm.xpt", "ex.xpt", "ae.xpt", "lb.xpt"]


def test_a_site_data_manager_downloads_only_their_sites_subjects(client, study, site_b, trial):
    dm_b = user_create("dora", "data_manager", study, site_b)
    client.force_login(dm_b)

    response = fetch(client, reverse("export_file", args=[study.pk, "csv"]))

    archive = zipfile.ZipFile(io.BytesIO(response.body))
    subjects = list(csv.DictReader(io.TextIOWrapper(archive.open("subjects.csv"), "utf-8")))
    assert [row["subject_id"] for row in subjects] == ["B-001"]


def test_a_nurse_is_refused_the_page_and_the_downloads(client, alice, study, trial):
    client.force_login(alice)

    assert client.get(reverse("export_list")).status_code == 403
    assert client.get(reverse("export_file", args=[study.pk, "csv"])).status_code == 403
    assert client.post(reverse("export_file", args=[study.pk, "csv"])).status_code == 403
    assert b"Exports" not in client.get(reverse("home")).content


def test_a_user_of_another_study_gets_404(client, study, definition, trial):
    other = study_create(definition, code="OTHER")
    stranger = user_create("olga", "data_manager", other, None)
    client.force_login(stranger)

    assert client.get(reverse("export_file", args=[study.pk, "csv"])).status_code == 404
    page = client.get(reverse("export_list"))
    assert b"TEST-IL2" not in page.content and b"OTHER" in page.content


def test_an_export_that_cannot_be_written_is_explained_on_the_page(
    client, data_manager, study, subject, monkeypatch
):
    # A long text no longer stops the export (it is split into SUPPAE); a label SAS transport
    # v5 cannot hold still does.
    monkeypatch.setitem(LABELS, "AETERM", "x" * 41)
    client.force_login(data_manager)

    job_page = ask(client, reverse("export_file", args=[study.pk, "xpt"]))
    run_jobs()
    response = client.get(job_page)

    assert 'data-status="failed"' in response.content.decode()
    assert client.get(job_page + "file").status_code == 404
    assert "The xpt export of TEST-IL2 cannot be written: " in response.content.decode()
    assert f"AE.AETERM: the label {'x' * 41!r} is longer than 40 characters" in (
        response.content.decode().replace("&#x27;", "'")
    )


def test_an_unknown_format_is_404(client, data_manager, study):
    client.force_login(data_manager)
    assert client.get(reverse("export_file", args=[study.pk, "sav"])).status_code == 404
