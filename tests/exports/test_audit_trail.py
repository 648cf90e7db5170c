"""The audit trail in the exports: streamed in chunks to CSV and Parquet, not in the workbook.

Every file is read back and compared with the database read a second way (plain SQL through
`connection.cursor()`), not with the code that wrote it.
"""

import csv
import datetime as dt
import uuid

import numpy as np
import openpyxl
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from django.db import connection

from ecrf.exports import AUDIT_TRAIL, DOMAINS, AuditTrail, domain_frames, write_export, write_frames
from ecrf.exports import audit as audit_module
from ecrf.exports.writers import (
    ExportError,
    _text_column,
    formula_like,
    neutralised_text,
    write_csv,
    write_xlsx,
)
from ecrf.models import AuditEvent
from ecrf.services import ae_record

HYPERLINK = '=HYPERLINK("http://x")'
# Texts a spreadsheet would run (or not), each put where a chunk of 4 rows starts or ends.
HOSTILE = [HYPERLINK, "-21", "+1", "\tcmd", "-x", "@SUM(1)", "+33 1 23", "a=b", "\r", '"q"']
AUDIT_SQL = """
    SELECT a.at, a.actor, a.role, a.site, a.action, a.model, a.object_id, a.object_repr,
           s.subject_code, a.field, a.old_value, a.new_value, a.reason
    FROM ecrf_auditevent a LEFT JOIN ecrf_subject s ON s.id = a.subject_id
    ORDER BY a.at, a.id
"""
COLUMNS = ["study", "at", "actor", "role", "site", "action", "model", "object_id", "object_repr",
           "subject_id", "field", "old_value", "new_value", "reason"]  # fmt: skip


@pytest.fixture
def trail(study, subject, alice):
    """An adverse event whose verbatim is a formula, then hand-made audit events with hostile
    texts in every text column, after every other event of the study."""
    ae_record(
        subject=subject,
        ctcae_term="Fever",
        grade=2,
        verbatim=HYPERLINK,
        onset_on=dt.date(2026, 3, 11),
        assessments=dict.fromkeys(("CTX", "IM", "IL2"), ("unrelated", "none")),
        by=alice,
    )
    later = dt.datetime(2030, 1, 1, tzinfo=dt.UTC)
    for n, text in enumerate(HOSTILE):
        AuditEvent.objects.create(
            at=later + dt.timedelta(seconds=n, microseconds=123_456),
            actor=text,
            role="nurse",
            site="A",
            action="ecrf.adverseevent.updated",
            model="ecrf.AdverseEvent",
            object_id=str(uuid.UUID(int=n)),
            object_repr=text,
            subject_id=subject.pk,
            field="verbatim",
            old_value=text,
            new_value=None if n % 2 else text,
            reason=text,
        )
    return study


def _database_rows():
    """The audit events as the database holds them, read with plain SQL."""
    with connection.cursor() as cursor:
        cursor.execute(AUDIT_SQL)
        rows = cursor.fetchall()
    frame = pd.DataFrame(rows, columns=COLUMNS[1:], dtype=object)
    frame["at"] = pd.to_datetime(frame["at"], utc=True, format="ISO8601")
    return frame


def _csv_rows(path):
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.reader(handle))


def test_the_audit_csv_holds_every_event_in_order_with_formulas_neutralised(trail, tmp_path):
    write_export(trail, "csv", tmp_path, chunk_size=4)

    header, *rows = _csv_rows(tmp_path / "audit_trail.csv")
    expected = _database_rows()
    assert header == COLUMNS
    assert len(rows) == len(expected) == AuditEvent.objects.count() > len(HOSTILE)
    for row, (_, event) in zip(rows, expected.iterrows(), strict=True):
        assert row[0] == trail.code
        assert row[1] == event["at"].strftime("%Y-%m-%dT%H:%M:%SZ")
        assert row[2:] == [
            "" if value is None else neutralised_text(str(value)) for value in event.iloc[1:]
        ]
    last = dict(zip(header, rows[-len(HOSTILE)], strict=True))
    assert (last["actor"], last["old_value"], last["subject_id"]) == ("'" + HYPERLINK,) * 2 + (
        "A-001",
    )
    hostile = [row[header.index("old_value")] for row in rows[-len(HOSTILE) :]]
    assert hostile == ["'" + HYPERLINK, "-21", "+1", "'\tcmd", "'-x", "'@SUM(1)", "'+33 1 23",
                       "a=b", "'\r", '"q"']  # fmt: skip
    created = [row for row in rows if row[header.index("field")] == "verbatim"][0]
    assert created[header.index("new_value")] == "'" + HYPERLINK


def test_the_audit_parquet_holds_every_event_in_order_with_its_types(trail, tmp_path):
    write_export(trail, "parquet", tmp_path, chunk_size=4)

    table = pq.read_table(tmp_path / "audit_trail.parquet")
    assert table.schema.field("at").type == pa.timestamp("us", tz="UTC")
    assert pq.ParquetFile(tmp_path / "audit_trail.parquet").num_row_groups > 1
    written = table.to_pandas()
    expected = _database_rows()
    assert written.columns.tolist() == COLUMNS
    assert (written["study"] == trail.code).all()
    assert written["at"].tolist() == expected["at"].tolist()  # microseconds kept
    for column in COLUMNS[2:]:
        assert _plain(written[column]) == _plain(expected[column]), column
    # Parquet files are data, not spreadsheets: the texts are as they were entered.
    assert written["old_value"].tolist()[-len(HOSTILE) :] == HOSTILE


def _plain(values: pd.Series) -> list:
    """The values as Python objects, None for any kind of missing value."""
    return [None if pd.isna(value) else value for value in values.astype(object)]


@pytest.mark.parametrize("chunk_size", [1, 3, 4, 7])
def test_small_chunks_give_the_same_files_as_one_chunk(trail, tmp_path, chunk_size):
    write_export(trail, ["csv", "parquet"], tmp_path / "one", chunk_size=1_000_000)
    write_export(trail, ["csv", "parquet"], tmp_path / "small", chunk_size=chunk_size)

    one, small = (tmp_path / name for name in ("one", "small"))
    assert (small / "audit_trail.csv").read_bytes() == (one / "audit_trail.csv").read_bytes()
    assert pq.read_table(small / "audit_trail.parquet").equals(
        pq.read_table(one / "audit_trail.parquet")
    )
    rows = AuditEvent.objects.count()
    assert pq.ParquetFile(small / "audit_trail.parquet").num_row_groups == -(-rows // chunk_size)


@pytest.mark.parametrize(("chunk_size", "fetch_rows"), [(7, 2), (7, 3), (4, 10)])
def test_a_chunk_fetched_in_parts_is_one_row_group_and_the_same_files(
    trail, tmp_path, monkeypatch, chunk_size, fetch_rows
):
    write_export(trail, ["csv", "parquet"], tmp_path / "one", chunk_size=chunk_size)
    monkeypatch.setattr(audit_module, "AUDIT_FETCH_ROWS", fetch_rows)
    write_export(trail, ["csv", "parquet"], tmp_path / "parts", chunk_size=chunk_size)

    one, parts = (tmp_path / name for name in ("one", "parts"))
    for name in ("audit_trail.csv", "audit_trail.parquet"):
        assert (parts / name).read_bytes() == (one / name).read_bytes(), name
    rows = AuditEvent.objects.count()
    assert pq.ParquetFile(parts / "audit_trail.parquet").num_row_groups == -(-rows // chunk_size)


def test_the_audit_csv_is_what_pandas_writes_of_the_whole_trail(trail, tmp_path):
    write_export(trail, "csv", tmp_path / "export", chunk_size=3)
    write_csv(AuditTrail(trail).frame(), tmp_path / "pandas.csv")

    assert (tmp_path / "export/audit_trail.csv").read_bytes() == (
        tmp_path / "pandas.csv"
    ).read_bytes()


def test_the_workbook_says_where_the_audit_trail_is_and_holds_none_of_it(trail, tmp_path):
    (path,) = write_export(trail, "xlsx", tmp_path)

    book = openpyxl.load_workbook(path, read_only=True)
    assert book.sheetnames == [*DOMAINS, AUDIT_TRAIL]
    header, row = book[AUDIT_TRAIL].iter_rows(values_only=True)
    about = dict(zip(header, row, strict=True))
    assert about["audit_events"] == AuditEvent.objects.count()
    assert about["csv"] == "audit_trail.csv in the csv export (TEST-IL2-csv.zip)"
    assert about["parquet"] == "audit_trail.parquet in the parquet export (TEST-IL2-parquet.zip)"
    assert "not in this workbook" in about["note"]
    for name in DOMAINS:
        assert "old_value" not in next(book[name].iter_rows(values_only=True)), name
    book.close()


def test_clinical_parquet_files_read_back_equal_the_frames(trail, tmp_path):
    paths = write_export(trail, "parquet", tmp_path)

    assert [p.name for p in paths] == [f"{name}.parquet" for name in (*DOMAINS, AUDIT_TRAIL)]
    for name, frame in domain_frames(trail).items():
        back = pd.read_parquet(tmp_path / f"{name}.parquet")
        assert back.columns.tolist() == frame.columns.tolist(), name
        for column in frame.columns:
            assert _plain(back[column]) == _plain(frame[column]), (name, column)
    events = pd.read_parquet(tmp_path / "adverse_events.parquet")
    assert events["verbatim"].tolist() == [HYPERLINK]
    assert events["onset_on"].tolist() == [dt.date(2026, 3, 11)]


def test_formats_that_hold_the_audit_trail_refuse_to_run_without_it(study, tmp_path):
    with pytest.raises(ValueError, match="the csv, xlsx export needs the audit trail"):
        write_frames(["csv", "xlsx", "sdtm"], tmp_path / "out", study_code="X", domains={})
    assert not (tmp_path / "out").exists()


def test_a_chunk_size_under_one_is_refused(study):
    with pytest.raises(ValueError, match="chunk_size: must be at least 1, not 0"):
        AuditTrail(study, chunk_size=0)


# ---- the formula check, vectorised -------------------------------------------------------------

BOUNDARIES = {
    # text: quoted?
    "=1+1": True,
    "+1": False,
    "-21": False,
    "+1.5": False,
    "-.5": False,
    "-1.": False,
    "-1e5": False,
    "+2E-3": False,
    "-1e": True,
    "-.": True,
    "-": True,
    "+": True,
    "@": True,
    "=": True,
    "\t": True,
    "\r1": True,
    "-21\n": True,  # a number and a line break is not only a number
    "-21 ": True,
    "--21": True,
    "-٣": True,  # only ASCII digits make a number
    "-１": True,
    " =1": False,
    "1-1": False,
    "a=b": False,
    "": False,
    "\n=1": False,
}


def test_the_vectorised_check_quotes_exactly_what_the_rule_quotes():
    texts = list(BOUNDARIES)
    hits = formula_like(pa.array([*texts, None])).to_pylist()

    assert hits == [*BOUNDARIES.values(), False]
    assert [neutralised_text(t) != t for t in texts] == list(BOUNDARIES.values())


@pytest.mark.parametrize("dtype", [object, "str"])
def test_a_text_column_of_either_dtype_is_quoted_where_the_rule_says(dtype):
    texts = [*BOUNDARIES, None]
    column = _text_column(pd.Series(texts, dtype=dtype))

    expected = ["'" + t if quoted else t for t, quoted in BOUNDARIES.items()]
    assert column.tolist()[:-1] == expected
    assert pd.isna(column.tolist()[-1])


def test_a_column_of_texts_and_other_values_quotes_only_the_texts():
    column = _text_column(pd.Series(["-x", -1, "-1", None, 2.5, "=a"], dtype=object))

    assert column.tolist()[:3] == ["'-x", -1, "-1"]
    assert column.tolist()[4:] == [2.5, "'=a"]


# ---- the workbook writer -------------------------------------------------------------------------


def test_the_workbook_refuses_an_infinite_number_and_a_too_long_text_and_writes_nothing(
    tmp_path,
):
    path = tmp_path / "t.xlsx"
    with pytest.raises(ExportError, match=r"t\.n: an infinite number"):
        write_xlsx({"t": pd.DataFrame({"n": [1.0, np.inf]})}, path)
    assert not path.exists()
    with pytest.raises(ExportError, match=r"t\.text: a text of 32768 characters"):
        write_xlsx({"t": pd.DataFrame({"text": ["=" + "x" * 32_766]})}, path)  # and its quote
    assert not path.exists()
    write_xlsx({"t": pd.DataFrame({"text": ["x" * 32_767, "=" + "x" * 32_765]})}, path)
    sheet = openpyxl.load_workbook(path)["t"]
    assert [len(row[0]) for row in sheet.iter_rows(min_row=2, values_only=True)] == [32_767] * 2


def test_an_export_the_workbook_refuses_writes_no_file_of_any_format(study, tmp_path):
    frames = {"labs": pd.DataFrame({"value": [1.0, -np.inf]})}

    with pytest.raises(ExportError, match=r"labs\.value: an infinite number"):
        write_frames(
            ["csv", "xlsx"], tmp_path / "out", study_code="X", domains=frames,
            audit=AuditTrail(study),
        )  # fmt: skip
    assert not (tmp_path / "out").exists()


def test_the_workbook_keeps_an_escape_like_text_and_a_carriage_return(tmp_path):
    frame = pd.DataFrame({"text": ["_x0041_", "a\rb", "tab\there"]})
    write_xlsx({"t": frame}, tmp_path / "t.xlsx")

    sheet = openpyxl.load_workbook(tmp_path / "t.xlsx")["t"]
    # openpyxl reads the escapes raw; a spreadsheet shows `_x0041_`, a CR and a tab.
    assert [row[0] for row in sheet.iter_rows(min_row=2, values_only=True)] == [
        "_x005F_x0041_",
        "a_x000D_b",
        "tab\there",
    ]
