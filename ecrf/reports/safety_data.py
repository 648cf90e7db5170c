"""The safety summary as data: the JSON twin of the PDF (`safety_report --format json`).

Built from the same `SafetyTables` the PDF is drawn from, so the two cannot disagree; the
README ("Safety summary as JSON") documents every key. Counts are subjects; a dose level is
its study number, the total column is "Total"; study days follow the one time base (day 1 =
first dose of cycle 1, the lead-in counted back with no day 0).
"""

from __future__ import annotations

import math

import pandas as pd

from ..safety import tables as t
from .safety import SafetyReport, SafetyTables

FORMAT_VERSION = 1


def _plain(value):
    """A JSON value of a pandas / numpy cell: int, float, str, bool or None."""
    if value is None or value is pd.NaT:
        return None
    if isinstance(value, pd.Timestamp):
        return value.date().isoformat()
    if hasattr(value, "item"):  # numpy scalars
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    try:
        if pd.isna(value):
            return None
    except (TypeError, ValueError):
        pass
    return value


def _level(value):
    return t.TOTAL if value == t.TOTAL else int(value)


def _records(frame: pd.DataFrame, columns: dict[str, str]) -> list[dict]:
    """Rows of `frame` as dicts, keys renamed by `columns` (frame column -> JSON key)."""
    return [
        {key: _plain(row[column]) for column, key in columns.items()}
        for row in frame.to_dict("records")
    ]


def population(tables: SafetyTables) -> dict:
    table = tables.disposition
    by_level = {}
    for level in tables.enrolled_levels:
        by_level[str(level)] = {
            "enrolled": int(table.loc["Enrolled", level]),
            "treated": int(table.loc["Treated (safety population)", level]),
        }
    return {
        "screened": int(table.loc[t.SCREENED, t.TOTAL]),
        "screen_failed": int(table.loc[t.SCREEN_FAILED, t.TOTAL]),
        "enrolled": int(table.loc["Enrolled", t.TOTAL]),
        "treated": int(table.loc["Treated (safety population)", t.TOTAL]),
        "by_level": by_level,
    }


def counts_rows(table: pd.DataFrame, key: str = "row") -> list[dict]:
    """A counts table (rows x dose levels and Total) in long form."""
    return [
        {key: str(index), "level": _level(column), "subjects": int(table.loc[index, column])}
        for index in table.index
        for column in table.columns
    ]


def text_rows(table: pd.DataFrame, key: str = "row") -> list[dict]:
    """A table of shown texts (rows x dose levels and Total) in long form."""
    return [
        {key: str(index), "level": _level(column), "value": str(table.loc[index, column])}
        for index in table.index
        for column in table.columns
    ]


def subject_rows(tables: SafetyTables, dlt_report: dict) -> list[dict]:
    """One row per treated subject: course, status and DLT evaluability."""
    dlt = {row["subject_id"]: row for row in dlt_report["subjects"]}
    rows = []
    for course in tables.course.to_dict("records"):
        code = course["subject_code"]
        found = dlt.get(code)
        rows.append(
            {
                "subject_id": code,
                "dose_level": int(course["level"]),
                "first_dose_day": _plain(course["first_dose_day"]),
                "last_dose_day": _plain(course["last_dose_day"]),
                "treatment_end_day": _plain(course["treatment_end_day"]),
                "treatment_end_reason": course["treatment_end_reason"] or None,
                "off_study_day": _plain(course["off_study_day"]),
                "death_day": _plain(course["death_day"]),
                "status": course["status"],
                "ongoing": bool(course["ongoing"]),
                # Not yet at day 1 (still in the lead-in): not in the DLT overview yet.
                "evaluable": found["evaluable"] if found else False,
                "evaluable_reason": found["evaluable_reason"] if found else (
                    "Not evaluable: day 1 not reached by the cutoff"
                ),
                "window_end": found.get("window_end") if found else None,
                "exposure_pct": found.get("exposure_pct", {}) if found else {},
            }
        )  # fmt: skip
    return rows


def _long_rows(frame: pd.DataFrame, columns) -> list[dict]:
    """Long rows (a level is its number or "Total") as JSON rows with the given columns."""
    rows = _records(frame, {column: column for column in columns})
    for row in rows:
        if row.get("level") != t.TOTAL and row.get("level") is not None:
            row["level"] = int(row["level"])
    return rows


LISTING_COLUMNS = {
    "subject_code": "subject_id", "level": "level", "term": "term", "grade": "grade",
    "onset_on": "onset_date", "onset_day": "onset_day", "related": "related_to",
}  # fmt: skip


def safety_data(report: SafetyReport) -> dict:
    """Everything the safety summary shows, as JSON-ready data."""
    frames, tables = report.frames, report.tables
    dlt = frames.dlt_report
    return {
        "format_version": FORMAT_VERSION,
        "study": frames.study_code,
        "cutoff": frames.cutoff.isoformat(),
        "generated_at": report.generated_at.isoformat(),
        "generated_by": report.generated_by,
        "snapshot_hash": report.snapshot_hash,
        # The DLT definition every flag of the report comes from (the cover's "DLT rules").
        "dlt_rules": dlt["dlt_rules"],
        "ctcae_version": frames.ctcae_version,
        "follow_up_days": frames.follow_up_days,
        "dose_levels": [
            {"level": int(r.level), "label": r.label} for r in frames.levels.itertuples()
        ],
        "population": population(tables),
        "disposition": counts_rows(tables.disposition),
        "demographics": text_rows(tables.demographics),
        "subjects": subject_rows(tables, dlt),
        "dlt": {
            "recommendation": dlt["recommendation"],
            "dose_levels": dlt["dose_levels"],
            "provisional": dlt.get("provisional", False),
            "pending": dlt.get("pending", []),
            "unreconciled_labs": dlt.get("unreconciled_labs", []),
            "events": _records(
                frames.dlt_events,
                {
                    "subject_code": "subject_id",
                    "level": "level",
                    "term": "term",
                    "grade": "grade",
                    "onset_day": "onset_day",
                    "rule": "rule",
                    "status": "status",
                    "reason": "reason",
                },
            ),  # fmt: skip
        },
        "exposure": [
            {
                "agent": row["agent"],
                "measure": row["measure"],
                "level": _level(level),
                "value": str(row[level]),
            }
            for row in tables.exposure.to_dict("records")
            for level in [*tables.levels, t.TOTAL]
        ],  # fmt: skip
        "adverse_event_overview": counts_rows(tables.ae_overview),
        "adverse_events": _long_rows(tables.adverse_events, t.AE_ROW_COLUMNS),
        "related_adverse_events": _long_rows(tables.related_adverse_events, t.AE_ROW_COLUMNS),
        "shift_tables": _long_rows(
            tables.shift_tables,
            (
                "test",
                "direction",
                "term",
                "level",
                "baseline_grade",
                "worst_grade",
                "subjects",
                "against_baseline",
            ),
        ),  # fmt: skip
        "grade_3_plus_listing": _records(tables.grade_3, LISTING_COLUMNS),
        "discontinuations": _records(tables.discontinuations, LISTING_COLUMNS),
        "adverse_events_outside_window": _records(
            tables.outside_window,
            {
                "subject_code": "subject_id",
                "level": "level",
                "term": "term",
                "grade": "grade",
                "onset_on": "onset_date",
                "onset_day": "onset_day",
                "why": "why",
            },
        ),  # fmt: skip
        "consistency": _records(
            tables.consistency, {"subject_id": "subject_id", "check": "check", "detail": "detail"}
        ),
        "deaths": _records(
            tables.deaths,
            {
                "subject_code": "subject_id",
                "level": "level",
                "death_on": "death_date",
                "death_day": "death_day",
                "term": "term",
                "grade": "grade",
            },
        ),  # fmt: skip
    }
