"""DLT evaluation and escalation advice for a whole synthetic trial, against a 1 s target.

    python -m bench.dlt [--subjects 500] [--events-per-subject 50] [--repeats 10]

Builds a synthetic trial (`ecrf.synthetic.trial.generate_trial`) in a fresh database (SQLite, or
PostgreSQL when DATABASE_URL is set) and times `dlt_overview(study)`: every event's DLT flag
from the protocol rules, every subject's DLT evaluability, the counts per dose level and the
design's recommendation, which is what the DLT dashboard, the admin and the safety report
compute. Lab results play no part in it, so the trial has none unless --labs-per-subject says
otherwise. The baseline, measured in the same run, is one query of one subject.

Prints one JSON line (median and 95th percentile of the wall time, median CPU time, SQL
queries) and writes bench/results/dlt.json.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "trial.test_settings")

import django

django.setup()

from django.db import connection  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results" / "dlt.json"
TARGET_S = 1.0
SEED = 8


def _time(function, repeats: int) -> tuple[list[float], list[float]]:
    function()  # warm-up
    wall, cpu = [], []
    for _ in range(repeats):
        start, start_cpu = time.perf_counter(), time.process_time()
        function()
        wall.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    return wall, cpu


def _p95(samples: list[float]) -> float:
    return statistics.quantiles(samples, n=20)[-1] if len(samples) > 1 else samples[0]


def _run(subjects: int, events: int, labs: int, repeats: int) -> dict:
    from ecrf.models import Subject
    from ecrf.selectors.dlt import dlt_overview
    from ecrf.synthetic.trial import generate_trial, trial_counts

    started = time.perf_counter()
    study = generate_trial(subjects=subjects, seed=SEED, study_code="SYN-DLT",
                           events_per_subject=events, labs_per_subject=labs)  # fmt: skip
    generated_s = time.perf_counter() - started
    counts = trial_counts(study)
    wall, cpu = _time(lambda: dlt_overview(study), repeats)
    with CaptureQueriesContext(connection) as queries:
        overview = dlt_overview(study)
    base_wall, _ = _time(lambda: Subject.objects.first(), repeats)
    median = statistics.median(wall)
    return {
        "benchmark": "dlt_overview",
        "database": connection.vendor,
        "subjects": subjects,
        "events_per_subject": events,
        "trial": counts,
        "generated_s": round(generated_s, 1),
        "repeats": repeats,
        "median_s": round(median, 3),
        "p95_s": round(_p95(wall), 3),
        "median_cpu_s": round(statistics.median(cpu), 3),
        "queries": len(queries),
        "target_s": TARGET_S,
        "meets_target": _p95(wall) < TARGET_S,
        "evaluated_subjects": len(overview.subjects),
        "evaluated_events": sum(len(row.events) for row in overview.subjects),
        "review_queue": len(overview.queue),
        "outcomes": overview.outcomes,
        "recommendation": overview.recommendation.reason,
        "baseline": "one query of one subject",
        "baseline_median_ms": round(statistics.median(base_wall) * 1000, 3),
        "ratio_to_baseline": round(median / statistics.median(base_wall)),
    }


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--subjects", type=int, default=500)
    parser.add_argument("--events-per-subject", type=int, default=50)
    parser.add_argument("--labs-per-subject", type=int, default=0)
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as folder:
        if connection.vendor == "sqlite":
            connection.settings_dict["TEST"]["NAME"] = os.path.join(folder, "dlt.sqlite3")
        old_name = connection.creation.create_test_db(verbosity=0, autoclobber=True)
        try:
            result = _run(args.subjects, args.events_per_subject, args.labs_per_subject,
                          args.repeats)  # fmt: skip
        finally:
            connection.creation.destroy_test_db(old_name, verbosity=0)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result) + "\n", encoding="utf-8")
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
