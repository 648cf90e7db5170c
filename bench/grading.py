"""Benchmark of CTCAE lab grading: ``grade_lab`` per call and ``grade_labs`` on a whole frame.

Run as ``python -m bench.grading [--rows N]``. The run generates N random results over every
test and unit with a fixed seed, then measures:

* ``grade_lab`` on a sample of single calls (calls/s and microseconds per call);
* ``grade_labs`` on all N rows (rows/s and seconds);
* a reference operation in the same run, ``np.select`` over four thresholds on N values of one
  column, so that the ratio of the two stays meaningful on a busy or slow machine.

It prints one JSON line and writes it to ``bench/results/grading.json``. The target is
1,000,000 rows graded by ``grade_labs`` in under 2 seconds.

The rows come from ``ecrf.synthetic.labs.random_results``, which the tests also use to compare
both grading paths on many rows.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import numpy as np
import pandas as pd

from ecrf.ctcae.labs import LAB_TESTS, grade_lab, grade_labs
from ecrf.synthetic.labs import random_results

SEED = 20171127
DEFAULT_ROWS = 1_000_000
SCALAR_CALLS = 100_000
REPEATS = 3
TARGET_SECONDS = 2.0
RESULTS_FILE = Path(__file__).resolve().parent / "results" / "grading.json"


def _best_of(repeats: int, function) -> float:
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        best = min(best, time.perf_counter() - start)
    return best


def run(rows: int = DEFAULT_ROWS, calls: int = SCALAR_CALLS) -> dict[str, object]:
    frame = random_results(rows, seed=SEED)
    missing = set(LAB_TESTS) - set(frame["test"].unique())
    if missing:
        raise SystemExit(f"The generated rows miss tests {sorted(missing)}; use more rows.")

    calls = min(calls, rows)
    sample = frame.iloc[:calls]
    # The sample is turned into plain Python lists first, so that the timing measures
    # grade_lab and not pandas row access.
    arguments = list(
        zip(
            sample["test"].tolist(),
            sample["value"].tolist(),
            sample["unit"].tolist(),
            sample["lln"].tolist(),
            sample["uln"].tolist(),
            sample["baseline"].tolist(),
            strict=True,
        )
    )

    def scalar() -> None:
        for test, value, unit, lln, uln, baseline in arguments:
            grade_lab(test, value, unit, lln=lln, uln=uln, baseline=baseline)

    scalar_seconds = _best_of(1, scalar)
    vector_seconds = _best_of(REPEATS, lambda: grade_labs(frame))

    column = frame["value"]
    thresholds = (75.0, 50.0, 25.0, 10.0)

    def reference() -> None:
        values = column.to_numpy()
        np.select([values < t for t in thresholds[::-1]], [4, 3, 2, 1], 0)

    reference_seconds = _best_of(REPEATS, reference)

    return {
        "benchmark": "ctcae_lab_grading",
        "rows": rows,
        "seed": SEED,
        "scalar_calls": calls,
        "scalar_seconds": round(scalar_seconds, 4),
        "scalar_calls_per_s": round(calls / scalar_seconds),
        "scalar_us_per_call": round(scalar_seconds / calls * 1e6, 3),
        "vector_rows": rows,
        "vector_seconds": round(vector_seconds, 4),
        "vector_rows_per_s": round(rows / vector_seconds),
        "reference_op": "np.select over 4 thresholds on one column",
        "reference_seconds": round(reference_seconds, 4),
        "vector_to_reference_ratio": round(vector_seconds / reference_seconds, 2),
        "timing": f"best of {REPEATS} for vector and reference, one pass for scalar",
        "target_seconds_per_million_rows": TARGET_SECONDS,
        "meets_target": vector_seconds / rows * 1_000_000 < TARGET_SECONDS,
        "python": platform.python_version(),
        "numpy": np.__version__,
        "pandas": pd.__version__,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=DEFAULT_ROWS, help="rows to grade")
    parser.add_argument(
        "--calls", type=int, default=SCALAR_CALLS, help="single grade_lab calls to time"
    )
    args = parser.parse_args(argv)
    line = json.dumps(run(args.rows, args.calls))
    print(line)
    RESULTS_FILE.parent.mkdir(parents=True, exist_ok=True)
    RESULTS_FILE.write_text(line + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
