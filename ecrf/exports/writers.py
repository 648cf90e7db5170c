"""Writing export frames: CSV (pandas), XLSX (XlsxWriter), Parquet (pyarrow), SAS transport
(pyreadstat) and zip.

Every text cell that a spreadsheet would run as a formula (one starting with `=`, `+`, `-`, `@`,
a tab or a carriage return) is written with a leading single quote, in CSV and XLSX alike, SDTM
CSV included: `=HYPERLINK("http://x")` becomes `'=HYPERLINK("http://x")`. Numeric cells are never
touched (a negative number stays a number), nor is a text that is only a number in ASCII digits
(`-21` as an old value in the audit trail; `-٣` is quoted). The check is one regular expression
over a whole column (pyarrow compute, RE2), never a loop over cells. XPT files are SAS datasets
and Parquet files typed tables, not spreadsheets: their values are written as they are.

CSV files quote every text field and leave numbers bare; the workbook holds values only (no
styles, no formulas: XlsxWriter is told never to turn a text into a formula or a link). Dates
and times are ISO 8601 text in both, times in UTC (`2026-03-09T08:15:00Z`). Nothing is dropped:
control characters stay in CSV, and XlsxWriter writes those XML cannot hold in the workbook's
own escaped form (`_x0001_`), which spreadsheets show as the character.

The audit trail is too long for a workbook (millions of rows): `write_audit_trail` writes it to
CSV and Parquet from chunks (pyarrow tables) as they are read from the database, so that no more
than one chunk is in memory at a time.
"""

from __future__ import annotations

import csv
import re
import zipfile
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import IO

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq
import xlsxwriter
from pandas.api.types import infer_dtype, is_bool_dtype, is_datetime64_any_dtype, is_numeric_dtype

DATETIME_FORMAT = "%Y-%m-%dT%H:%M:%SZ"  # every time is UTC

# A text a spreadsheet would run as a formula, unless it is only a number. ASCII digits only:
# the same rule in Python (`re`) and in pyarrow (RE2), whatever the digits of other scripts.
_FORMULA_START = r"[=+\-@\t\r]"
_ONLY_A_NUMBER = r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?"
_STARTS_LIKE_A_FORMULA = "^" + _FORMULA_START
_IS_ONLY_A_NUMBER = "^" + _ONLY_A_NUMBER + "$"  # RE2's `$` is the end of the text only

XLSX_MAX_ROWS = 1_048_576  # the header row included
XLSX_SHEET_NAME_MAX = 31
XLSX_TEXT_MAX = 32_767  # characters in one cell
XLSX_CHUNK_ROWS = 20_000  # rows of a sheet formatted at a time


def neutralised_text(text: str) -> str:
    """One text as CSV and XLSX files hold it: quoted when a spreadsheet would run it."""
    if re.match(_FORMULA_START, text) and not re.fullmatch(_ONLY_A_NUMBER, text):
        return "'" + text
    return text


def formula_like(texts: pa.Array | pa.ChunkedArray) -> pa.Array | pa.ChunkedArray:
    """True where a text would run as a formula (the rule of `neutralised_text`), false for
    missing values; one vectorised pass over the column."""
    starts = pc.match_substring_regex(texts, _STARTS_LIKE_A_FORMULA)
    if not pc.any(starts).as_py():
        return pc.fill_null(starts, False)  # most columns: nothing starts like a formula
    number = pc.match_substring_regex(texts, _IS_ONLY_A_NUMBER)
    return pc.fill_null(pc.and_(starts, pc.invert(number)), False)


def neutralised_texts(texts: pa.Array | pa.ChunkedArray) -> pa.Array | pa.ChunkedArray:
    """A column of texts with a leading quote on the formula-like ones."""
    hit = formula_like(texts)
    if not pc.any(hit).as_py():
        return texts
    return pc.if_else(hit, pc.binary_join_element_wise("'", texts, ""), texts)


class ExportError(ValueError):
    """A frame cannot be written in the format asked for; nothing is written."""


def _as_texts(series: pd.Series) -> pa.Array | None:
    """The column as a pyarrow string array, or None when it holds other values than texts."""
    if pd.api.types.is_string_dtype(series.dtype) and series.dtype != object:
        return pa.array(series, type=pa.string(), from_pandas=True)
    if infer_dtype(series, skipna=True) not in ("string", "empty"):
        return None
    return pa.array(series.to_numpy(dtype=object), type=pa.string(), from_pandas=True)


def _text_column(series: pd.Series) -> pd.Series:
    """Formula-like texts of a column with a leading quote; other values as they are."""
    texts = _as_texts(series)
    if texts is None:
        # Texts mixed with other values (none of the export tables has such a column): only
        # the texts are looked at, one by one.
        values = series.to_numpy(dtype=object)
        is_text = np.fromiter((isinstance(v, str) for v in values), dtype=bool, count=len(values))
        where = np.flatnonzero(is_text)
        texts = pa.array(values[where], type=pa.string())
        hit = formula_like(texts).to_numpy(zero_copy_only=False)
        where = where[hit]
    else:
        hit = formula_like(texts).to_numpy(zero_copy_only=False)
        where = np.flatnonzero(hit)
    if not len(where):
        return series
    quoted = series.to_numpy(dtype=object, copy=True)
    quoted[where] = ["'" + text for text in quoted[where]]
    return pd.Series(quoted, index=series.index, name=series.name)


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
    """One zip of the files (the download of a multi-file format). Parquet files are compressed
    already and are stored as they are."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as archive:
        for member in paths:
            stored = member.suffix == ".parquet"
            archive.write(
                member,
                arcname=member.name,
                compress_type=zipfile.ZIP_STORED if stored else zipfile.ZIP_DEFLATED,
            )
    return path


# ---- the audit trail, in chunks ---------------------------------------------------------------


def _iso_utc_seconds(times: pa.ChunkedArray) -> pa.ChunkedArray:
    """UTC times as `DATETIME_FORMAT` gives them (`2026-03-09T08:15:00Z`), from pyarrow's own
    text of a time (`2026-03-09 08:15:00`): three times as fast as its strftime."""
    seconds = pc.cast(pc.cast(times, pa.timestamp("s", tz="UTC"), safe=False), pa.timestamp("s"))
    text = pc.replace_substring(pc.cast(seconds, pa.string()), " ", "T", max_replacements=1)
    return pc.binary_join_element_wise(text, "Z", "")


def _csv_chunk(table: pa.Table) -> pa.Table:
    """A chunk as the CSV holds it: times as ISO text in UTC, formula-like texts quoted, missing
    values as empty texts (quoted, as pandas writes them)."""
    columns = []
    for column in table.columns:
        if pa.types.is_timestamp(column.type):
            column = _iso_utc_seconds(column)
        elif pa.types.is_string(column.type):
            column = neutralised_texts(column)
        columns.append(pc.fill_null(column, ""))
    return pa.table(columns, names=table.column_names)


def write_audit_trail(
    chunks: Iterable[pa.Table],
    *,
    schema: pa.Schema,
    csv_path: Path | None = None,
    parquet_path: Path | None = None,
) -> int:
    """Write the chunks (tables of `schema`, in order) as one CSV file (the form `write_csv`
    gives, byte for byte) and/or one Parquet file (a row group per chunk, the types as they
    are); returns the number of rows written."""
    rows = 0
    options = pa_csv.WriteOptions(quoting_style="all_valid", include_header=True)
    with (
        pa_csv.CSVWriter(
            csv_path,
            pa.schema([(name, pa.string()) for name in schema.names]),
            write_options=options,
        )
        if csv_path is not None
        else _Nothing() as csv_out,
        pq.ParquetWriter(parquet_path, schema, compression="zstd")
        if parquet_path is not None
        else _Nothing() as parquet_out,
    ):
        for chunk in chunks:
            if csv_out is not None:
                csv_out.write_table(_csv_chunk(chunk))
            if parquet_out is not None:
                parquet_out.write_table(chunk)
            rows += chunk.num_rows
            del chunk  # before the next chunk is read
            # pyarrow's allocator keeps freed memory for reuse; a long trail need not.
            pa.default_memory_pool().release_unused()
    return rows


class _Nothing:
    def __enter__(self):
        return None

    def __exit__(self, *exc):
        return False


# ---- XLSX --------------------------------------------------------------------------------------

XLSX_OPTIONS = {
    "constant_memory": True,  # rows go to disk as they are written
    "strings_to_formulas": False,
    "strings_to_urls": False,
    "strings_to_numbers": False,
}


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


def _is_number(series: pd.Series) -> bool:
    return is_numeric_dtype(series.dtype) and not is_bool_dtype(series.dtype)


def _cell_texts(series: pd.Series) -> pa.Array:
    texts = _as_texts(series)
    if texts is None:
        texts = pa.array(series.map(str, na_action="ignore"), type=pa.string(), from_pandas=True)
    return texts


def xlsx_problems(frames: Mapping[str, pd.DataFrame]) -> list[str]:
    """Everything a workbook cannot hold (an infinite number, a text over 32,767 characters,
    the leading quote of a formula-like text included), named by sheet and column."""
    problems = []
    for name, frame in frames.items():
        for column, series in frame.items():
            where = f"{name}.{column}"
            if _is_number(series):
                numbers = pa.array(series, from_pandas=True)
                if pa.types.is_floating(numbers.type) and pc.any(pc.is_inf(numbers)).as_py():
                    problems.append(f"{where}: an infinite number cannot go into a workbook.")
            elif not is_datetime64_any_dtype(series.dtype) and not is_bool_dtype(series.dtype):
                texts = _cell_texts(series)
                # A formula-like text gets its leading quote in the cell.
                lengths = pc.add(pc.utf8_length(texts), pc.cast(formula_like(texts), pa.int32()))
                longest = pc.max(lengths).as_py() or 0
                if longest > XLSX_TEXT_MAX:
                    problems.append(
                        f"{where}: a text of {longest} characters; a workbook cell holds at "
                        f"most {XLSX_TEXT_MAX}."
                    )
    return problems


def _cells(frame: pd.DataFrame):
    """Rows of Python values, None for a missing value (an empty cell)."""
    values = frame.astype(object)
    return values.where(frame.notna(), None).itertuples(index=False, name=None)


def _write_rows(sheet, rows, first_row: int) -> None:
    """The cells of `rows` from `first_row` on, each by the method for its type, as
    `write_row` would choose it (with texts never turned into formulas, links or numbers): a
    text by `write_string`, a number by `write_number`, nothing for an empty text or None (a
    blank cell without a format is not written); anything else by `write`."""
    write, write_string, write_number = sheet.write, sheet.write_string, sheet.write_number
    for row, cells in enumerate(rows, start=first_row):
        for col, value in enumerate(cells):
            kind = value.__class__
            if kind is str:
                if value:
                    write_string(row, col, value)
            elif kind is float or kind is int:
                write_number(row, col, value)
            elif value is not None:
                write(row, col, value)


def write_xlsx(frames: Mapping[str, pd.DataFrame], path: Path, *, checked=False) -> Path:
    """One workbook (XlsxWriter), one sheet per frame (continued on further sheets when longer
    than a sheet), the column names in the first row, which stays in view. What a workbook
    cannot hold is refused before anything is written (`xlsx_problems`; `checked` says the
    caller has run it)."""
    if not checked:
        problems = xlsx_problems(frames)
        if problems:
            raise ExportError("; ".join(problems))
    try:
        with xlsxwriter.Workbook(str(path), XLSX_OPTIONS) as book:
            for name, frame in frames.items():
                for sheet_name, part in _sheet_parts(name, frame):
                    sheet = book.add_worksheet(sheet_name)
                    sheet.freeze_panes(1, 0)
                    sheet.write_row(0, 0, [str(column) for column in frame.columns])
                    # The formula check and the formatting a chunk of rows at a time.
                    for start in range(0, len(part), XLSX_CHUNK_ROWS):
                        chunk = neutralised(part.iloc[start : start + XLSX_CHUNK_ROWS])
                        _write_rows(sheet, _cells(chunk), start + 1)
    except BaseException:
        Path(path).unlink(missing_ok=True)
        raise
    return path


def write_tables(
    frames: Mapping[str, pd.DataFrame],
    *,
    csv_dir: Path | None = None,
    xlsx_path: Path | None = None,
    checked: bool = False,
) -> list[Path]:
    """Write each frame as `csv_dir/<name>.csv` and/or as a sheet of `xlsx_path` (`checked`:
    see `write_xlsx`)."""
    written: list[Path] = []
    if csv_dir is not None:
        written += [write_csv(frame, csv_dir / f"{name}.csv") for name, frame in frames.items()]
    if xlsx_path is not None:
        written.append(write_xlsx(frames, xlsx_path, checked=checked))
    return written


def write_parquet(frame: pd.DataFrame, path: Path) -> Path:
    """One table as Parquet: its own types (times in UTC, dates as dates), no neutralising."""
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), path, compression="zstd")
    return path


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
