"""Analysis exports of a study: long CSV tables, an XLSX workbook, Parquet, SDTM CSV and SAS XPT.

    domain_frames(study)                 the clinical long tables, one frame per domain
    AuditTrail(study)                    the audit trail, read from the database in chunks
    sdtm_frames(study)                   DM, EX, AE and LB with SDTM variable names
    write_export(study, fmt, out_dir)    write one format (or a list); returns the files written
    write_frames(fmts, out_dir, study_code=..., domains=frames, audit=AuditTrail(study))
                                         the same from frames already built; several formats
                                         in one call share the SDTM datasets and one reading
                                         of the audit trail
    export_download(study, fmt)          (file name, content type, open file) of one download

FORMATS is the one list of formats (the export page and `manage.py export` read it):
`csv` (one file per long table, the audit trail included as audit_trail.csv), `xlsx` (one
workbook, a sheet per clinical table and a short `audit_trail` sheet saying how many audit
events there are and in which files they are: a trail of millions of rows does not belong in
workbook cells), `parquet` (one Parquet file per long table, audit_trail.parquet included, with
their types: times as UTC timestamps, dates as dates, numbers as numbers), `sdtm` (dm.csv,
ex.csv, ae.csv, lb.csv) and `xpt` (dm.xpt ... as SAS transport version 5); both add a SUPP--
dataset (suppae.csv, suppae.xpt ...) holding the rest of any text over 200 characters (see
`ecrf.exports.sdtm`). The audit trail is written in chunks straight from the database (see
`ecrf.exports.audit`), never held whole in memory.
The long tables keep records marked entered-in-error, flagged; SDTM and XPT leave them out.
Text that a spreadsheet would run as a formula is neutralised in every CSV and XLSX file (see
`ecrf.exports.writers`).
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import IO

import pandas as pd
from django.db.models import QuerySet

from ..models import Study
from .audit import AUDIT_CHUNK_ROWS, AuditTrail
from .domains import DOMAINS, domain_frames
from .sdtm import LABELS, SDTM_DOMAINS, sdtm_from_domains
from .writers import (
    ExportError,
    write_audit_trail,
    write_parquet,
    write_tables,
    write_xpt,
    write_zip,
    xlsx_problems,
    xpt_problems,
    xpt_ready,
)

FORMATS = {
    "csv": "CSV, one file per table, audit trail included",
    "xlsx": "Excel workbook of the clinical tables (audit trail in CSV and Parquet)",
    "parquet": "Parquet, one typed file per table, audit trail included",
    "sdtm": "SDTM datasets (DM, EX, AE, LB) as CSV",
    "xpt": "SDTM datasets as SAS transport (XPT v5)",
}
UNKNOWN_FORMAT = "unknown format {fmt!r}; choose one of {choices}."
AUDIT_TRAIL = "audit_trail"
AUDIT_NOT_GIVEN = "the {formats} export needs the audit trail: pass audit=AuditTrail(study)."
AUDIT_ELSEWHERE = (
    "The audit trail is not in this workbook (a trail of millions of rows does not fit in "
    "workbook cells); it is in the files named here, one row per audit event."
)

__all__ = [
    "AUDIT_CHUNK_ROWS",
    "AUDIT_TRAIL",
    "DOMAINS",
    "FORMATS",
    "AuditTrail",
    "SDTM_DOMAINS",
    "ExportError",
    "domain_frames",
    "export_download",
    "sdtm_frames",
    "write_export",
    "write_frames",
]


def sdtm_frames(study: Study, subjects: QuerySet | None = None) -> dict[str, pd.DataFrame]:
    """DM, EX, AE and LB of the study (records entered in error left out), then SUPP-- for
    texts over 200 characters."""
    return sdtm_from_domains(domain_frames(study, subjects))


def check_format(fmt: str) -> str:
    if fmt not in FORMATS:
        raise ExportError(UNKNOWN_FORMAT.format(fmt=fmt, choices=", ".join(FORMATS)))
    return fmt


def download_name(study_code: str, fmt: str) -> str:
    """The file name of a format's download: the workbook, or a zip of the files."""
    return f"{study_code}.xlsx" if fmt == "xlsx" else f"{study_code}-{fmt}.zip"


def audit_pointer(study_code: str, rows: int) -> pd.DataFrame:
    """The workbook's `audit_trail` sheet: how many audit events, and where they are."""
    return pd.DataFrame(
        {
            "note": [AUDIT_ELSEWHERE],
            "audit_events": [rows],
            "csv": [f"{AUDIT_TRAIL}.csv in the csv export ({download_name(study_code, 'csv')})"],
            "parquet": [
                f"{AUDIT_TRAIL}.parquet in the parquet export "
                f"({download_name(study_code, 'parquet')})"
            ],
        }
    )


def write_frames(
    formats: str | list[str],
    out_dir: Path,
    *,
    study_code: str,
    domains: dict[str, pd.DataFrame],
    audit: AuditTrail | None = None,
) -> list[Path]:
    """Write frames already built (`domain_frames`) and the audit trail (read in chunks from
    the database as it is written) in one or more formats into `out_dir`.

    Several formats at once share the work: the SDTM datasets are derived once and the audit
    trail is read once for its CSV and Parquet files. Everything is checked before any file is
    written; then the SDTM datasets are written first, each let go once its CSV and XPT files
    are written, so that they are not held with the audit trail's chunks and the workbook.
    `audit` is needed by csv, xlsx and parquet.
    """
    formats = [formats] if isinstance(formats, str) else list(formats)
    for fmt in formats:
        check_format(fmt)
    needing_audit = [fmt for fmt in formats if fmt in ("csv", "xlsx", "parquet")]
    if needing_audit and audit is None:
        raise ValueError(AUDIT_NOT_GIVEN.format(formats=", ".join(needing_audit)))
    out_dir = Path(out_dir)
    datasets = {}
    if "sdtm" in formats or "xpt" in formats:
        datasets = sdtm_from_domains(domains)
    # Every table is checked before any file is written.
    problems = xlsx_problems(domains) if "xlsx" in formats else []
    if "xpt" in formats:
        problems += [p for name, f in datasets.items() for p in xpt_problems(name, f, LABELS)]
    if problems:
        raise ExportError("; ".join(problems))
    out_dir.mkdir(parents=True, exist_ok=True)
    # The SDTM datasets first, each let go once written (its XPT-ready copy made only then),
    # so that they are not held while the audit trail and the workbook are written.
    sdtm_files: list[Path] = []
    xpt_files: list[Path] = []
    for name in list(datasets):
        frame = datasets.pop(name)
        if "sdtm" in formats:
            sdtm_files += write_tables({name.lower(): frame}, csv_dir=out_dir)
        if "xpt" in formats:
            path = out_dir / f"{name.lower()}.xpt"
            xpt_files.append(write_xpt(name, xpt_ready(frame), path, LABELS, checked=True))
        del frame
    csv_files = write_tables(domains, csv_dir=out_dir) if "csv" in formats else []
    parquet_files = [
        write_parquet(frame, out_dir / f"{name}.parquet")
        for name, frame in domains.items()
        if "parquet" in formats
    ]
    audit_rows = None
    if "csv" in formats or "parquet" in formats:
        csv_path = out_dir / f"{AUDIT_TRAIL}.csv" if "csv" in formats else None
        parquet_path = out_dir / f"{AUDIT_TRAIL}.parquet" if "parquet" in formats else None
        # One reading of the audit trail for both files.
        audit_rows = write_audit_trail(
            audit.chunks(), schema=audit.schema, csv_path=csv_path, parquet_path=parquet_path
        )
        csv_files += [csv_path] if csv_path else []
        parquet_files += [parquet_path] if parquet_path else []
    written = csv_files + parquet_files
    if "xlsx" in formats:
        rows = audit.count() if audit_rows is None else audit_rows
        written += write_tables(
            {**domains, AUDIT_TRAIL: audit_pointer(study_code, rows)},
            xlsx_path=out_dir / f"{study_code}.xlsx",
            checked=True,
        )
    return written + sdtm_files + xpt_files


def write_export(
    study: Study,
    fmt: str | list[str],
    out_dir: Path,
    subjects: QuerySet | None = None,
    *,
    chunk_size: int = AUDIT_CHUNK_ROWS,
) -> list[Path]:
    """Write the study's export in `fmt` (or a list of formats) into `out_dir`, created if
    missing; returns the files written.

    `subjects` restricts it to those subjects (a user's visible ones); the default is all.
    `chunk_size` is how many audit events are read and written at a time.
    """
    for one in [fmt] if isinstance(fmt, str) else fmt:
        check_format(one)
    return write_frames(
        fmt,
        Path(out_dir),
        study_code=study.code,
        domains=domain_frames(study, subjects),
        audit=AuditTrail(study, subjects, chunk_size),
    )


def export_download(
    study: Study, fmt: str, subjects: QuerySet | None = None
) -> tuple[str, str, IO[bytes]]:
    """(file name, content type, open temporary file) of one download: the workbook for xlsx,
    a zip of the files for the other formats. The file is deleted when it is closed."""
    check_format(fmt)
    download = tempfile.TemporaryFile()  # noqa: SIM115 - the response closes it
    try:
        with tempfile.TemporaryDirectory() as work:
            paths = write_export(study, fmt, Path(work) / "export", subjects)
            name = download_name(study.code, fmt)
            if fmt == "xlsx":
                content_type = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
                with paths[0].open("rb") as workbook:
                    shutil.copyfileobj(workbook, download)
            else:
                content_type = "application/zip"
                write_zip(paths, download)
    except BaseException:
        download.close()
        raise
    download.seek(0)
    return name, content_type, download
