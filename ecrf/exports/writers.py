"""Writing export frames: CSV (pandas), XLSX (XlsxWriter), SAS transport (pyreadstat) and zip.

Every text cell that a spreadsheet would run as a formula (one starting with `=`, `+`, `-`, `@`,
a tab or a carriage return) is written with a leading single quote, in CSV and XLSX alike, SDTM
CSV included: `=HYPERLINK("http://x")` becomes `'=HYPERLINK("http://x")`. Numeric cells are never
touched (a negative number stays a number), nor is a text that is only a number (`-21` as an
old value in the audit trail). XPT files are SAS datasets, not spreadsheets: their values are
written as they are.

CSV files quote every text field and leave numbers bare; the workbook holds values only (no
styles, no formulas: XlsxWriter is told never to turn a text into a formula or a link). Dates
and times are ISO 8601 text in both, times in UTC (`2026-03-09T08:15:00Z`). Nothing is dropped:
control characters stay in CSV, and XlsxWriter writes those XML cannot hold in the workbook's own
escaped form (`_x0001_`), which spreadsheets show as the character.
"""

from __future__ import annotations

import csv
import re
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import IO

import numpy as np
import pandas as pd
import xlsxwriter
from pandas.api.types import infer_dtype, is_bool_dtype, is_datetime64_any_dtype, is_numeric_dtype

DATETIME_FORMAT = "%Y-%m-%dT%H:%M:%SZ"  # every time is UTC

# A text a spreadsheet would run as a formula, unless it is only a number.
_FORMULA_START = r"[=+\-@\t\r]"
_ONLY_A_NUMBER = r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?"

XLSX_MAX_ROWS = 1_048_576  # the header row included
XLSX_SHEET_NAME_MAX = 31
XLSX_OPTIONS = {
    "constant_memory": True,  # rows go to disk as they are written
    "strings_to_formulas": False,
    "strings_to_urls": False,
    "strings_to_numbers": False,
}


def neutralised_text(text: str) -> str:
    """One text as CSV and XLSX files hold it: quoted when a spreadsheet would run it."""
    if re.match(_FORMULA_START, text) and not re.fullmatch(_ONLY_A_NUMBER, text):
        return "'" + text
    return text


class ExportError(ValueError):
    """A frame cannot be written in the format asked for; nothing is written."""


def _text_column(series: pd.Series) -> pd.Series:
    """Formula-like texts of a column with a leading quote; other values as they are."""
    if pd.api.types.is_string_dtype(series.dtype) and series.dtype != object:
        # A text column (missing values apart): the string methods run over it directly.
        hit = series.str.match(_FORMULA_START, na=False) & ~series.str.fullmatch(
            _ONLY_A_NUMBER, na=False
        )
        return series.where(~hit, "'" + series) if hit.any() else series
    texts = series.astype(object)
    is_text = pd.Series(
        np.fromiter((isinstance(v, str) for v in texts.to_numpy()), dtype=bool, count=len(texts)),
        index=texts.index,
    )
    if not is_text.any():
        return series
    candidates = texts[is_text]
    hit = candidates.str.match(_FORMULA_START) & ~candidates.str.fullmatch(_ONLY_A_NUMBER)
    if not hit.any():
        return series
    texts = texts.copy()
    texts[hit[hit].index] = "'" + candidates[hit]
    return texts


def neutralised(frame: pd.DataFrame) -> pd.DataFrame:
    """The frame as it is written to CSV and XLSX: booleans as True/False, dates and times as ISO
    text (times in UTC), formula-like texts quoted. The frame passed in is left alone."""
    changes = {}
    for name, series in frame.items():
        dtype = series.dtype
        if is_bool_dtype(dtype):
            values = series.to_numpy(dtype=bool)
            changes[name] = pd.Series(
                np.where(values, "True", "False").astype(object), index=frame.index
            )
        elif is_datetime64_any_dtype(dtype):
            times = series.dt.strftime(DATETIME_FORMAT).astype(object)
            changes[name] = times.where(times.notna(), None)
        elif infer_dtype(series, skipna=True) == "date":
            changes[name] = series.map(lambda day: day.isoformat(), na_action="ignore")
        elif not is_numeric_dtype(dtype):
            column = _text_column(series)
            if column is not series:
                changes[name] = column
    if not changes:
        return frame
    frame = frame.copy(deep=False)
    for name, values in changes.items():
        frame[name] = values
    return frame


# ---- CSV ---------------------------------------------------------------------------------------


def write_csv(frame: pd.DataFrame, path: Path) -> Path:
    neutralised(frame).to_csv(
        path, index=False, quoting=csv.QUOTE_NONNUMERIC, na_rep="", encoding="utf-8"
    )
    return path


def write_zip(paths: list[Path], path: Path | IO[bytes]) -> Path | IO[bytes]:
    """One zip of the files (the download of a multi-file format)."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as archive:
        for member in paths:
            archive.write(member, arcname=member.name)
    return path


# ---- XLSX --------------------------------------------------------------------------------------


def _sheet_parts(
    name: str, frame: pd.DataFrame, max_rows: int = XLSX_MAX_ROWS
) -> list[tuple[str, pd.DataFrame]]:
    """A table longer than a sheet (`max_rows`, its header row included) continues on
    `name_2`, `name_3`..."""
    if len(name) > XLSX_SHEET_NAME_MAX - 3:
        raise ExportError(f"sheet name {name!r} is longer than {XLSX_SHEET_NAME_MAX - 3}.")
    per_sheet = max_rows - 1
    if len(frame) <= per_sheet:
        return [(name, frame)]
    return [
        (
            name if start == 0 else f"{name}_{start // per_sheet + 1}",
            frame.iloc[start : start + per_sheet],
        )
        for start in range(0, len(frame), per_sheet)
    ]


def _cells(frame: pd.DataFrame):
    """Rows of Python values, None for a missing value (an empty cell)."""
    values = frame.astype(object)
    return values.where(frame.notna(), None).itertuples(index=False, name=None)


def write_xlsx(frames: Mapping[str, pd.DataFrame], path: Path) -> Path:
    """One workbook, one sheet per frame (continued on further sheets when longer than a sheet),
    the column names in the first row, which stays in view."""
    parts = {name: _sheet_parts(name, frame) for name, frame in frames.items()}
    with xlsxwriter.Workbook(str(path), XLSX_OPTIONS) as book:
        for name, frame in frames.items():
            for sheet_name, part in parts[name]:
                sheet = book.add_worksheet(sheet_name)
                sheet.freeze_panes(1, 0)
                sheet.write_row(0, 0, [str(column) for column in frame.columns])
                for row, cells in enumerate(_cells(neutralised(part)), start=1):
                    sheet.write_row(row, 0, cells)
    return path


def write_tables(
    frames: Mapping[str, pd.DataFrame],
    *,
    csv_dir: Path | None = None,
    xlsx_path: Path | None = None,
) -> list[Path]:
    """Write each frame as `csv_dir/<name>.csv` and/or as a sheet of `xlsx_path`."""
    written: list[Path] = []
    if csv_dir is not None:
        written += [write_csv(frame, csv_dir / f"{name}.csv") for name, frame in frames.items()]
    if xlsx_path is not None:
        written.append(write_xlsx(frames, xlsx_path))
    return written


# ---- SAS transport v5 -------------------------------------------------------------------------

XPT_NAME_MAX = 8
XPT_LABEL_MAX = 40
XPT_VALUE_MAX = 200
_SAS_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _longest_bytes(texts: pd.Series) -> tuple[int, int]:
    """(bytes, row) of the longest of a column of texts; only long texts are encoded."""
    values = texts.to_numpy(dtype=object)
    chars = np.fromiter(map(len, values), dtype=np.int64, count=len(values))
    # UTF-8 takes at most 4 bytes a character: shorter texts cannot be too long.
    candidates = np.flatnonzero(chars > XPT_VALUE_MAX // 4)
    if not len(candidates):
        return int(chars.max()), int(chars.argmax())
    sizes = np.array([len(values[i].encode()) for i in candidates])
    worst = int(np.argmax(sizes))
    return int(sizes[worst]), int(candidates[worst])


def xpt_ready(frame: pd.DataFrame) -> pd.DataFrame:
    """Numbers as floats, everything else as text ('' for none), as pyreadstat writes them."""
    columns = {}
    for column, series in frame.items():
        if is_numeric_dtype(series.dtype) and not is_bool_dtype(series.dtype):
            columns[column] = series.astype(float)
        else:
            values = series.astype(object)
            missing = values.isna()
            if missing.any():
                values = values.where(~missing, "")
            columns[column] = values.map(str) if not _all_text(values) else values
    return pd.DataFrame(columns, index=frame.index)


def _all_text(values: pd.Series) -> bool:
    return infer_dtype(values, skipna=False) == "string"


def xpt_problems(name: str, frame: pd.DataFrame, labels: Mapping[str, str]) -> list[str]:
    """Everything that SAS transport version 5 cannot hold, named by dataset and variable."""
    problems = []
    if len(name) > XPT_NAME_MAX or not _SAS_NAME.fullmatch(name):
        problems.append(f"{name}: a dataset name needs at most 8 letters, digits or _.")
    ready = xpt_ready(frame)
    for column in frame.columns:
        where = f"{name}.{column}"
        if len(column) > XPT_NAME_MAX or not _SAS_NAME.fullmatch(column):
            problems.append(f"{where}: a variable name needs at most 8 letters, digits or _.")
        label = labels.get(column, "")
        if len(label.encode()) > XPT_LABEL_MAX:
            problems.append(f"{where}: the label {label!r} is longer than 40 characters.")
        if ready[column].dtype == object and len(frame):
            size, row = _longest_bytes(ready[column])
            if size > XPT_VALUE_MAX:
                problems.append(
                    f"{where}: row {row + 1} has {size} bytes; SAS transport v5 holds at most "
                    f"{XPT_VALUE_MAX}."
                )
    return problems


def write_xpt(
    name: str, frame: pd.DataFrame, path: Path, labels: Mapping[str, str], *, checked=False
) -> Path:
    """Write one dataset as SAS transport v5; refuse what v5 cannot hold (see xpt_problems).

    `checked` says the caller has run xpt_problems and `frame` is xpt_ready already.
    """
    import pyreadstat

    if not checked:
        problems = xpt_problems(name, frame, labels)
        if problems:
            raise ExportError("; ".join(problems))
        frame = xpt_ready(frame)
    pyreadstat.write_xport(
        frame,
        str(path),
        file_format_version=5,
        table_name=name,
        column_labels=[labels.get(column, "") for column in frame.columns],
    )
    return path
