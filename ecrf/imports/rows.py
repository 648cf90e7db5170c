"""Shared pieces of the CSV imports: row problems, cell parsers and the all-or-nothing runner."""

from __future__ import annotations

import csv
import datetime as dt
from collections.abc import Callable, Iterable
from decimal import Decimal, InvalidOperation
from pathlib import Path

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction

from ..models import SERIOUSNESS_CRITERIA


class ImportRefused(ValueError):
    """The import was refused and nothing was written; `problems` lists every problem."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__(
            f"Import refused, nothing was written ({len(problems)} problem"
            f"{'s' if len(problems) != 1 else ''}):\n" + "\n".join(f"- {p}" for p in problems)
        )


class RowProblem(ValueError):
    """A cell that cannot be read; `column` names it."""

    def __init__(self, column: str, message: str):
        self.column = column
        super().__init__(message)


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


def problems_of(exc: ValidationError, columns: dict[str, str]) -> list[tuple[str, str]]:
    """A service's validation error as (CSV column, message) pairs."""
    if hasattr(exc, "error_dict"):
        return [
            (columns.get(name, "row" if name == "__all__" else name), message)
            for name, messages in exc.message_dict.items()
            for message in messages
        ]
    return [("row", message) for message in exc.messages]


def run_rows(
    *,
    label: str,
    rows: Iterable[tuple[int, dict]],
    write: Callable[[dict], object],
    columns: dict[str, str],
    problems: list[str],
) -> int:
    """Write each row in its own savepoint; record every problem as label:line:column: message.

    The caller runs this inside one transaction and raises ImportRefused when any problem was
    recorded, so that a file with one bad row writes nothing at all.
    """
    written = 0
    for line, row in rows:
        try:
            with transaction.atomic():
                write(row)
            written += 1
        except RowProblem as exc:
            problems.append(f"{label}:{line}:{exc.column}: {exc}")
        except ValidationError as exc:
            problems.extend(
                f"{label}:{line}:{column}: {message}"
                for column, message in problems_of(exc, columns)
            )
        except PermissionDenied as exc:
            problems.append(f"{label}:{line}:row: {exc}")
    return written


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
