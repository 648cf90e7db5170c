"""Writing an import: every row through the services, all of it or nothing.

The import modules (`ecrf/imports/`) read and parse the files; this service owns the
transaction: each row is written in its own savepoint so that every bad row is reported, and a
single problem anywhere rolls back the whole import.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction


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


@dataclass(frozen=True)
class RowBatch:
    """The rows of one file and the function that writes one row through the services.

    `label` names the file in problems (label:line:column: message); `columns` maps model
    field names to the file's column names, so that a service's error names the column.
    """

    label: str
    rows: Iterable[tuple[int, dict]]
    write: Callable[[dict], object]
    columns: Mapping[str, str]


def problems_of(exc: ValidationError, columns: Mapping[str, str]) -> list[tuple[str, str]]:
    """A service's validation error as (CSV column, message) pairs."""
    if hasattr(exc, "error_dict"):
        return [
            (columns.get(name, "row" if name == "__all__" else name), message)
            for name, messages in exc.message_dict.items()
            for message in messages
        ]
    return [("row", message) for message in exc.messages]


def _rows_write(batch: RowBatch, problems: list[str]) -> int:
    """Write each row in its own savepoint; record every problem as label:line:column: message."""
    written = 0
    for line, row in batch.rows:
        try:
            with transaction.atomic():
                batch.write(row)
            written += 1
        except RowProblem as exc:
            problems.append(f"{batch.label}:{line}:{exc.column}: {exc}")
        except ValidationError as exc:
            problems.extend(
                f"{batch.label}:{line}:{column}: {message}"
                for column, message in problems_of(exc, batch.columns)
            )
        except PermissionDenied as exc:
            problems.append(f"{batch.label}:{line}:row: {exc}")
    return written


def rows_import(*, batches: Sequence[RowBatch]) -> dict[str, int]:
    """Write every row of every batch in one transaction; return the rows written per label.

    Any problem raises ImportRefused listing all of them, and nothing is written. Durable: an
    import is the whole of its transaction, so a caller cannot fold it into a larger one that
    might still roll it back.
    """
    problems: list[str] = []
    with transaction.atomic(durable=True):
        written = {batch.label: _rows_write(batch, problems) for batch in batches}
        if problems:
            # Raising inside the transaction rolls back the rows that were valid too.
            raise ImportRefused(problems)
    return written
