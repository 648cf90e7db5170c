"""Derive the shipped CTCAE v5.0 term list from NCI's clean-copy CSV.

The output keeps only facts the project may redistribute (MedDRA code, SOC, term and which
grades exist). NCI's grade descriptions and definitions stay out of the repository: the
application reads them at run time from a workbook the user supplies.

Usage (from the repository root):

    python scripts/derive_ctcae_terms.py [SOURCE_CSV] [--output DEST_CSV]
"""

from __future__ import annotations

import argparse
import csv
import re
import sys
from collections.abc import Sequence
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_SOURCE = REPO_ROOT.parent / "shared" / "ctcae" / "NCI_CTCAE_v5.0_clean_utf8.csv"
DEFAULT_OUTPUT = REPO_ROOT / "ecrf" / "ctcae" / "data" / "ctcae_v5_terms.csv"

OUTPUT_COLUMNS = ("meddra_code", "soc", "term", "grades")
GRADES = (1, 2, 3, 4, 5)
CODE_COLUMN = "MedDRA Code"
SOC_COLUMN = "MedDRA SOC"
TERM_COLUMN = "CTCAE Term"
GRADE_COLUMNS = {grade: f"Grade {grade}" for grade in GRADES}
REQUIRED_COLUMNS = (CODE_COLUMN, SOC_COLUMN, TERM_COLUMN, *GRADE_COLUMNS.values())

# NCI marks a grade that does not exist for a term with a lone hyphen (stored as " -").
ABSENT_GRADE_MARKERS = frozenset({"", "-"})
MEDDRA_CODE_PATTERN = re.compile(r"\d{8}")


class DerivationError(ValueError):
    """The source file does not look like the CTCAE v5.0 clean copy."""


def normalise(text: str) -> str:
    """Collapse all whitespace, including NCI's non-breaking spaces, to single spaces."""
    return " ".join(text.split())


def derive_terms(source: Path) -> list[dict[str, str]]:
    """Return one output row per term, in source order, without any NCI description text."""
    with source.open(encoding="utf-8-sig", newline="") as handle:
        reader = csv.reader(handle)
        try:
            header = [normalise(cell) for cell in next(reader)]
        except StopIteration:
            raise DerivationError(f"{source} is empty.") from None
        missing = [name for name in REQUIRED_COLUMNS if name not in header]
        if missing:
            raise DerivationError(f"{source} lacks the column(s): {', '.join(missing)}.")
        index = {name: header.index(name) for name in REQUIRED_COLUMNS}

        rows: list[dict[str, str]] = []
        for line_number, cells in enumerate(reader, start=2):
            if not any(cell.strip() for cell in cells):
                continue
            cells = cells + [""] * (len(header) - len(cells))
            code = normalise(cells[index[CODE_COLUMN]])
            soc = normalise(cells[index[SOC_COLUMN]])
            term = normalise(cells[index[TERM_COLUMN]])
            grades = [
                grade
                for grade in GRADES
                if normalise(cells[index[GRADE_COLUMNS[grade]]]) not in ABSENT_GRADE_MARKERS
            ]
            if not MEDDRA_CODE_PATTERN.fullmatch(code):
                raise DerivationError(f"Line {line_number}: MedDRA code {code!r} is not 8 digits.")
            if not soc or not term:
                raise DerivationError(f"Line {line_number}: SOC or term is empty.")
            if not grades:
                raise DerivationError(f"Line {line_number}: {term} has no grade at all.")
            rows.append(
                {
                    "meddra_code": code,
                    "soc": soc,
                    "term": term,
                    "grades": " ".join(str(grade) for grade in grades),
                }
            )

    _check_unique(rows, "meddra_code")
    _check_unique(rows, "term")
    return rows


def _check_unique(rows: list[dict[str, str]], column: str) -> None:
    # Terms are compared case-insensitively because the dictionary looks them up that way.
    seen: set[str] = set()
    for row in rows:
        key = row[column].casefold()
        if key in seen:
            raise DerivationError(f"Duplicate {column} in source: {row[column]!r}.")
        seen.add(key)


def write_terms(rows: list[dict[str, str]], output: Path) -> None:
    """Write rows with fixed column order and "\\n" line endings so reruns are byte-identical."""
    output.parent.mkdir(parents=True, exist_ok=True)
    with output.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=OUTPUT_COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)


def derive(source: Path, output: Path) -> int:
    """Derive the term list from ``source`` into ``output``; return the number of terms."""
    rows = derive_terms(source)
    write_terms(rows, output)
    return len(rows)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", nargs="?", type=Path, default=DEFAULT_SOURCE)
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    args = parser.parse_args(argv)
    try:
        count = derive(args.source, args.output)
    except (OSError, DerivationError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(f"Wrote {count} terms to {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
