"""The adverse event grade history export: one row per step, in every long-table format,
checked against the database by plain SQL; SDTM AE keeps one record per event at its worst
grade (CTCAE v5.0 reports the worst grade; SDTMIG AETOXGR).

The trial (subject A-001, CTCAE v5.0 grades: Capillary leak syndrome 1-5, Fatigue 1-3):
- capillary leak, 2 -> 3 -> 1 from 2026-03-13, resolved 2026-03-25;
- fatigue, ongoing, 1 -> 2 from 2026-03-14, first entered with grade 2 from 03-17 (retired);
- nausea grade 1, no history (one grade throughout: no row).
"""

import csv
import datetime as dt
import uuid

import openpyxl
import pytest
from django.db import connection

from ecrf.exports import domain_frames, sdtm_frames, write_export
from ecrf.models import AdverseEventGrade
from ecrf.services import ae_record
from ecrf.services.adverse_events import ae_update

NAME = "adverse_event_grade_history"


def d(day: int) -> dt.date:
    return dt.date(2026, 3, day)


@pytest.fixture
def histories(subject, alice, all_agents_unrelated):
    def record(term, grade, onset, **extra):
        return ae_record(
            subject=subject,
            ctcae_term=term,
            grade=grade,
            onset_on=onset,
            assessments=all_agents_unrelated,
            by=alice,
            **extra,
        )

    leak = record(
        "Capillary leak syndrome",
        3,
        d(13),
        resolved_on=d(25),
        outcome="recovered",
        grade_changes=[(d(13), 2), (d(16), 3), (d(20), 1)],
    )
    fatigue = record("Fatigue", 2, d(14), grade_changes=[(d(14), 1), (d(17), 2)])
    ae_update(
        event=fatigue,
        changes={},
        agent_changes={},
        reason="Grade 2 from day 15 per notes",
        by=alice,
        grade_changes=[(d(14), 1), (d(15), 2)],
    )
    nausea = record("Nausea", 1, d(15))
    return {"leak": leak, "fatigue": fatigue, "nausea": nausea}


def _sql_steps() -> list[tuple]:
    """The steps in force with their end date, by plain SQL (LEAD over each event's steps)."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT s.subject_code, g.adverse_event_id, e.ctcae_term, g.grade, g.from_on,
                   COALESCE(
                       LEAD(g.from_on) OVER (PARTITION BY g.adverse_event_id ORDER BY g.from_on),
                       e.resolved_on
                   )
            FROM ecrf_adverseeventgrade g
            JOIN ecrf_adverseevent e ON e.id = g.adverse_event_id
            JOIN ecrf_subject s ON s.id = e.subject_id
            WHERE g.entered_in_error = %s
            ORDER BY s.subject_code, e.onset_on, g.from_on
            """,
            [False],
        )
        rows = cursor.fetchall()

    def day(value):
        return (
            value if isinstance(value, dt.date) or value is None else dt.date.fromisoformat(value)
        )

    return [
        (code, str(uuid.UUID(str(event_id))), term, grade, day(start), day(end))
        for code, event_id, term, grade, start, end in rows
    ]


def test_the_export_has_one_row_per_step_as_the_database_has_them(study, histories):
    frame = domain_frames(study)[NAME]
    in_force = frame[~frame["entered_in_error"]]
    exported = [
        (row.subject_id, row.adverse_event_id, row.ctcae_term, row.grade, row.from_on, row.to_on)
        for row in in_force.itertuples()
    ]
    assert exported == _sql_steps()
    assert len(frame) == AdverseEventGrade.objects.count() == 6


def test_each_step_ends_at_the_next_step_or_the_resolution(study, histories):
    frame = domain_frames(study)[NAME]
    rows = {
        (row.ctcae_term, row.from_on, row.entered_in_error): (row.grade, row.to_on)
        for row in frame.itertuples()
    }
    assert rows == {
        ("Capillary leak syndrome", d(13), False): (2, d(16)),
        ("Capillary leak syndrome", d(16), False): (3, d(20)),
        # The last step lasts until the resolution date.
        ("Capillary leak syndrome", d(20), False): (1, d(25)),
        ("Fatigue", d(14), False): (1, d(15)),
        # Ongoing: no end date.
        ("Fatigue", d(15), False): (2, None),
        # The retired step stays, flagged, with no end.
        ("Fatigue", d(17), True): (2, None),
    }
    retired = frame[frame["entered_in_error"]].iloc[0]
    assert retired["entered_in_error_reason"] == "Grade 2 from day 15 per notes"
    assert str(histories["nausea"].pk) not in set(frame["adverse_event_id"])


def test_the_history_is_written_as_csv_and_as_a_workbook_sheet(study, histories, tmp_path):
    paths = write_export(study, ["csv", "xlsx"], tmp_path)
    (path,) = [p for p in paths if p.name == f"{NAME}.csv"]
    with path.open(encoding="utf-8") as file:
        rows = list(csv.DictReader(file))
    assert len(rows) == 6
    first = rows[0]
    assert (first["subject_id"], first["ctcae_term"], first["grade"]) == (
        "A-001",
        "Capillary leak syndrome",
        "2",
    )
    assert (first["from_on"], first["to_on"]) == ("2026-03-13", "2026-03-16")
    ongoing = [row for row in rows if row["from_on"] == "2026-03-15"]
    assert ongoing[0]["to_on"] == ""
    (workbook,) = [p for p in paths if p.suffix == ".xlsx"]
    sheet = openpyxl.load_workbook(workbook)[NAME]
    header = [cell.value for cell in sheet[1]]
    assert header[:9] == [
        "study",
        "subject_id",
        "site",
        "adverse_event_id",
        "ctcae_term",
        "grade",
        "from_on",
        "to_on",
        "adverse_event_entered_in_error",
    ]
    assert sheet.max_row == 7


def test_an_event_without_steps_gives_an_empty_table_with_its_columns(study, subject, alice):
    frame = domain_frames(study)[NAME]
    assert frame.empty
    assert {"from_on", "to_on", "grade", "adverse_event_id"} <= set(frame.columns)


def test_sdtm_keeps_one_ae_record_at_the_worst_grade(study, histories):
    """A 2 -> 3 -> 1 history is one AE record with AETOXGR 3 (CTCAE v5.0: the worst grade)."""
    ae = sdtm_frames(study)["AE"]
    leak = ae[ae["AEDECOD"] == "Capillary leak syndrome"]
    assert len(leak) == 1
    assert leak.iloc[0]["AETOXGR"] == "3"
    assert len(ae) == 3


def test_the_adverse_events_table_says_whether_the_event_persisted_despite_care(
    study, subject, alice, all_agents_unrelated
):
    ae_record(
        subject=subject,
        ctcae_term="Nausea",
        grade=2,
        onset_on=d(14),
        assessments=all_agents_unrelated,
        by=alice,
        despite_supportive_care=True,
    )
    events = domain_frames(study)["adverse_events"]
    assert events["despite_supportive_care"].tolist() == [True]
