"""Importing adverse events from CSV: every row is checked by the same services and CTCAE rules
as the forms, every problem is reported with its row and column, and nothing is written unless
the whole file is clean.

Columns: subject_id, ctcae_term, grade, onset_date, and optionally resolution_date, verbatim,
serious_criteria (names separated by ";": death, life_threatening, hospitalisation, disability,
congenital_anomaly, important_medical_event), outcome, death_date; and for each study agent
attribution_<AGENT> (unrelated, unlikely, possible, probable, definite) and action_<AGENT>.

Optional, for the DLT rules that measure time at a grade:

- grade_history: the grade history, steps date:grade separated by ";" in date order
  ("2026-03-01:2;2026-03-04:3": grade 2 from 1 March, grade 3 from 4 March). The first step is
  on the onset date, none after the resolution date, consecutive steps differ, every grade is
  one CTCAE v5.0 allows for the term and the worst is the row's grade. Empty: the event stayed
  at its grade.
- despite_supportive_care: yes or no (empty is no), whether the event persisted despite optimal
  supportive care.

For a serious event (one with serious_criteria), site_aware_at: the date and time the site
became aware of it ("2026-03-14 09:30", the site's time zone unless a UTC offset is given),
from which its 24-hour reporting clock counts. Required for a serious event, empty otherwise.
"""

from __future__ import annotations

from pathlib import Path

from ..models import ActionTaken, Outcome, Study
from ..services import ae_record
from ..services.imports import RowBatch, rows_import
from .rows import (
    ImportRefused,
    RowProblem,
    date,
    grade_history,
    moment,
    read_csv,
    serious_criteria,
    whole_number,
    yes_no,
)

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
    "grade_changes": "grade_history",
    "despite_supportive_care": "despite_supportive_care",
    "site_aware_at": "site_aware_at",
}


def _parse_row(row: dict, agent_codes: list[str], subjects: dict) -> dict:
    code = (row.get("subject_id") or "").strip()
    if code not in subjects:
        raise RowProblem("subject_id", f"no subject {code!r} in this study")
    grade = whole_number(row, "grade")
    criteria = serious_criteria(row)
    outcome = (row.get("outcome") or Outcome.NOT_RECOVERED).strip()
    if outcome not in Outcome.values:
        raise RowProblem("outcome", f"{outcome!r} is not one of {', '.join(Outcome.values)}")
    assessments = {}
    for agent in agent_codes:
        attribution = (row.get(f"attribution_{agent}") or "").strip()
        if not attribution:
            raise RowProblem(f"attribution_{agent}", "is required for every study agent")
        action = (row.get(f"action_{agent}") or ActionTaken.NONE).strip()
        if action not in ActionTaken.values:
            raise RowProblem(
                f"action_{agent}", f"{action!r} is not one of {', '.join(ActionTaken.values)}"
            )
        assessments[agent] = (attribution, action)
    return {
        "subject": subjects[code],
        "ctcae_term": (row.get("ctcae_term") or "").strip(),
        "grade": grade,
        "onset_on": date(row, "onset_date", required=True),
        "resolved_on": date(row, "resolution_date", required=False),
        "death_on": date(row, "death_date", required=False),
        "verbatim": (row.get("verbatim") or "").strip(),
        "outcome": outcome,
        "serious_criteria": criteria,
        "assessments": assessments,
        "grade_changes": grade_history(row),
        "despite_supportive_care": yes_no(row, "despite_supportive_care"),
        "site_aware_at": moment(row, "site_aware_at", required=False),
    }


def import_adverse_events(*, study: Study, path: str | Path, by) -> int:
    """Import every row of the file, or none; return the number of events written."""
    problems: list[str] = []
    path = Path(path)
    rows = read_csv(path, REQUIRED_COLUMNS, problems)
    if problems:
        raise ImportRefused(problems)
    agent_codes = list(study.agents.order_by("code").values_list("code", flat=True))
    subjects = {s.subject_code: s for s in study.subjects.select_related("study", "site")}
    batch = RowBatch(
        label=path.name,
        rows=rows,
        write=lambda row: ae_record(**_parse_row(row, agent_codes, subjects), by=by),
        columns=COLUMN_OF_FIELD,
    )
    return rows_import(batches=[batch])[path.name]
