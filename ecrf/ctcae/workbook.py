"""Read NCI's CTCAE v5.0 grade descriptions and definitions from a user-supplied workbook.

The project may not redistribute NCI's description texts, so they are read at run time
from the official workbook (``.xlsx``) or its "CTCAE v5.0 Clean Copy" sheet saved as a
UTF-8 ``.csv``. The file is checked against the shipped term dictionary, so a workbook of
another CTCAE version, or one edited by hand, is refused rather than silently mixed in.
"""

from __future__ import annotations

import csv
import warnings
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from ecrf.ctcae.dictionary import CTCAE_VERSION, GRADE_SCALE, all_terms, normalise

SHEET_NAME = "CTCAE v5.0 Clean Copy"
SUPPORTED_SUFFIXES = (".xlsx", ".csv")

CODE_COLUMN = "MedDRA Code"
TERM_COLUMN = "CTCAE Term"
GRADE_COLUMNS = {grade: f"Grade {grade}" for grade in GRADE_SCALE}
DEFINITION_COLUMN = "Definition"
NAVIGATIONAL_NOTE_COLUMN = "Navigational Note"
REQUIRED_COLUMNS = (CODE_COLUMN, TERM_COLUMN, *GRADE_COLUMNS.values(), DEFINITION_COLUMN)

# NCI fills a cell for a grade (or definition) that does not exist with a lone hyphen.
ABSENT_MARKERS = frozenset({"", "-"})
MAX_EXAMPLES = 3

FILE_NOT_FOUND_MESSAGE = "CTCAE workbook not found: {path}."
UNSUPPORTED_EXTENSION_MESSAGE = (
    "Unsupported CTCAE workbook file type '{suffix}' ({path}); expected the official NCI "
    "CTCAE v{version} workbook (.xlsx) or its '{sheet}' sheet saved as UTF-8 .csv."
)
UNREADABLE_MESSAGE = "Cannot read {path} as {kind}: {error}"
MISSING_SHEET_MESSAGE = (
    "Sheet '{sheet}' not found in {path}; the workbook has: {available}. "
    "Expected the official NCI CTCAE v{version} workbook."
)
EMPTY_FILE_MESSAGE = "{path} is empty; expected the NCI CTCAE v{version} clean copy."
MISSING_COLUMNS_MESSAGE = (
    "{path} lacks the column(s): {missing}. Expected the columns of the NCI CTCAE v{version} "
    "clean copy."
)
UNKNOWN_TERMS_MESSAGE = (
    "{path} does not match CTCAE v{version}: {count} of its {total} terms are unknown "
    "(e.g. {examples}). Is it a workbook of another CTCAE version?"
)
DUPLICATE_TERMS_MESSAGE = "{path} lists {count} term(s) more than once (e.g. {examples})."
UNEXPECTED_GRADE_MESSAGE = (
    "{path} describes {count} grade(s) that CTCAE v{version} does not define (e.g. {examples})."
)
MISSING_GRADE_MESSAGE = (
    "{path} lacks the description of {count} grade(s) that CTCAE v{version} defines "
    "(e.g. {examples})."
)
MISSING_TERMS_MESSAGE = (
    "{path} lacks {count} of the {total} CTCAE v{version} terms (e.g. {examples})."
)


class WorkbookError(ValueError):
    """The supplied file cannot serve as the CTCAE v5.0 description source."""


@dataclass(frozen=True)
class TermDescription:
    """NCI's texts for one term; ``grade_descriptions`` holds only the grades that exist."""

    meddra_code: str
    term: str
    definition: str
    # Excluded from the hash so instances stay hashable despite the dict.
    grade_descriptions: dict[int, str] = field(hash=False)
    navigational_note: str = ""


def read_term_descriptions(path: str | Path) -> list[TermDescription]:
    """Read every term's definition and grade descriptions, in the file's order.

    Raises WorkbookError when the file is missing, unreadable, of the wrong kind or
    layout, or does not describe exactly the terms and grades of the shipped dictionary.
    """
    path = Path(path)
    if not path.is_file():
        raise WorkbookError(FILE_NOT_FOUND_MESSAGE.format(path=path))
    suffix = path.suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        raise WorkbookError(
            UNSUPPORTED_EXTENSION_MESSAGE.format(
                suffix=path.suffix or "(none)", path=path, version=CTCAE_VERSION, sheet=SHEET_NAME
            )
        )
    rows = _read_xlsx(path) if suffix == ".xlsx" else _read_csv(path)
    return _parse(path, rows)


def _read_xlsx(path: Path) -> list[tuple[object, ...]]:
    # openpyxl is imported here so that the dictionary, and CSV reading, work without it.
    from openpyxl import load_workbook
    from openpyxl.utils.exceptions import InvalidFileException

    with warnings.catch_warnings():
        # Style and extension warnings about the file's formatting are irrelevant to reading
        # cell text, and would otherwise surface to users as noise.
        warnings.filterwarnings("ignore", category=UserWarning, module="openpyxl")
        try:
            workbook = load_workbook(path, read_only=True, data_only=True)
        except (zipfile.BadZipFile, InvalidFileException, KeyError, OSError) as error:
            raise WorkbookError(
                UNREADABLE_MESSAGE.format(path=path, kind="an .xlsx workbook", error=error)
            ) from error
        try:
            if SHEET_NAME not in workbook.sheetnames:
                available = ", ".join(f"'{name}'" for name in workbook.sheetnames)
                raise WorkbookError(
                    MISSING_SHEET_MESSAGE.format(
                        sheet=SHEET_NAME, path=path, available=available, version=CTCAE_VERSION
                    )
                )
            return list(workbook[SHEET_NAME].iter_rows(values_only=True))
        finally:
            # Read-only workbooks keep the file open until closed explicitly.
            workbook.close()


def _read_csv(path: Path) -> list[tuple[object, ...]]:
    try:
        # utf-8-sig: Excel's "CSV UTF-8" export starts with a byte-order mark.
        with path.open(encoding="utf-8-sig", newline="") as handle:
            return [tuple(row) for row in csv.reader(handle)]
    except UnicodeDecodeError as error:
        raise WorkbookError(
            UNREADABLE_MESSAGE.format(path=path, kind="a UTF-8 CSV file", error=error)
        ) from error
    except csv.Error as error:
        raise WorkbookError(
            UNREADABLE_MESSAGE.format(path=path, kind="a CSV file", error=error)
        ) from error


def clean_text(value: object) -> str:
    """Cell value as tidy text, the same for .xlsx and .csv sources.

    Whitespace (NCI's cells contain non-breaking spaces and stray spaces) collapses to
    single spaces within each line. Line breaks are kept, one per paragraph, because
    several descriptions list adult and paediatric criteria on separate lines.
    """
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        # A MedDRA code typed into a spreadsheet may come back as 10016256.0.
        value = int(value)
    lines = (" ".join(line.split()) for line in str(value).splitlines())
    return "\n".join(line for line in lines if line)


def _optional_text(value: object) -> str:
    text = clean_text(value)
    return "" if text in ABSENT_MARKERS else text


def _parse(path: Path, rows: list[tuple[object, ...]]) -> list[TermDescription]:
    if not rows:
        raise WorkbookError(EMPTY_FILE_MESSAGE.format(path=path, version=CTCAE_VERSION))
    header = [normalise(clean_text(cell)) for cell in rows[0]]
    missing = [name for name in REQUIRED_COLUMNS if normalise(name) not in header]
    if missing:
        raise WorkbookError(
            MISSING_COLUMNS_MESSAGE.format(
                path=path, missing=", ".join(missing), version=CTCAE_VERSION
            )
        )

    def column(name: str) -> int | None:
        key = normalise(name)
        return header.index(key) if key in header else None

    code_at, term_at, definition_at = (
        column(CODE_COLUMN),
        column(TERM_COLUMN),
        column(DEFINITION_COLUMN),
    )
    note_at = column(NAVIGATIONAL_NOTE_COLUMN)
    grade_at = {grade: column(name) for grade, name in GRADE_COLUMNS.items()}

    descriptions: list[TermDescription] = []
    row_numbers: list[int] = []
    for row_number, raw in _data_rows(rows[1:]):
        cells = list(raw) + [None] * (len(header) - len(raw))
        grade_texts = {grade: _optional_text(cells[at]) for grade, at in grade_at.items()}
        descriptions.append(
            TermDescription(
                meddra_code=clean_text(cells[code_at]),
                term=clean_text(cells[term_at]),
                definition=_optional_text(cells[definition_at]),
                grade_descriptions={grade: text for grade, text in grade_texts.items() if text},
                navigational_note="" if note_at is None else _optional_text(cells[note_at]),
            )
        )
        row_numbers.append(row_number)

    _check_against_dictionary(path, descriptions, row_numbers)
    return descriptions


def _data_rows(rows: Iterable[tuple[object, ...]]) -> Iterator[tuple[int, tuple[object, ...]]]:
    # Spreadsheet row numbers (the header is row 1) make error messages easy to act on;
    # fully empty rows, common at the end of edited sheets, are skipped.
    for row_number, row in enumerate(rows, start=2):
        if any(clean_text(cell) for cell in row):
            yield row_number, row


def _check_against_dictionary(
    path: Path, descriptions: list[TermDescription], row_numbers: list[int]
) -> None:
    dictionary = {term.meddra_code: term for term in all_terms()}

    unknown = [
        f"'{description.term}' ({description.meddra_code or 'no code'}, row {row_number})"
        for description, row_number in zip(descriptions, row_numbers, strict=True)
        if description.meddra_code not in dictionary
        or normalise(description.term) != normalise(dictionary[description.meddra_code].term)
    ]
    if unknown:
        raise WorkbookError(
            UNKNOWN_TERMS_MESSAGE.format(
                path=path,
                version=CTCAE_VERSION,
                count=len(unknown),
                total=len(descriptions),
                examples="; ".join(unknown[:MAX_EXAMPLES]),
            )
        )

    first_row: dict[str, int] = {}
    duplicates: list[str] = []
    for description, row_number in zip(descriptions, row_numbers, strict=True):
        code = description.meddra_code
        if code in first_row:
            duplicates.append(f"{description.term} (rows {first_row[code]} and {row_number})")
        else:
            first_row[code] = row_number
    if duplicates:
        raise WorkbookError(
            DUPLICATE_TERMS_MESSAGE.format(
                path=path, count=len(duplicates), examples="; ".join(duplicates[:MAX_EXAMPLES])
            )
        )

    unexpected: list[str] = []
    lacking: list[str] = []
    for description, row_number in zip(descriptions, row_numbers, strict=True):
        allowed = set(dictionary[description.meddra_code].grades)
        described = set(description.grade_descriptions)
        unexpected += [
            f"{description.term} grade {grade} (row {row_number})"
            for grade in sorted(described - allowed)
        ]
        lacking += [
            f"{description.term} grade {grade} (row {row_number})"
            for grade in sorted(allowed - described)
        ]
    for problems, message in (
        (unexpected, UNEXPECTED_GRADE_MESSAGE),
        (lacking, MISSING_GRADE_MESSAGE),
    ):
        if problems:
            raise WorkbookError(
                message.format(
                    path=path,
                    version=CTCAE_VERSION,
                    count=len(problems),
                    examples="; ".join(problems[:MAX_EXAMPLES]),
                )
            )

    absent = [term for code, term in dictionary.items() if code not in first_row]
    if absent:
        raise WorkbookError(
            MISSING_TERMS_MESSAGE.format(
                path=path,
                version=CTCAE_VERSION,
                count=len(absent),
                total=len(dictionary),
                examples=", ".join(term.term for term in absent[:MAX_EXAMPLES]),
            )
        )
