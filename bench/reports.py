"""The safety summary PDF and the exports on a synthetic trial, against pandas baselines measured
in the same run (issue #6):

- the safety summary against loading the same rows (every column of subjects, doses, adverse
  events with their per-agent rows, lab results and DLT assessments) into pandas DataFrames;
  target: under 10 s and at most 3 times the baseline;
- all exports together (every format of `ecrf.exports.FORMATS` in one call: the clinical
  tables from their frames, the audit trail streamed in chunks from the database to CSV and
  Parquet) against pandas writing the same frames (the clinical tables, the whole audit trail
  and the SDTM datasets) with `to_csv`; target: at most 2 times the baseline. Building the
  clinical frames from the database is reported apart, and in a second ratio;
- the peak memory (RSS) of an export (`write_export` of one format, as a download runs it, and
  of every format in one call; frames built from the database) in a fresh process of its own, reading the database from outside (SQLite: a
  file copy of the in-memory test database), so that neither the benchmark's frames nor an
  in-memory database count; target: under 1 GiB. The child reports its own peak (VmHWM):
  the ru_maxrss that wait4 gives of a child includes the benchmark's memory before the exec.

Run with `python -m bench.reports [--subjects 500] [--seed 1] [--repeats 2] [--exports-only]`; prints one JSON line and writes
bench/results/reports.json. The database is a fresh test database (SQLite in memory, or
PostgreSQL when DATABASE_URL is set).
"""

from __future__ import annotations

import argparse
import datetime as dt
import io
import json
import os
import resource
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import quote

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "trial.test_settings")

import django

django.setup()

import pandas as pd  # noqa: E402
from django.db import connection  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results" / "reports.json"
MIB = 1024 * 1024


def _best(action, repeats: int) -> float:
    """The fastest of `repeats` runs, in seconds: the least disturbed by the rest of the machine."""
    samples = []
    for _ in range(repeats):
        started = time.perf_counter()
        action()
        samples.append(time.perf_counter() - started)
    return min(samples)


def _best_interleaved(actions: dict, repeats: int) -> dict[str, dict[str, float]]:
    """The fastest run of each action (wall and CPU seconds of that run), the actions taking
    turns in each round, so that a machine busier in one stretch of the run weighs on both
    sides of a ratio alike."""
    best: dict[str, dict[str, float]] = {}
    for _ in range(repeats):
        for name, action in actions.items():
            wall, cpu = time.perf_counter(), time.process_time()
            action()
            run = {"wall": time.perf_counter() - wall, "cpu": time.process_time() - cpu}
            if name not in best or run["wall"] < best[name]["wall"]:
                best[name] = run
    return best


def export_peak_rss(study, work: Path, formats: list[str]) -> dict:
    """The peak RSS (MiB) and the seconds of a fresh process that runs an export of the study
    in `formats` (`peak_rss_mib`, `seconds`: frames built from the database, files written), as
    a worker would: it reads the database from outside (an SQLite file copied from the in-memory
    test database, or the PostgreSQL test database), so neither the benchmark's frames nor an
    in-memory database count."""
    settings = connection.settings_dict
    if connection.vendor == "sqlite":
        copy = work / "copy.sqlite3"
        connection.ensure_connection()
        target = sqlite3.connect(copy)
        connection.connection.backup(target)
        target.close()
        url = f"sqlite:///{copy}"
    else:
        user = quote(settings["USER"] or "")
        password = f":{quote(settings['PASSWORD'])}" if settings["PASSWORD"] else ""
        url = (
            f"postgres://{user}{password}@{settings['HOST']}:{settings['PORT'] or 5432}"
            f"/{settings['NAME']}"
        )
    child = subprocess.run(  # noqa: S603 - this interpreter, this module
        [
            *(sys.executable, "-m", "bench.reports", "--export-child", study.code),
            *(str(work / "out"), ",".join(formats)),
        ],
        env={**os.environ, "DATABASE_URL": url},
        cwd=Path(__file__).resolve().parent.parent,
        stdout=subprocess.PIPE,
        text=True,
        check=False,
    )
    if child.returncode != 0:
        raise RuntimeError(f"the export in the child process failed (status {child.returncode})")
    return json.loads(child.stdout.strip().splitlines()[-1])


def own_peak_rss_mib() -> int:
    """This process's peak RSS (MiB) since it started its program: VmHWM of /proc/self/status.
    Not ru_maxrss, which Linux carries over an exec from the process that forked it: a child of
    the benchmark would report at least the benchmark's own peak (its in-memory database)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return round(int(line.split()[1]) / 1024)  # kilobytes
    raise RuntimeError("no VmHWM in /proc/self/status: the peak RSS needs Linux")


def export_child(study_code: str, out: str, formats: str) -> None:
    """The child of export_peak_rss: one export, in the formats given (comma-separated); prints
    its peak RSS and its seconds as a JSON line."""
    from ecrf.exports import write_export
    from ecrf.models import Study

    started = time.perf_counter()
    write_export(Study.objects.get(code=study_code), formats.split(","), Path(out))
    seconds = round(time.perf_counter() - started, 2)
    print(json.dumps({"peak_rss_mib": own_peak_rss_mib(), "seconds": seconds}))


def load_rows_into_pandas(study) -> dict[str, pd.DataFrame]:
    """The baseline of the safety summary: every row it reads, all columns, one query a table."""
    from ecrf.models import (
        AdverseEvent,
        AdverseEventAgent,
        DltAssessment,
        DoseAdministration,
        LabResult,
        Subject,
    )

    tables = {
        "subjects": Subject.objects.filter(study=study),
        "doses": DoseAdministration.objects.filter(subject__study=study),
        "adverse_events": AdverseEvent.objects.filter(subject__study=study),
        "adverse_event_agents": AdverseEventAgent.objects.filter(
            adverse_event__subject__study=study
        ),
        "labs": LabResult.objects.filter(subject__study=study),
        "dlt_assessments": DltAssessment.objects.filter(adverse_event__subject__study=study),
    }
    frames = {}
    for name, queryset in tables.items():
        columns = [f.attname for f in queryset.model._meta.concrete_fields]
        frames[name] = pd.DataFrame.from_records(
            list(queryset.values_list(*columns)), columns=columns
        )
    return frames


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subjects", type=int, default=500)
    parser.add_argument("--events-per-subject", type=int, default=50)
    parser.add_argument("--labs-per-subject", type=int, default=500)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument(
        "--safety-only",
        action="store_true",
        help="time the safety summary and its baseline only; print, do not write the results",
    )
    parser.add_argument(
        "--exports-only",
        action="store_true",
        help="measure the exports and their baseline only (not the safety summary)",
    )
    parser.add_argument(
        "--export-child", nargs=3, metavar=("STUDY", "OUT", "FORMATS"), help=argparse.SUPPRESS
    )
    args = parser.parse_args(argv)
    if args.export_child:
        export_child(*args.export_child)
        return {}

    from ecrf.exports import FORMATS, AuditTrail, domain_frames, write_frames
    from ecrf.exports.sdtm import sdtm_from_domains
    from ecrf.synthetic.trial import generate_trial

    old_name = connection.creation.create_test_db(verbosity=0, autoclobber=True)
    try:
        started = time.perf_counter()
        study = generate_trial(
            subjects=args.subjects,
            seed=args.seed,
            events_per_subject=args.events_per_subject,
            labs_per_subject=args.labs_per_subject,
        )
        generated_s = time.perf_counter() - started
        memory = {}
        if not args.safety_only:
            from ecrf.exports import FORMATS

            # One download is one format (export_download); all of them in one call too.
            with tempfile.TemporaryDirectory() as work:
                for fmt in [*FORMATS, ",".join(FORMATS)]:
                    memory[fmt] = export_peak_rss(study, Path(work), fmt.split(","))
        safety = {} if args.exports_only else safety_figures(study, args.repeats)
        if args.safety_only:
            result = {"benchmark": "safety_report", "database": connection.vendor,
                      "subjects": args.subjects, **safety}  # fmt: skip
            print(json.dumps(result))
            return result

        with tempfile.TemporaryDirectory() as work:
            out = Path(work)
            formats = list(FORMATS)
            domains = domain_frames(study)
            audit = AuditTrail(study)
            # The baseline writes the same tables: the clinical ones, the whole audit trail
            # (as one frame, in memory) and the SDTM datasets.
            same_frames = {**domains, "audit_trail": audit.frame(), **sdtm_from_domains(domains)}
            baseline_rows = {name: len(frame) for name, frame in same_frames.items()}

            def to_csv():
                for name, frame in same_frames.items():
                    frame.to_csv(out / f"baseline-{name}.csv", index=False)

            def write_all():
                write_frames(
                    formats, out / "all", study_code=study.code, domains=domains, audit=audit
                )

            # The baseline and the export take turns: the machine may be shared.
            best = _best_interleaved(
                {"to_csv": to_csv, "frames": lambda: domain_frames(study), "all": write_all},
                args.repeats,
            )
            to_csv_s, frames_s, write_s = (
                best[name]["wall"] for name in ("to_csv", "frames", "all")
            )
            same_frames.clear()
            per_format = {
                fmt: _best(
                    lambda fmt=fmt: write_frames(
                        fmt, out / fmt, study_code=study.code, domains=domains, audit=audit
                    ),
                    1,
                )
                for fmt in formats
            }
    finally:
        connection.creation.destroy_test_db(old_name, verbosity=0)

    one_call = memory[",".join(formats)]
    result = {
        "benchmark": "reports_and_exports",
        "database": connection.vendor,
        "subjects": args.subjects,
        "exports_rows": baseline_rows,
        "generate_synthetic_s": round(generated_s, 1),
        **safety,
        "exports_formats": formats,
        "exports_write_all_formats_s": round(write_s, 2),
        "exports_per_format_s": {fmt: round(s, 2) for fmt, s in per_format.items()},
        "exports_building_frames_from_database_s": round(frames_s, 2),
        "baseline_to_csv_s": round(to_csv_s, 2),
        "exports_ratio": round(write_s / to_csv_s, 2),
        "exports_ratio_with_database_queries": round((write_s + frames_s) / to_csv_s, 2),
        "exports_ratio_cpu_time": round(best["all"]["cpu"] / best["to_csv"]["cpu"], 2),
        "exports_target": "ratio at most 2",
        "exports_peak_rss_mib_per_format": {fmt: memory[fmt]["peak_rss_mib"] for fmt in formats},
        "exports_peak_rss_mib_all_formats_in_one_call": one_call["peak_rss_mib"],
        "exports_memory_target": "peak RSS under 1024 MiB",
        "exports_fresh_process_s": {
            **{fmt: memory[fmt]["seconds"] for fmt in formats},
            "all_formats_in_one_call": one_call["seconds"],
        },
        "benchmark_process_peak_rss_mib": round(
            resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        ),
        "repeats": args.repeats,
        "timing": "best of repeats, the baseline and the export taking turns",
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result) + "\n", encoding="utf-8")
    print(json.dumps(result))
    return result


def safety_figures(study, repeats: int) -> dict:
    """The safety summary against loading its rows into pandas."""
    from ecrf.reports.safety import render_safety_report

    frames = load_rows_into_pandas(study)
    rows = {name: len(frame) for name, frame in frames.items()}
    cutoff = dt.date.today()
    load_s = _best(lambda: load_rows_into_pandas(study), repeats)
    report_pdf = io.BytesIO()

    def report():
        report_pdf.seek(0)
        report_pdf.truncate()
        return render_safety_report(study, cutoff=cutoff, generated_by="bench", out=report_pdf)

    report_s = _best(report, repeats)
    stages = report()
    return {
        "rows": rows,
        "safety_report_s": round(report_s, 2),
        "safety_report_stages_s": {
            "loading": round(stages.seconds_loading, 2),
            "tables": round(stages.seconds_tables, 2),
            "rendering": round(stages.seconds_rendering, 2),
        },
        "safety_report_bytes": report_pdf.getbuffer().nbytes,
        "baseline_load_into_pandas_s": round(load_s, 2),
        "safety_report_ratio": round(report_s / load_s, 2),
        "safety_report_targets": "under 10 s and ratio at most 3",
    }


if __name__ == "__main__":
    main()
