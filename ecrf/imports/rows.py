"""Shared pieces of the CSV imports: cell parsers and the reading of a file's rows.

The writing (one transaction, a savepoint per row) is the service `ecrf.services.imports`.
"""

from __future__ import annotations

import csv
import datetime as dt
from collections.abc import Iterable
from decimal import Decimal, InvalidOperation
from pathlib import Path

from django.utils import timezone

from ..models import SERIOUSNESS_CRITERIA
from ..safety.grade_history import parse_steps
from ..services.imports import ImportRefused, RowProblem

__all__ = [
    "ImportRefused",
    "RowProblem",
    "date",
    "grade_history",
    "moment",
    "number",
    "yes_no",
    "read_csv",
    "serious_criteria",
    "text",
    "whole_number",
]


def text(row: dict, column: str, *, required: bool = True) -> str:
    value = (row.get(column) or "").strip()
    if required and not value:
        raise RowProblem(column, "is required")
    return value


def date(row: dict, column: str, *, required: bool) -> dt.date | None:
    raw = text(row, column, required=required)
    if not raw:
        return None
    try:
        return dt.date.fromisoformat(raw)
    except ValueError as exc:
        raise RowProblem(column, f"{raw!r} is not a date (YYYY-MM-DD)") from exc


def moment(row: dict, column: str, *, required: bool) -> dt.datetime | None:
    """A date and time ("2026-03-14 09:30"); without a UTC offset it is the site's time zone's,
    as the forms take it."""
    raw = text(row, column, required=required)
    if not raw:
        return None
    try:
        value = dt.datetime.fromisoformat(raw)
    except ValueError as exc:
        raise RowProblem(column, f"{raw!r} is not a date and time (YYYY-MM-DD HH:MM)") from exc
    return value if timezone.is_aware(value) else timezone.make_aware(value)


def number(row: dict, column: str, *, required: bool) -> Decimal | None:
    raw = text(row, column, required=required)
    if not raw:
        return None
    try:
        value = Decimal(raw)
    except InvalidOperation as exc:
        raise RowProblem(column, f"{raw!r} is not a number") from exc
    if not value.is_finite():
        raise RowProblem(column, f"{raw!r} is not a finite number")
    return value


def whole_number(row: dict, column: str) -> int:
    raw = text(row, column)
    if not raw.isdigit():
        raise RowProblem(column, f"{raw!r} is not a whole number")
    return int(raw)


def yes_no(row: dict, column: str) -> bool:
    """A yes/no cell; empty is no."""
    raw = text(row, column, required=False).lower()
    if raw not in ("", "yes", "no"):
        raise RowProblem(column, f"{raw!r} is not yes or no")
    return raw == "yes"


def grade_history(row: dict, column: str = "grade_history") -> list[tuple[dt.date, int]]:
    """The steps of a grade history cell ("2026-03-01:2;2026-03-04:3"); empty is none."""
    try:
        return parse_steps(text(row, column, required=False))
    except ValueError as exc:
        raise RowProblem(column, str(exc)) from exc


def serious_criteria(row: dict, column: str = "serious_criteria") -> tuple[str, ...]:
    """The ICH E2A criteria named in a cell ("hospitalisation;life_threatening")."""
    criteria = []
    for name in filter(None, (c.strip() for c in (row.get(column) or "").split(";"))):
        field = f"sae_{name}"
        if field not in SERIOUSNESS_CRITERIA:
            known = ", ".join(c.removeprefix("sae_") for c in SERIOUSNESS_CRITERIA)
            raise RowProblem(column, f"{name!r} is not one of {known}")
        criteria.append(field)
    return tuple(criteria)


def read_csv(path: Path, required: Iterable[str], problems: list[str]) -> list[tuple[int, dict]]:
    """The data rows of a CSV file with their line numbers; a missing column is a problem."""
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            reader = csv.DictReader(handle)
            missing = [c for c in required if c not in (reader.fieldnames or [])]
            if missing:
                problems.append(f"{path.name}:1:header: missing column(s) {', '.join(missing)}")
                return []
            return list(enumerate(reader, start=2))
    except OSError as exc:
        problems.append(f"{path.name}:0:file: cannot read it ({exc.strerror})")
    except UnicodeDecodeError:
        problems.append(f"{path.name}:0:file: not UTF-8 text")
    return []
