"""Analysis exports of a study: long CSV tables, one XLSX workbook, SDTM CSV and SAS XPT.

    domain_frames(study)                 the long tables, one frame per domain
    sdtm_frames(study)                   DM, EX, AE and LB with SDTM variable names
    write_export(study, fmt, out_dir)    write one format (or a list); returns the files written
    write_frames(fmts, out_dir, study_code=..., domains=frames)
                                         the same from frames already built; several formats
                                         in one call share the formatting work

Formats: `csv` (one file per long table), `xlsx` (one workbook, a sheet per long table),
`sdtm` (dm.csv, ex.csv, ae.csv, lb.csv) and `xpt` (dm.xpt ... as SAS transport version 5);
both add a SUPP-- dataset (suppae.csv, suppae.xpt ...) holding the rest of any text over 200
characters (see `ecrf.exports.sdtm`).
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
from .domains import DOMAINS, domain_frames
from .sdtm import LABELS, SDTM_DOMAINS, sdtm_from_domains
from .writers import ExportError, write_tables, write_xpt, write_zip, xpt_problems, xpt_ready

FORMATS = {
    "csv": "CSV, one file per table",
    "xlsx": "Excel workbook, one sheet per table",
    "sdtm": "SDTM datasets (DM, EX, AE, LB) as CSV",
    "xpt": "SDTM datasets as SAS transport (XPT v5)",
}
UNKNOWN_FORMAT = "unknown format {fmt!r}; choose one of {choices}."

__all__ = [
    "DOMAINS",
    "FORMATS",
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


def write_frames(
    formats: str | list[str],
    out_dir: Path,
    *,
    study_code: str,
    domains: dict[str, pd.DataFrame],
) -> list[Path]:
    """Write frames already built (`domain_frames`) in one or more formats into `out_dir`.

    Several formats at once share the work: the SDTM datasets are derived once, and the CSV
    files and the workbook come from one formatting pass over each table.
    """
    formats = [formats] if isinstance(formats, str) else list(formats)
    for fmt in formats:
        check_format(fmt)
    out_dir = Path(out_dir)
    datasets = {}
    if "sdtm" in formats or "xpt" in formats:
        datasets = sdtm_from_domains(domains)
    if "xpt" in formats:
        # Every dataset is checked before any file is written.
        problems = [p for name, f in datasets.items() for p in xpt_problems(name, f, LABELS)]
        if problems:
            raise ExportError("; ".join(problems))
        ready = {name: xpt_ready(frame) for name, frame in datasets.items()}
    out_dir.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    if "csv" in formats or "xlsx" in formats:
        written += write_tables(
            domains,
            csv_dir=out_dir if "csv" in formats else None,
            xlsx_path=out_dir / f"{study_code}.xlsx" if "xlsx" in formats else None,
        )
    if "sdtm" in formats:
        written += write_tables({name.lower(): f for name, f in datasets.items()}, csv_dir=out_dir)
    if "xpt" in formats:
        written += [
            write_xpt(name, frame, out_dir / f"{name.lower()}.xpt", LABELS, checked=True)
            for name, frame in ready.items()
        ]
    return written


def write_export(
    study: Study, fmt: str | list[str], out_dir: Path, subjects: QuerySet | None = None
) -> list[Path]:
    """Write the study's export in `fmt` (or a list of formats) into `out_dir`, created if
    missing; returns the files written.

    `subjects` restricts it to those subjects (a user's visible ones); the default is all.
    """
    for one in [fmt] if isinstance(fmt, str) else fmt:
        check_format(one)
    return write_frames(
        fmt, Path(out_dir), study_code=study.code, domains=domain_frames(study, subjects)
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
            if fmt == "xlsx":
                name = f"{study.code}.xlsx"
                content_type = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
                with paths[0].open("rb") as workbook:
                    shutil.copyfileobj(workbook, download)
            else:
                name = f"{study.code}-{fmt}.zip"
                content_type = "application/zip"
                write_zip(paths, download)
    except BaseException:
        download.close()
        raise
    download.seek(0)
    return name, content_type, download
