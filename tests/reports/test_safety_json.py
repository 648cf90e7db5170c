"""The JSON twin of the safety summary (`safety_report --format json`, issue #12): the same
tables as the PDF, every PDF cell equal to its JSON value, and every JSON table recounted
from the database by a second route (plain SQL here, not the report's loader).

Counting rules: the safety population is every enrolled subject with any dose of any agent
given by the cutoff (lead-in included); adverse events count when treatment-emergent (onset
from the first dose to the last dose plus the study's follow-up days); a subject is counted
once per row at their worst CTCAE v5.0 grade.
"""

import datetime as dt
import json
from collections import Counter

import pytest
from django.core.management import call_command
from django.db import connection

from ecrf.reports.safety import prepare_safety_report
from ecrf.reports.safety_data import safety_data
from tests.reports.test_safety import CUTOFF, _render, _tables, trial  # noqa: F401 (fixture)

KEYS = {
    "population", "subjects", "dlt", "adverse_events", "disposition", "demographics",
    "exposure", "adverse_event_overview", "adverse_events_outside_window", "deaths",
}  # fmt: skip


def _sql(query: str, params: list) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(query, params)
        return cursor.fetchall()


def _data(study) -> dict:
    return safety_data(prepare_safety_report(study, cutoff=CUTOFF, generated_by="pytest"))


# The first and last dose given of any agent by the cutoff, per enrolled subject (plain SQL).
DOSE_SPAN = """
    select s.subject_code, l.level, s.first_dose_on, min(d.given_on), max(d.given_on)
    from ecrf_subject s
    join ecrf_doselevel l on l.id = s.dose_level_id
    join ecrf_doseadministration d on d.subject_id = s.id
    where s.study_id = %s and not s.entered_in_error and not d.entered_in_error
      and d.given_dose > 0 and d.given_on <= %s
    group by s.subject_code, l.level, s.first_dose_on
"""


def _as_date(value) -> dt.date:
    return value if isinstance(value, dt.date) else dt.date.fromisoformat(str(value)[:10])


def _study_day(day: dt.date, day1: dt.date) -> int:
    offset = (day - day1).days
    return offset if offset < 0 else offset + 1


def test_the_command_writes_the_documented_keys(trial, tmp_path):  # noqa: F811
    path = tmp_path / "summary.json"
    call_command("safety_report", "--study", trial.code, "--cutoff", CUTOFF.isoformat(),
                 "--format", "json", "--out", str(path))  # fmt: skip
    data = json.loads(path.read_text(encoding="utf-8"))
    assert set(data) >= KEYS
    assert data["cutoff"] == CUTOFF.isoformat() and data["study"] == trial.code
    assert set(data["population"]) == {"screened", "screen_failed", "enrolled", "treated",
                                       "by_level"}  # fmt: skip
    assert {"recommendation", "provisional", "pending", "unreconciled_labs"} <= set(data["dlt"])
    subject = data["subjects"][0]
    assert {"subject_id", "dose_level", "first_dose_day", "last_dose_day", "status", "ongoing",
            "evaluable", "evaluable_reason", "exposure_pct"} <= set(subject)  # fmt: skip
    row = data["adverse_events"][0]
    assert set(row) == {"soc", "term", "level", "all_grades", "grade_3_plus"}


def test_population_and_subjects_recount_from_the_database(trial):  # noqa: F811
    data = _data(trial)
    spans = _sql(DOSE_SPAN, [trial.pk.hex if connection.vendor == "sqlite" else trial.pk, CUTOFF])
    treated = {code: (level, _as_date(day1), _as_date(first), _as_date(last))
               for code, level, day1, first, last in spans}  # fmt: skip
    screened = _sql(
        "select count(*) from ecrf_subject where study_id = %s and not entered_in_error "
        "and consent_on <= %s",
        [trial.pk.hex if connection.vendor == "sqlite" else trial.pk, CUTOFF],
    )[0][0]
    population = data["population"]
    assert population["screened"] == screened == 5
    assert population["treated"] == len(treated) == 4
    by_level = Counter(level for level, *_ in treated.values())
    assert {int(k): v["treated"] for k, v in population["by_level"].items()} == by_level
    rows = {row["subject_id"]: row for row in data["subjects"]}
    assert set(rows) == set(treated)
    for code, (level, day1, first, last) in treated.items():
        assert rows[code]["dose_level"] == level
        assert rows[code]["first_dose_day"] == _study_day(first, day1)
        assert rows[code]["last_dose_day"] == _study_day(last, day1)


def test_adverse_event_rows_recount_from_the_database(trial):  # noqa: F811
    data = _data(trial)
    # The follow-up is added in Python: date arithmetic differs between SQLite and PostgreSQL.
    key = trial.pk.hex if connection.vendor == "sqlite" else trial.pk
    spans = _sql(DOSE_SPAN, [key, CUTOFF])
    follow_up = dt.timedelta(days=trial.follow_up_days)
    window = {code: (level, _as_date(first), _as_date(last) + follow_up)
              for code, level, _day1, first, last in spans}  # fmt: skip
    events = _sql(
        "select s.subject_code, e.soc, e.ctcae_term, e.grade, e.onset_on from ecrf_adverseevent e "
        "join ecrf_subject s on s.id = e.subject_id where s.study_id = %s "
        "and not e.entered_in_error and not s.entered_in_error and e.onset_on <= %s",
        [key, CUTOFF],
    )
    worst: dict = {}
    for code, soc, term, grade, onset in events:
        if code not in window:
            continue
        level, first, end = window[code]
        if not first <= _as_date(onset) <= end:
            continue
        for row_key in ((soc, term), (soc, "")):
            for column in (level, "Total"):
                slot = (*row_key, column, code)
                worst[slot] = max(worst.get(slot, 0), grade)
    expected_all, expected_3 = Counter(), Counter()
    for (soc, term, column, _code), grade in worst.items():
        expected_all[(soc, term, column)] += 1
        expected_3[(soc, term, column)] += grade >= 3
    got = {(r["soc"], r["term"], r["level"]): r for r in data["adverse_events"] if r["soc"]}
    assert {k for k, r in got.items() if r["all_grades"]} == set(expected_all)
    for slot, n in expected_all.items():
        assert got[slot]["all_grades"] == n, slot
        assert got[slot]["grade_3_plus"] == expected_3[slot], slot


def _pdf_rows(path, first_header: str) -> dict[str, list[str]]:
    """Body rows of the PDF tables whose header starts with `first_header`, by row label."""
    rows = {}
    for table in _tables(path, first_header):
        header = next(i for i, row in enumerate(table) if row and row[0] == first_header)
        for row in table[header + 1 :]:
            rows[row[0]] = row[1:]
    return rows


@pytest.mark.parametrize("section", ["disposition", "demographics"])
def test_every_pdf_cell_of_disposition_and_demographics_equals_the_json(
    trial,  # noqa: F811
    tmp_path,
    section,
):
    path, report = _render(trial, tmp_path)
    data = safety_data(report)
    first_header = "Subjects" if section == "disposition" else "Characteristic"
    shown = _pdf_rows(path, first_header)
    levels = [*report.tables.enrolled_levels] if section == "disposition" else report.tables.levels
    columns = [*levels, "Total"]
    values: dict = {}
    for row in data[section]:
        values.setdefault(row["row"], {})[row["level"]] = row.get("subjects", row.get("value"))
    assert set(values) <= set(shown)
    for label, by_level in values.items():
        cells = shown[label]
        for index, column in enumerate(columns):
            value = by_level[column]
            if section == "disposition":
                # "n (p%)" or "0"; screening rows have a count in the Total column only.
                cell = cells[index]
                assert (int(cell.split(" ")[0]) if cell else 0) == value, (label, column)
            else:
                assert cells[index] == value, (label, column)


def test_every_pdf_cell_of_exposure_overview_and_course_equals_the_json(
    trial,  # noqa: F811
    tmp_path,
):
    path, report = _render(trial, tmp_path)
    data = safety_data(report)
    columns = [*report.tables.levels, "Total"]
    # Exposure: agent rows head their measures.
    expected = {(r["agent"], r["measure"], r["level"]): r["value"] for r in data["exposure"]}
    seen, agent = 0, None
    names = set(report.frames.agents["name"])
    for table in _tables(path, "Agent / measure"):
        for row in table[1:]:
            if row[0] in names:
                agent = row[0]
                continue
            for index, column in enumerate(columns):
                assert row[1 + index] == expected[(agent, row[0], column)], (agent, row[0])
                seen += 1
    assert seen == len(expected)
    # The adverse event overview: "n (p%)" or "0".
    shown = _pdf_rows(path, "Subjects with")
    for row in data["adverse_event_overview"]:
        cell = shown[row["row"]][columns.index(row["level"])]
        assert int(cell.split(" ")[0]) == row["subjects"], row
    # Each subject's course: first and last dose days, status.
    course = {
        row[0]: row
        for table in _tables(path, "Subject")
        if "Status at the cutoff" in table[0]
        for row in table[1:]
    }
    for subject in data["subjects"]:
        row = course[subject["subject_id"]]
        assert row[2] == f"day {subject['first_dose_day']}"
        assert row[3] == f"day {subject['last_dose_day']}"
        assert row[7].startswith(
            {"on_treatment": "On treatment", "completed": "Completed treatment",
             "discontinued": "Discontinued treatment", "off_study": "Off study",
             "died": "Died", "end_not_recorded": "End of treatment not recorded"}[
                subject["status"]
            ]
        )  # fmt: skip


def test_consistency_rows_equal_the_open_consistency_queries(trial):  # noqa: F811
    """The report's consistency section and the automatic data queries come from the same
    checks by two routes: the report recomputes them at the cutoff, the queries were opened
    (and closed) by every save. At a cutoff after all the data they agree, subject by subject
    and check by check. A-001's nausea is attributed to IL-2 (probable) on 2026-03-10, before
    the subject's first IL-2 dose on 2026-03-11: one finding at least."""
    today = dt.date.today()
    data = safety_data(prepare_safety_report(trial, cutoff=today, generated_by="pytest"))
    found = Counter((row["subject_id"], row["check"]) for row in data["consistency"])
    key = trial.pk.hex if connection.vendor == "sqlite" else trial.pk
    queries = _sql(
        "select s.subject_code, q.cause from ecrf_dataquery q join ecrf_subject s "
        "on s.id = q.subject_id where s.study_id = %s and q.origin = 'consistency' "
        "and q.state <> 'closed'",
        [key],
    )
    expected = Counter((code, cause.split(":")[1]) for code, cause in queries)
    assert found == expected
    assert ("A-001", "attribution_before_first_dose") in found


def test_pending_items_and_evaluability_in_the_pdf_equal_the_json(trial, tmp_path):  # noqa: F811
    """The DLT section: what the advice waits on and each subject's evaluability, as the JSON
    (and dlt_report) give them. A-002's neutrophils 0.9 x 10^9/L on 2026-03-17 (day 15) is
    grade 3 (CTCAE v5.0: <1.0-0.5 x 10^9/L) with no adverse event: an unreconciled lab
    toxicity, so the advice is provisional."""
    path, report = _render(trial, tmp_path)
    data = safety_data(report)
    dlt = data["dlt"]
    assert dlt["provisional"] is True
    assert dlt["recommendation"]["text"].startswith("Provisional:")
    assert {(lab["subject_id"], lab["test"], lab["grade"]) for lab in dlt["unreconciled_labs"]} \
        >= {("A-002", "NEUT", 3)}  # fmt: skip
    pending = [row for table in _tables(path, "Subject") if "Days pending" in table[0]
               for row in table[1:]]  # fmt: skip
    assert [(r[0], r[2], int(r[3])) for r in pending] == [
        (item["subject_id"], item["what"], item["days_pending"]) for item in dlt["pending"]
    ]
    evaluability = {row[0]: row for table in _tables(path, "Subject")
                    if "Window ends" in table[0] for row in table[1:]}  # fmt: skip
    for subject in data["subjects"]:
        row = evaluability[subject["subject_id"]]
        assert row[4] == ("yes" if subject["evaluable"] else "no")
        assert row[5] == subject["evaluable_reason"]
        assert row[3] == (subject["window_end"] or "")


def test_disposition_and_demographics_recount_from_the_database(trial, alice):  # noqa: F811
    """Disposition rows from the subjects' dated facts by plain SQL: enrolled per level,
    completed and discontinued treatment by the recorded end of treatment, off study by its
    date, and sex per level of the treated subjects."""
    from ecrf.services.subjects import subject_end_treatment

    a1 = trial.subjects.get(subject_code="A-001")
    subject_end_treatment(subject=a1, ended_on=dt.date(2026, 3, 15), reason="adverse_event",
                          detail="Nausea grade 3", by=alice)  # fmt: skip
    data = _data(trial)
    rows = {(r["row"], r["level"]): r["subjects"] for r in data["disposition"]}
    key = trial.pk.hex if connection.vendor == "sqlite" else trial.pk
    treated = {code for code, *_ in _sql(DOSE_SPAN, [key, CUTOFF])}
    subjects = _sql(
        "select s.subject_code, l.level, s.enrolled_on, s.treatment_end_on, "
        "s.treatment_end_reason, s.off_study_on, s.sex from ecrf_subject s "
        "left join ecrf_doselevel l on l.id = s.dose_level_id "
        "where s.study_id = %s and not s.entered_in_error and s.consent_on <= %s",
        [key, CUTOFF],
    )
    expected = Counter()
    sexes = {"F": "Female", "M": "Male", "U": "Unknown"}
    for code, level, enrolled_on, end_on, end_reason, off_on, sex in subjects:
        if level is None:
            continue  # screened, not enrolled
        for column in (level, "Total"):
            if enrolled_on and _as_date(enrolled_on) <= CUTOFF:
                expected[("Enrolled", column)] += 1
            if code not in treated:
                continue
            expected[(f"Sex: {sexes[sex]}", column)] += 1
            if end_on and _as_date(end_on) <= CUTOFF:
                kind = "Completed" if end_reason == "completed" else "Discontinued"
                expected[(f"{kind} treatment", column)] += 1
            if off_on and _as_date(off_on) <= CUTOFF:
                expected[("Off study", column)] += 1
    for (row, column), n in expected.items():
        if row.startswith("Sex: "):
            shown = next(r["value"] for r in data["demographics"]
                         if r["row"] == row and r["level"] == column)  # fmt: skip
            assert int(shown.split(" ")[0]) == n, (row, column)
        else:
            assert rows[(row, column)] == n, (row, column)
    assert rows[("Discontinued: Adverse event", 1)] == 1
