"""Importing adverse events from CSV: every row is checked by the same services and CTCAE rules
as the forms, every problem is reported with its row and column, and nothing is written unless
the whole file is clean.

Columns: subject_id, ctcae_term, grade, onset_date, and optionally resolution_date, verbatim,
serious_criteria (names separated by ";": death, life_threatening, hospitalisation, disability,
congenital_anomaly, important_medical_event), outcome, death_date; and for each study agent
attribution_<AGENT> (unrelated, unlikely, possible, probable, definite) and action_<AGENT>.
"""

from __future__ import annotations

import csv
import datetime as dt
from pathlib import Path

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction

from ..models import SERIOUSNESS_CRITERIA, ActionTaken, Outcome, Study
from ..services import ae_record

REQUIRED_COLUMNS = ("subject_id", "ctcae_term", "grade", "onset_date")
# Model field names as the file calls them, so that a service's error names the CSV column.
COLUMN_OF_FIELD = {
    "ctcae_term": "ctcae_term",
    "grade": "grade",
    "onset_on": "onset_date",
    "resolved_on": "resolution_date",
    "death_on": "death_date",
    "verbatim": "verbatim",
    "outcome": "outcome",
    "__all__": "row",
}


class ImportRefused(ValueError):
    """The file was not imported; `problems` lists each row, column and problem."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__(
            f"Import refused, nothing was written ({len(problems)} problem"
            f"{'s' if len(problems) != 1 else ''}):\n" + "\n".join(f"- {p}" for p in problems)
        )


class _RowProblem(ValueError):
    def __init__(self, column: str, message: str):
        self.column = column
        super().__init__(message)


def _date(row: dict, column: str, *, required: bool) -> dt.date | None:
    raw = (row.get(column) or "").strip()
    if not raw:
        if required:
            raise _RowProblem(column, "is required")
        return None
    try:
        return dt.date.fromisoformat(raw)
    except ValueError as exc:
        raise _RowProblem(column, f"{raw!r} is not a date (YYYY-MM-DD)") from exc


def _parse_row(row: dict, agent_codes: list[str], subjects: dict) -> dict:
    code = (row.get("subject_id") or "").strip()
    if code not in subjects:
        raise _RowProblem("subject_id", f"no subject {code!r} in this study")
    raw_grade = (row.get("grade") or "").strip()
    if not raw_grade.isdigit():
        raise _RowProblem("grade", f"{raw_grade!r} is not a whole number")
    criteria = []
    for name in filter(None, (c.strip() for c in (row.get("serious_criteria") or "").split(";"))):
        field = f"sae_{name}"
        if field not in SERIOUSNESS_CRITERIA:
            known = ", ".join(c.removeprefix("sae_") for c in SERIOUSNESS_CRITERIA)
            raise _RowProblem("serious_criteria", f"{name!r} is not one of {known}")
        criteria.append(field)
    outcome = (row.get("outcome") or Outcome.NOT_RECOVERED).strip()
    if outcome not in Outcome.values:
        raise _RowProblem("outcome", f"{outcome!r} is not one of {', '.join(Outcome.values)}")
    assessments = {}
    for agent in agent_codes:
        attribution = (row.get(f"attribution_{agent}") or "").strip()
        if not attribution:
            raise _RowProblem(f"attribution_{agent}", "is required for every study agent")
        action = (row.get(f"action_{agent}") or ActionTaken.NONE).strip()
        if action not in ActionTaken.values:
            raise _RowProblem(
                f"action_{agent}", f"{action!r} is not one of {', '.join(ActionTaken.values)}"
            )
        assessments[agent] = (attribution, action)
    return {
        "subject": subjects[code],
        "ctcae_term": (row.get("ctcae_term") or "").strip(),
        "grade": int(raw_grade),
        "onset_on": _date(row, "onset_date", required=True),
        "resolved_on": _date(row, "resolution_date", required=False),
        "death_on": _date(row, "death_date", required=False),
        "verbatim": (row.get("verbatim") or "").strip(),
        "outcome": outcome,
        "serious_criteria": tuple(criteria),
        "assessments": assessments,
    }


def _problems_of(exc: ValidationError) -> list[tuple[str, str]]:
    if hasattr(exc, "error_dict"):
        return [
            (COLUMN_OF_FIELD.get(field, field), message)
            for field, messages in exc.message_dict.items()
            for message in messages
        ]
    return [("row", message) for message in exc.messages]


def import_adverse_events(*, study: Study, path: str | Path, by) -> int:
    """Import every row of the file, or none; return the number of events written."""
    path = Path(path)
    try:
        handle = path.open(newline="", encoding="utf-8-sig")
    except OSError as exc:
        raise ImportRefused([f"file: cannot open {path}: {exc.strerror}"]) from exc
    agent_codes = list(study.agents.order_by("code").values_list("code", flat=True))
    subjects = {s.subject_code: s for s in study.subjects.select_related("study", "site")}
    problems: list[str] = []
    count = 0
    with handle, transaction.atomic():
        reader = csv.DictReader(handle)
        missing = [c for c in REQUIRED_COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise ImportRefused([f"header: missing column(s) {', '.join(missing)}"])
        for line, row in enumerate(reader, start=2):
            try:
                values = _parse_row(row, agent_codes, subjects)
                with transaction.atomic():
                    ae_record(**values, by=by)
                count += 1
            except _RowProblem as exc:
                problems.append(f"row {line}, {exc.column}: {exc}")
            except ValidationError as exc:
                problems.extend(f"row {line}, {col}: {msg}" for col, msg in _problems_of(exc))
            except PermissionDenied as exc:
                problems.append(f"row {line}: {exc}")
        if problems:
            # Raising inside the transaction rolls back the rows that were valid too.
            raise ImportRefused(problems)
    return count
