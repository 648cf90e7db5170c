"""Reading CTCAE v5.0 grade descriptions from a user-supplied NCI workbook (.xlsx or .csv)."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from openpyxl import Workbook

from ecrf.ctcae.dictionary import all_terms, get_term
from ecrf.ctcae.workbook import (
    SHEET_NAME,
    TermDescription,
    WorkbookError,
    read_term_descriptions,
)

SHARED_DIR = Path(__file__).resolve().parents[3].parent / "shared" / "ctcae"
OFFICIAL_XLSX = SHARED_DIR / "NCI_CTCAE_v5.0.xlsx"
OFFICIAL_CSV = SHARED_DIR / "NCI_CTCAE_v5.0_clean_utf8.csv"

requires_official_files = pytest.mark.skipif(
    not (OFFICIAL_XLSX.is_file() and OFFICIAL_CSV.is_file()),
    reason=(
        f"NCI CTCAE v5.0 workbook and CSV not found in {SHARED_DIR}; NCI's texts are not "
        "part of the repo, so these tests need the shared copy."
    ),
)

# The official header, including NCI's trailing non-breaking spaces on the grade columns.
HEADER = [
    "MedDRA Code",
    "MedDRA SOC",
    "CTCAE Term",
    *(f"Grade {grade} \u00a0\u00a0" for grade in range(1, 6)),
    "Definition",
    "Navigational Note",
    "CTCAE v5.0 Change",
]


def placeholder_row(name: str, grades: tuple[int, ...] | None = None, code: str | None = None):
    """A clean-copy row with invented texts (no NCI prose) for a CTCAE v5.0 term.

    ``grades`` defaults to the term's real grades; NCI's " -" marks the others.
    """
    term = get_term(name) if code is None else None
    if grades is None:
        grades = term.grades
    return [
        code if code is not None else term.meddra_code,
        term.soc if term else "Invented disorders",
        name,
        *(
            f"Placeholder text for grade {grade}" if grade in grades else " -"
            for grade in range(1, 6)
        ),
        f"Placeholder definition of {name}",
        "",
        "",
    ]


def full_rows() -> list[list[str]]:
    """One placeholder row per CTCAE v5.0 term, so a file of them passes every check."""
    return [placeholder_row(term.term) for term in all_terms()]


def write_csv(path: Path, rows, header=HEADER) -> Path:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def write_xlsx(path: Path, rows, header=HEADER, sheet: str = SHEET_NAME) -> Path:
    workbook = Workbook()
    worksheet = workbook.active
    worksheet.title = sheet
    worksheet.append(header)
    for row in rows:
        # The official workbook stores MedDRA codes as numbers.
        code = int(row[0]) if str(row[0]).isdigit() else row[0]
        worksheet.append([code, *row[1:]])
    workbook.save(path)
    return path


def write_file(tmp_path: Path, file_format: str, rows, header=HEADER) -> Path:
    if file_format == "xlsx":
        return write_xlsx(tmp_path / "ctcae.xlsx", rows, header)
    return write_csv(tmp_path / "ctcae.csv", rows, header)


both_formats = pytest.mark.parametrize("file_format", ["csv", "xlsx"])


def replace_row(rows: list[list[str]], name: str, new_row: list[str]) -> list[list[str]]:
    return [new_row if row[2] == name else row for row in rows]


# --- The official NCI files ------------------------------------------------------------


@pytest.fixture(scope="module")
def from_xlsx() -> list[TermDescription]:
    return read_term_descriptions(OFFICIAL_XLSX)


@pytest.fixture(scope="module")
def from_csv() -> list[TermDescription]:
    return read_term_descriptions(OFFICIAL_CSV)


@requires_official_files
def test_the_official_workbook_describes_all_837_terms(from_xlsx, from_csv):
    """NCI's CTCAE v5.0 clean copy describes each of the 837 terms once, in dictionary order."""
    expected = [(term.meddra_code, term.term) for term in all_terms()]
    assert [(d.meddra_code, d.term) for d in from_xlsx] == expected
    assert [(d.meddra_code, d.term) for d in from_csv] == expected


@requires_official_files
def test_xlsx_and_csv_give_identical_descriptions(from_xlsx, from_csv):
    """The CTCAE v5.0 workbook and its CSV export yield exactly the same descriptions."""
    assert from_xlsx == from_csv


@requires_official_files
def test_fatigue_has_non_empty_descriptions_for_grades_1_to_3(from_xlsx):
    """CTCAE v5.0 Fatigue is described for grades 1, 2 and 3 only."""
    fatigue = next(d for d in from_xlsx if d.term == "Fatigue")
    assert fatigue.meddra_code == "10016256"
    assert sorted(fatigue.grade_descriptions) == [1, 2, 3]
    assert all(text.strip() for text in fatigue.grade_descriptions.values())
    assert fatigue.definition


@requires_official_files
def test_described_grades_are_exactly_the_dictionary_grades(from_xlsx):
    """Each CTCAE v5.0 term is described for exactly the grades the dictionary allows."""
    for description in from_xlsx:
        assert tuple(sorted(description.grade_descriptions)) == get_term(description.term).grades


@requires_official_files
def test_texts_are_whitespace_normalised(from_xlsx):
    """NCI's non-breaking spaces and stray spaces are gone; lines are trimmed."""
    for description in from_xlsx:
        texts = [description.definition, description.navigational_note]
        texts += description.grade_descriptions.values()
        for text in texts:
            assert "\u00a0" not in text
            for line in text.splitlines():
                assert line
                assert line == " ".join(line.split())


@requires_official_files
def test_multi_line_descriptions_keep_their_line_breaks(from_xlsx):
    """CTCAE v5.0 Hypertension grade 1 lists adult and paediatric criteria on separate lines."""
    hypertension = next(d for d in from_xlsx if d.term == "Hypertension")
    lines = hypertension.grade_descriptions[1].splitlines()
    assert [line.split(":")[0] for line in lines] == ["Adult", "Pediatric", "Adolescent"]


@requires_official_files
def test_other_specify_terms_have_no_definition(from_xlsx):
    """NCI's CTCAE v5.0 gives the 'Other, specify' terms a ' -' definition, read as empty."""
    others = [d for d in from_xlsx if get_term(d.term).is_other_specify]
    assert len(others) == 26
    assert {d.definition for d in others} == {""}


# --- Reading without NCI's files: invented texts, real CTCAE v5.0 terms ------------------


@both_formats
def test_a_complete_file_with_the_official_layout_is_read(tmp_path, file_format):
    """A file listing every CTCAE v5.0 term with its grades is accepted in either format."""
    descriptions = read_term_descriptions(write_file(tmp_path, file_format, full_rows()))
    assert len(descriptions) == 837
    nausea = next(d for d in descriptions if d.term == "Nausea")
    assert nausea == TermDescription(
        meddra_code="10028813",
        term="Nausea",
        definition="Placeholder definition of Nausea",
        grade_descriptions={
            1: "Placeholder text for grade 1",
            2: "Placeholder text for grade 2",
            3: "Placeholder text for grade 3",
        },
        navigational_note="",
    )


def test_xlsx_and_csv_versions_of_the_same_rows_read_the_same(tmp_path):
    """The format of the CTCAE v5.0 file does not change what is read."""
    rows = replace_row(
        full_rows(),
        "Fatigue",
        [
            "10016256",
            "General",
            "  fatigue\u00a0",
            " Rest\u00a0 helps ",
            "A\n\n \nB ",
            "Bad",
            " -",
            "-",
        ]
        + ["Some\u00a0definition", " A note ", ""],
    )
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    from_csv = read_term_descriptions(write_csv(tmp_path / "a" / "ctcae.csv", rows))
    from_xlsx = read_term_descriptions(write_xlsx(tmp_path / "b" / "ctcae.xlsx", rows))
    assert from_csv == from_xlsx
    fatigue = next(d for d in from_csv if d.meddra_code == "10016256")
    assert fatigue.term == "fatigue"
    assert fatigue.grade_descriptions == {1: "Rest helps", 2: "A\nB", 3: "Bad"}
    assert fatigue.definition == "Some definition"
    assert fatigue.navigational_note == "A note"


def test_a_path_given_as_text_is_accepted(tmp_path):
    """read_term_descriptions takes a str path as well as a Path."""
    path = write_csv(tmp_path / "ctcae.csv", full_rows())
    assert len(read_term_descriptions(str(path))) == 837


def test_empty_rows_are_ignored(tmp_path):
    """Blank rows, common at the end of edited sheets, are not CTCAE v5.0 terms."""
    rows = full_rows()
    rows.insert(5, [""] * len(HEADER))
    rows.append([" "] * len(HEADER))
    assert len(read_term_descriptions(write_csv(tmp_path / "ctcae.csv", rows))) == 837


def test_a_utf8_bom_from_excel_is_tolerated(tmp_path):
    """Excel's 'CSV UTF-8' export starts with a byte-order mark before 'MedDRA Code'."""
    path = write_csv(tmp_path / "ctcae.csv", full_rows())
    path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes())
    assert len(read_term_descriptions(path)) == 837


# --- Error cases -----------------------------------------------------------------------


def test_a_missing_file_is_reported(tmp_path):
    """The CTCAE v5.0 workbook path must point at an existing file."""
    missing = tmp_path / "nowhere.xlsx"
    with pytest.raises(WorkbookError) as raised:
        read_term_descriptions(missing)
    assert str(raised.value) == f"CTCAE workbook not found: {missing}."


def test_a_directory_is_not_a_workbook(tmp_path):
    """A folder named like a workbook is reported as not found."""
    folder = tmp_path / "folder.csv"
    folder.mkdir()
    with pytest.raises(WorkbookError, match="not found"):
        read_term_descriptions(folder)


@pytest.mark.parametrize("name", ["ctcae.xls", "ctcae.ods", "ctcae.json", "ctcae"])
def test_an_unsupported_extension_is_refused(tmp_path, name):
    """Only the official .xlsx workbook or its CTCAE v5.0 clean copy as .csv are read."""
    path = tmp_path / name
    path.write_bytes(b"irrelevant")
    with pytest.raises(WorkbookError) as raised:
        read_term_descriptions(path)
    message = str(raised.value)
    assert message.startswith("Unsupported CTCAE workbook file type")
    assert "(.xlsx)" in message
    assert ".csv" in message


def test_an_upper_case_extension_is_accepted(tmp_path):
    """'CTCAE.XLSX' is as good as 'ctcae.xlsx'."""
    path = write_xlsx(tmp_path / "CTCAE.XLSX", full_rows())
    assert len(read_term_descriptions(path)) == 837


def test_a_workbook_without_the_clean_copy_sheet_is_refused(tmp_path):
    """The official CTCAE v5.0 workbook has a 'CTCAE v5.0 Clean Copy' sheet."""
    path = write_xlsx(tmp_path / "ctcae.xlsx", full_rows(), sheet="Sheet1")
    with pytest.raises(WorkbookError) as raised:
        read_term_descriptions(path)
    assert str(raised.value) == (
        f"Sheet 'CTCAE v5.0 Clean Copy' not found in {path}; the workbook has: 'Sheet1'. "
        "Expected the official NCI CTCAE v5.0 workbook."
    )


def test_a_file_that_is_not_really_xlsx_is_refused(tmp_path):
    """A renamed text file cannot be read as the CTCAE v5.0 workbook."""
    path = tmp_path / "ctcae.xlsx"
    path.write_text("MedDRA Code,CTCAE Term\n", encoding="utf-8")
    with pytest.raises(WorkbookError, match="Cannot read .* as an .xlsx workbook"):
        read_term_descriptions(path)


def test_a_csv_that_is_not_utf8_is_refused(tmp_path):
    """The CTCAE v5.0 CSV must be UTF-8 (NCI's texts contain '≥')."""
    path = tmp_path / "ctcae.csv"
    path.write_bytes(",".join(HEADER).encode("utf-8") + "\n10016256,Caf\xe9\n".encode("latin-1"))
    with pytest.raises(WorkbookError, match="Cannot read .* as a UTF-8 CSV file"):
        read_term_descriptions(path)


def test_an_empty_csv_is_refused(tmp_path):
    """An empty file holds no CTCAE v5.0 terms."""
    path = tmp_path / "ctcae.csv"
    path.write_text("", encoding="utf-8")
    with pytest.raises(WorkbookError, match="is empty"):
        read_term_descriptions(path)


@both_formats
def test_missing_columns_are_named(tmp_path, file_format):
    """Without 'Grade 5' and 'Definition' the file is not the CTCAE v5.0 clean copy."""
    header = [name for name in HEADER if not name.startswith(("Grade 5", "Definition"))]
    rows = [
        [cell for cell, name in zip(row, HEADER, strict=True) if name in header]
        for row in full_rows()
    ]
    path = write_file(tmp_path, file_format, rows, header)
    with pytest.raises(WorkbookError) as raised:
        read_term_descriptions(path)
    assert str(raised.value) == (
        f"{path} lacks the column(s): Grade 5, Definition. "
        "Expected the columns of the NCI CTCAE v5.0 clean copy."
    )


@both_formats
def test_terms_of_another_ctcae_version_are_refused(tmp_path, file_format):
    """Unknown terms (e.g. from CTCAE v4.03) are counted and a few shown as examples."""
    rows = [
        placeholder_row("Fatigue"),
        placeholder_row("Neutrophil count decreased"),
        placeholder_row("Invented term one", grades=(1, 2), code="99999991"),
        placeholder_row("Invented term two", grades=(1, 2), code="99999992"),
        placeholder_row("Fatique", grades=(1, 2, 3), code="10016256"),
    ]
    path = write_file(tmp_path, file_format, rows)
    with pytest.raises(WorkbookError) as raised:
        read_term_descriptions(path)
    assert str(raised.value) == (
        f"{path} does not match CTCAE v5.0: 3 of its 5 terms are unknown "
        "(e.g. 'Invented term one' (99999991, row 4); 'Invented term two' (99999992, row 5); "
        "'Fatique' (10016256, row 6)). Is it a workbook of another CTCAE version?"
    )


@both_formats
def test_a_description_for_a_grade_ctcae_does_not_define_is_refused(tmp_path, file_format):
    """CTCAE v5.0 Fatigue has no grade 4, so a grade 4 text means a wrong or edited file."""
    rows = replace_row(full_rows(), "Fatigue", placeholder_row("Fatigue", grades=(1, 2, 3, 4)))
    path = write_file(tmp_path, file_format, rows)
    row_number = 2 + [term.term for term in all_terms()].index("Fatigue")
    with pytest.raises(WorkbookError) as raised:
        read_term_descriptions(path)
    assert str(raised.value) == (
        f"{path} describes 1 grade(s) that CTCAE v5.0 does not define "
        f"(e.g. Fatigue grade 4 (row {row_number}))."
    )


@both_formats
def test_a_missing_description_for_a_defined_grade_is_refused(tmp_path, file_format):
    """CTCAE v5.0 Febrile neutropenia has grade 3; a blank grade 3 cell is an error."""
    rows = replace_row(
        full_rows(), "Febrile neutropenia", placeholder_row("Febrile neutropenia", grades=(4, 5))
    )
    path = write_file(tmp_path, file_format, rows)
    with pytest.raises(WorkbookError, match=r"lacks the description of 1 grade\(s\)") as raised:
        read_term_descriptions(path)
    assert "Febrile neutropenia grade 3 (row " in str(raised.value)


def test_a_term_listed_twice_is_refused(tmp_path):
    """Each CTCAE v5.0 term must appear once, or its descriptions would be ambiguous."""
    rows = full_rows()
    rows.append(placeholder_row("Nausea"))
    path = write_csv(tmp_path / "ctcae.csv", rows)
    first = 2 + [term.term for term in all_terms()].index("Nausea")
    with pytest.raises(WorkbookError) as raised:
        read_term_descriptions(path)
    assert str(raised.value) == (
        f"{path} lists 1 term(s) more than once (e.g. Nausea (rows {first} and 839))."
    )


@both_formats
def test_a_file_lacking_some_terms_is_refused(tmp_path, file_format):
    """A partial file cannot describe every CTCAE v5.0 term a trial may record."""
    rows = [row for row in full_rows() if row[2] not in {"Fatigue", "Nausea"}]
    path = write_file(tmp_path, file_format, rows)
    with pytest.raises(WorkbookError) as raised:
        read_term_descriptions(path)
    assert str(raised.value) == (
        # Dictionary order: Gastrointestinal disorders come before General disorders.
        f"{path} lacks 2 of the 837 CTCAE v5.0 terms (e.g. Nausea, Fatigue)."
    )


def test_workbook_error_is_a_value_error():
    """Callers can catch a bad CTCAE v5.0 workbook as ValueError."""
    assert issubclass(WorkbookError, ValueError)
