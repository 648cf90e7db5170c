"""The safety summary PDF (issue #6): `manage.py safety_report`, the dashboard download, and
what the PDF's tables say, checked against counts recomputed here straight from the database.

Counting rules: columns are the dose levels plus a total; subjects are counted once per row at
their worst CTCAE v5.0 grade; data after the cutoff and records entered in error are left out.
DLT counts follow the protocol DLT definition (default rule set, ecrf/safety/dlt.py): a grade 3
non-haematological event at least possibly related with onset in days 1-21 is a DLT, except
nausea or vomiting lasting 3 days or less.
"""

import datetime as dt
import re
import shutil
import subprocess
from decimal import Decimal
from io import StringIO

import pandas as pd
import pdfplumber
import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse

from ecrf.ctcae.labs import LAB_TESTS
from ecrf.models import (
    AdverseEvent,
    DltAssessment,
    DoseAdministration,
    LabResult,
    ReportJob,
    StudyAssignment,
    Subject,
)
from ecrf.reports.safety import NO_SUBJECTS, SECTIONS, load_safety_frames, render_safety_report
from ecrf.services import (
    ae_record,
    dose_record,
    lab_record,
    record_mark_entered_in_error,
    record_update,
    subject_screen,
)
from ecrf.services.adverse_events import ae_correct
from tests.factories import study_create, subject_at_level, subject_enrolled, user_create
from tests.jobs import fetch

CUTOFF = dt.date(2026, 4, 30)
VERBATIM = '<b>rash</b> & "itch"'
UNRELATED = {
    "CTX": ("unrelated", "none"),
    "IM": ("unrelated", "none"),
    "IL2": ("unrelated", "none"),
}


def _related(attribution, action="none"):
    return {**UNRELATED, "IL2": (attribution, action)}


def _at(day: dt.date, hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hour, minute), tzinfo=dt.UTC)


@pytest.fixture
def trial(study, site_a, site_b, subject, alice, charlie):
    """Five subjects at two dose levels, with events, doses and labs around the cutoff."""
    a1 = subject
    a2 = subject_enrolled(study, site_a, "A-002", first_dose_on=dt.date(2026, 3, 3), by=alice)
    # The tables need a second dose level, which the 3+3 design opens only after 3 evaluable
    # patients at DL1: A-003 and B-004 are enrolled at DL1, then their dose level corrected.
    a3 = subject_at_level(
        study, site_a, "A-003", level=2, first_dose_on=dt.date(2026, 3, 20), by=alice
    )
    b4 = subject_at_level(
        study, site_b, "B-004", level=2, first_dose_on=dt.date(2026, 3, 21), by=charlie
    )
    subject_screen(study=study, site=site_a, subject_code="A-005",
                   consent_on=dt.date(2026, 4, 1), by=alice)  # fmt: skip

    def event(subject, term, grade, onset, by=alice, **extra):
        extra.setdefault("assessments", UNRELATED)
        return ae_record(subject=subject, ctcae_term=term, grade=grade, onset_on=onset, by=by,
                         **extra)  # fmt: skip

    event(a1, "Nausea", 1, dt.date(2026, 3, 5), resolved_on=dt.date(2026, 3, 6),
          assessments=_related("possible"))  # fmt: skip
    # Nausea grade 3 for 10 days, probably related, day 9: a DLT.
    event(a1, "Nausea", 3, dt.date(2026, 3, 10), resolved_on=dt.date(2026, 3, 20),
          assessments=_related("probable", "interrupted"))  # fmt: skip
    event(a1, "Rash maculo-papular", 2, dt.date(2026, 3, 8), verbatim=VERBATIM,
          serious_criteria=("sae_hospitalisation",), assessments=_related("possible"),
          site_aware_at=dt.datetime(2026, 3, 8, 10, 0, tzinfo=dt.UTC))  # fmt: skip
    event(a2, "Fatigue", 2, dt.date(2026, 3, 15))
    event(a2, "Nausea", 2, dt.date(2026, 3, 16), assessments=_related("unlikely"))
    # On the cutoff day: included; the day after: excluded.
    event(a3, "Fatigue", 3, CUTOFF, assessments=_related("possible"))
    event(a3, "Vomiting", 3, CUTOFF + dt.timedelta(days=1), assessments=_related("definite"))
    fever = event(a3, "Fever", 1, dt.date(2026, 3, 25))
    record_mark_entered_in_error(record=fever, reason="Entered for the wrong subject", by=alice)
    event(b4, "Anorexia", 3, dt.date(2026, 3, 25), by=charlie,
          resolved_on=dt.date(2026, 4, 5), assessments=_related("definite"))  # fmt: skip
    event(b4, "Sepsis", 5, dt.date(2026, 4, 10), by=charlie, outcome="fatal",
          death_on=dt.date(2026, 4, 14), serious_criteria=("sae_death",),
          site_aware_at=dt.datetime(2026, 4, 10, 10, 0, tzinfo=dt.UTC))  # fmt: skip
    record_update(record=Subject.objects.get(pk=b4.pk),
                  changes={"status": "off_study", "off_study_on": dt.date(2026, 4, 14),
                           "off_study_reason": "Death"},
                  reason="Died of sepsis", by=charlie)  # fmt: skip

    # Imatinib on day 1 of each enrolled subject: every one of them is treated.
    imatinib = study.agents.get(code="IM")
    for treated in (a1, a2, a3, b4):
        dose_record(subject=treated, agent=imatinib, given_on=treated.first_dose_on,
                    given_dose=Decimal(400), by=charlie if treated is b4 else alice)  # fmt: skip
    il2 = study.agents.get(code="IL2")
    for day, given in ((11, 3), (12, 3), (13, 0), (14, 3), (15, 3)):
        dose_record(subject=a1, agent=il2, given_on=dt.date(2026, 3, day), given_dose=Decimal(given),
                    reason="" if given else "Withheld for nausea", by=alice)  # fmt: skip
    for day in (CUTOFF, CUTOFF + dt.timedelta(days=1)):
        dose_record(subject=a3, agent=il2, given_on=day, given_dose=Decimal(6), by=alice)

    def lab(subject, test, value, unit, at, by=alice, **limits):
        return lab_record(subject=subject, test_code=test, value=Decimal(value), unit=unit,
                          collected_at=at, by=by, **limits)  # fmt: skip

    alt = {"uln": Decimal(40)}
    lab(a1, "ALT", "30", "U/L", _at(dt.date(2026, 3, 2), 7), **alt)  # baseline grade 0
    lab(a1, "ALT", "130", "U/L", _at(dt.date(2026, 3, 9), 8), **alt)  # 3.25 x ULN: grade 2
    lab(a3, "ALT", "50", "U/L", _at(dt.date(2026, 3, 19), 8), **alt)  # baseline grade 1
    lab(a3, "ALT", "45", "U/L", _at(dt.date(2026, 3, 27), 8), **alt)
    lab(a3, "ALT", "260", "U/L", _at(CUTOFF, 23, 30), **alt)  # the cutoff day: included
    lab(a3, "ALT", "1100", "U/L", _at(CUTOFF + dt.timedelta(days=1), 0, 30), **alt)  # excluded
    neut = {"lln": Decimal("1.8"), "uln": Decimal("7.5")}
    lab(a2, "NEUT", "3.0", "10^9/L", _at(dt.date(2026, 3, 3), 7), **neut)
    lab(a2, "NEUT", "0.9", "10^9/L", _at(dt.date(2026, 3, 17), 8), **neut)  # grade 3
    lab(b4, "NEUT", "1.2", "10^9/L", _at(dt.date(2026, 3, 28), 8), by=charlie, **neut)  # grade 2
    # Issue #12's crossings, A-002 (first dose 2026-03-03): potassium 5.3 mmol/L at baseline is
    # CTCAE v5.0 'Hyperkalemia' grade 1 (>ULN - 5.5), 2.8 later 'Hypokalemia' grade 3 (<3.0 -
    # 2.5); lymphocytes 4.5 x 10^9/L 'Lymphocyte count increased' grade 2 (>4000 - 20,000/mm3),
    # 0.6 later 'Lymphocyte count decreased' grade 2 (<800 - 500/mm3).
    potassium = {"lln": Decimal("3.5"), "uln": Decimal("5.1")}
    lab(a2, "K", "5.3", "mmol/L", _at(dt.date(2026, 3, 3), 7), **potassium)
    lab(a2, "K", "2.8", "mmol/L", _at(dt.date(2026, 3, 17), 8), **potassium)
    lymphocytes = {"lln": Decimal("1.0"), "uln": Decimal("4.0")}
    lab(a2, "LYM", "4.5", "10^9/L", _at(dt.date(2026, 3, 3), 7), **lymphocytes)
    lab(a2, "LYM", "0.6", "10^9/L", _at(dt.date(2026, 3, 17), 8), **lymphocytes)
    return study


def _dosed(subject, by):
    """`subject` with imatinib given on day 1: treated, in the safety population."""
    dose_record(subject=subject, agent=subject.study.agents.get(code="IM"),
                given_on=subject.first_dose_on, given_dose=Decimal(400), by=by)  # fmt: skip
    return subject


def _render(study, tmp_path, name="report.pdf", **kwargs):
    path = tmp_path / name
    kwargs.setdefault("cutoff", CUTOFF)
    kwargs.setdefault("generated_by", "pytest")
    with open(path, "wb") as out:
        report = render_safety_report(study, out=out, **kwargs)
    return path, report


def _text(path) -> str:
    with pdfplumber.open(path) as document:
        return "\n".join(page.extract_text() or "" for page in document.pages)


def _tables(path, first_header: str) -> list[list[list[str]]]:
    """The PDF's tables whose column header starts with `first_header`, cells flattened."""
    found = []
    with pdfplumber.open(path) as document:
        for page in document.pages:
            for table in page.extract_tables():
                rows = [[" ".join((cell or "").split()) for cell in row] for row in table]
                if any(row and row[0] == first_header for row in rows[:2]):
                    found.append(rows)
    return found


def _count(cell: str) -> int:
    """The n of an "n (p)" or "n (p%)" cell; blank is 0."""
    return int(cell.split(" ")[0]) if cell else 0


# --- Independent recomputation: the test's own queries and pandas, not the report's loader ---


def _db_doses(study) -> pd.DataFrame:
    """The doses given by the cutoff, per subject: first and last date."""
    doses = pd.DataFrame(
        DoseAdministration.objects.filter(
            subject__study=study, subject__entered_in_error=False, entered_in_error=False,
            given_dose__gt=0, given_on__lte=CUTOFF,
        ).values("subject__subject_code", "subject__dose_level__level", "given_on")
    )  # fmt: skip
    doses.columns = ["subject_code", "level", "given_on"]
    return doses.groupby(["subject_code", "level"], as_index=False)["given_on"].agg(
        first="min", last="max"
    )


def _db_population(study) -> pd.DataFrame:
    """The safety population: any dose of any agent given by the cutoff."""
    return _db_doses(study)[["subject_code", "level"]]


def _db_worst_grades(study) -> tuple[pd.Series, pd.Series]:
    """Subjects per (term or SOC, level or Total) at any grade and at a worst grade of 3 or more,
    from the database."""
    events = pd.DataFrame(
        AdverseEvent.objects.filter(
            subject__study=study, entered_in_error=False, onset_on__lte=CUTOFF,
        ).values("subject__subject_code", "soc", "ctcae_term", "grade", "onset_on")
    )  # fmt: skip
    events.columns = ["subject", "soc", "term", "grade", "onset_on"]
    # Treatment-emergent only: onset from the first dose to the last dose plus the follow-up.
    span = _db_doses(study).rename(columns={"subject_code": "subject"})
    events = events.merge(span, on="subject")
    follow_up = dt.timedelta(days=study.follow_up_days)
    events = events[
        (events["onset_on"] >= events["first"]) & (events["onset_on"] <= events["last"] + follow_up)
    ]
    # A SOC's row counts each subject once at their worst grade over the SOC's terms: the SOC
    # is a "term" of its own here (CTCAE SOC and term names never coincide).
    events = pd.concat([events, events.assign(term=events["soc"])])
    worst = events.groupby(["subject", "level", "term"], as_index=False)["grade"].max()
    both = pd.concat([worst.assign(level=worst["level"].astype(str)), worst.assign(level="Total")])
    any_grade = both.groupby(["term", "level"]).size()
    severe = both[both["grade"] >= 3].groupby(["term", "level"]).size()
    return any_grade, severe


def _group_of(header: str) -> str:
    """'DL2 IL-2 6 MIU/day (N=2)' -> '2'; 'Total (N=4)' -> 'Total'."""
    match = re.match(r"DL(-?\d+) ", header)
    return match.group(1) if match else "Total"


def _column_groups(group_row: list[str]) -> list[str]:
    groups, current = [], None
    for cell in group_row:
        current = _group_of(cell) if cell else current
        groups.append(current)
    return groups


def test_the_pdf_adverse_event_table_matches_counts_recomputed_from_the_database(trial, tmp_path):
    path, report = _render(trial, tmp_path)
    all_events, related = _tables(path, "System organ class / term")
    any_grade, severe = _db_worst_grades(trial)
    groups, heads = _column_groups(all_events[0]), all_events[1]
    assert heads[1:] == ["All grades", "Grade 3-5"] * 3 and groups[-1] == "Total"
    seen = set()
    for row in all_events[2:]:
        term = row[0]
        if term not in set(any_grade.index.get_level_values("term")):
            continue  # the first row
        seen.add(term)
        for column in range(1, len(row)):
            counts = any_grade if heads[column] == "All grades" else severe
            assert _count(row[column]) == counts.get((term, groups[column]), 0), (term, column)
    assert seen == {
        "Nausea", "Rash maculo-papular", "Fatigue", "Anorexia", "Sepsis",
        "Gastrointestinal disorders", "Skin and subcutaneous tissue disorders",
        "General disorders and administration site conditions",
        "Metabolism and nutrition disorders", "Infections and infestations",
    }  # fmt: skip
    assert "Vomiting" not in str(all_events) and "Fever" not in str(all_events)
    # The long rows the JSON twin takes hold the same numbers as the PDF.
    rows = report.tables.adverse_events
    shown = {
        (r.term or r.soc, str(r.level)): (r.all_grades, r.grade_3_plus)
        for r in rows.itertuples()
        if r.term != "Any adverse event" and r.all_grades
    }
    assert shown == {key: (n, severe.get(key, 0)) for key, n in any_grade.items()}
    # Related table: Fatigue of A-002 (unrelated) and Nausea of A-002 (unlikely) are not there.
    related_rows = {row[0]: row for row in related[2:]}
    assert "Sepsis" not in related_rows
    total_all = len(related[1]) - 2
    assert _count(related_rows["Nausea"][total_all]) == 1  # A-001 only
    assert _count(related_rows["Nausea"][total_all + 1]) == 1  # at grade 3
    assert _count(related_rows["Fatigue"][total_all]) == 1  # A-003 on the cutoff day


def test_the_pdf_dlt_counts_match_the_database(trial, tmp_path):
    path, _ = _render(trial, tmp_path)
    (table,) = _tables(path, "Dose level")[:1]
    shown = {row[0].split(" ")[0]: [int(v) for v in row[1:4]] for row in table[1:]}
    population = _db_population(trial)
    counting = pd.DataFrame(
        DltAssessment.objects.filter(
            adverse_event__subject__study=trial, adverse_event__entered_in_error=False,
            adverse_event__onset_on__lte=CUTOFF, status__in=["potential", "confirmed"],
        ).values("adverse_event__subject__subject_code", "adverse_event__subject__dose_level__level")
    )  # fmt: skip
    counting.columns = ["subject_code", "level"]
    for level in (1, 2):
        treated = (population["level"] == level).sum()
        with_dlt = counting.loc[counting["level"] == level, "subject_code"].nunique()
        assert shown[f"DL{level}"][0] == treated
        assert shown[f"DL{level}"][2] == with_dlt
    # A-001's nausea (DL1), B-004's anorexia and sepsis (DL2); A-003's fatigue on day 42 is
    # outside the 21-day window.
    assert shown["DL1"][2] == 1 and shown["DL2"][2] == 1
    assert shown["Total"] == [4, shown["Total"][1], 2]


def _pdf_shift_blocks(path) -> dict:
    """Every shift block of the PDF: (test, direction, level, baseline, worst) -> subjects,
    the block named by the heading printed just above its table."""
    names = {spec.name: code for code, spec in LAB_TESTS.items()}
    found = {}
    with pdfplumber.open(path) as document:
        for page in document.pages:
            for table in page.find_tables():
                rows = [[" ".join((c or "").split()) for c in row] for row in table.extract()]
                if "Worst grade after the first dose" not in rows[0]:
                    continue
                x0, top, x1, _ = table.bbox
                title = " ".join(page.crop((x0, max(0, top - 14), x1, top)).extract_text().split())
                match = re.match(r"(.+?) \(.*\), (low|high): ", title)
                test, direction = names[match.group(1)], match.group(2)
                level = None
                for row in rows[2:]:
                    level = _group_of(row[0]) if row[0] else level
                    for worst, cell in enumerate(row[2:]):
                        if cell:
                            key = (test, direction, level, row[1], worst)
                            found[key] = int(cell.split(" ")[0])
    return found


def test_the_pdf_shift_tables_match_baselines_recomputed_from_the_database(trial, tmp_path):
    path, report = _render(trial, tmp_path)
    labs = pd.DataFrame(
        LabResult.objects.filter(subject__study=trial, entered_in_error=False).values(
            "subject__subject_code", "subject__dose_level__level", "subject__first_dose_on",
            "test_code", "collected_at", "ctcae_term", "ctcae_grade",
        )
    )  # fmt: skip
    labs.columns = ["subject", "level", "first_dose", "test", "at", "term", "grade"]
    labs = labs[labs["at"].map(lambda at: at.date() <= CUTOFF)]
    labs["day"] = labs["at"].map(lambda at: at.date())
    expected = {}
    for (_subject, test), rows in labs.groupby(["subject", "test"]):
        before = rows[rows["day"] <= rows["first_dose"]].sort_values("at")
        after = rows[rows["day"] > rows["first_dose"]]
        if after.empty:
            continue
        spec = LAB_TESTS[test]
        for direction, term in (("low", spec.low_term), ("high", spec.high_term)):
            if term is None:
                continue
            # In a direction's block, a grade in the other direction (or normal) is 0.
            pre = before["grade"].where(before["term"] == term, 0)
            baseline = str(int(pre.iloc[-1])) if len(pre) else "Missing"
            worst = int(after["grade"].where(after["term"] == term, 0).max())
            for level in (str(rows["level"].iloc[0]), "Total"):
                key = (test, direction, level, baseline, worst)
                expected[key] = expected.get(key, 0) + 1
    # A block where every subject stays at grade 0 is named in a sentence, not drawn.
    drawn = {key[:2] for key in expected if key[2] == "Total" and key[3:] != ("0", 0)}
    expected = {key: n for key, n in expected.items() if key[:2] in drawn}
    # 260 U/L on the cutoff day is 5.2 x baseline 50, grade 3; the 1100 U/L after the
    # cutoff (22 x baseline, grade 4) is left out.
    assert expected[("ALT", "high", "2", "1", 3)] == 1
    # The crossings are two blocks each: high 1 -> 0 and low 0 -> 3 for potassium, high 2 -> 0
    # and low 0 -> 2 for lymphocytes.
    assert expected[("K", "high", "1", "1", 0)] == expected[("K", "low", "1", "0", 3)] == 1
    assert expected[("LYM", "high", "1", "2", 0)] == expected[("LYM", "low", "1", "0", 2)] == 1
    assert _pdf_shift_blocks(path) == expected
    # The long rows the JSON twin takes say the same.
    rows = report.tables.shift_tables
    assert {
        (r.test, r.direction, str(r.level), str(r.baseline_grade), r.worst_grade): r.subjects
        for r in rows.itertuples()
        if (r.test, r.direction) in drawn
    } == expected


def test_the_cutoff_day_is_included_and_the_day_after_excluded(trial):
    frames = load_safety_frames(trial, CUTOFF)
    assert CUTOFF in set(frames.events["onset_on"].dt.date)
    assert frames.events["onset_on"].max().date() == CUTOFF
    assert "Vomiting" not in set(frames.events["term"])
    assert frames.doses["given_on"].max().date() == CUTOFF
    assert frames.labs["value"].max() == 260.0  # 23:30 on the cutoff day; not the 1100 after it
    later = load_safety_frames(trial, CUTOFF + dt.timedelta(days=1))
    assert "Vomiting" in set(later.events["term"]) and later.labs["value"].max() == 1100.0


def test_records_entered_in_error_are_left_out(trial):
    frames = load_safety_frames(trial, CUTOFF)
    assert "Fever" not in set(frames.events["term"])
    assert len(frames.events) == len(frames.events["event_id"].unique()) == 8


def test_user_text_prints_literally(trial, tmp_path):
    path, _ = _render(trial, tmp_path, generated_by='<i>Dr</i> "Who" & co')
    text = _text(path)
    assert VERBATIM in text
    assert '<i>Dr</i> "Who" & co' in text
    assert "&amp;" not in text and "&quot;" not in text


def test_the_snapshot_hash_changes_with_the_data_and_only_with_the_data(trial, tmp_path, alice):
    first_path, first = _render(trial, tmp_path, "first.pdf")
    _, again = _render(trial, tmp_path, "again.pdf", generated_by="someone else")
    assert first.snapshot_hash == again.snapshot_hash
    assert re.fullmatch(r"[0-9a-f]{64}", first.snapshot_hash)
    assert first.snapshot_hash in _text(first_path)
    # Data after the cutoff does not change the snapshot.
    ae_record(subject=Subject.objects.get(subject_code="A-002"), ctcae_term="Fever", grade=1,
              onset_on=CUTOFF + dt.timedelta(days=2), assessments=UNRELATED, by=alice)  # fmt: skip
    assert load_safety_frames(trial, CUTOFF).snapshot_hash() == first.snapshot_hash
    # A corrected grade does.
    fatigue = AdverseEvent.objects.get(ctcae_term="Fatigue", subject__subject_code="A-002")
    ae_correct(record=fatigue, changes={"grade": 1}, reason="Source says grade 1", by=alice)
    assert load_safety_frames(trial, CUTOFF).snapshot_hash() != first.snapshot_hash


def test_an_empty_study_gives_a_short_valid_report(study, tmp_path):
    path, report = _render(study, tmp_path)
    with pdfplumber.open(path) as document:
        assert len(document.pages) == 1
    text = _text(path)
    assert NO_SUBJECTS in text and "Page 1 of 1" in text
    assert report.snapshot_hash in text


def test_the_command_writes_the_pdf(trial, tmp_path):
    out = StringIO()
    path = tmp_path / "summary.pdf"
    call_command("safety_report", "--study", "TEST-IL2", "--cutoff", "2026-04-30", "--out",
                 str(path), stdout=out)  # fmt: skip
    assert "written to" in out.getvalue()
    text = _text(path)
    assert "Generated by command:safety_report" in text and "CTCAE version 5.0" in text
    section = None
    with pdfplumber.open(path) as document:
        total = len(document.pages)
        for number, page in enumerate(document.pages, start=1):
            page_text = page.extract_text()
            assert "TEST-IL2 · Safety summary · data cutoff 2026-04-30" in page_text
            assert f"Page {number} of {total}" in page_text
            # The wide tables (adverse events by grade, listings, shifts) are on landscape pages.
            section = [heading for heading in SECTIONS if heading in page_text] or [section]
            section = section[-1]
            assert (page.width > page.height) == (section in SECTIONS[5:8]), number


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--study", "NOPE"], "--study: no study with code 'NOPE'."),
        (["--study", "TEST-IL2", "--cutoff", "30/04/2026"], "--cutoff: '30/04/2026' is not a date"),
    ],
)
def test_the_command_refuses_bad_arguments(study, tmp_path, args, message):
    with pytest.raises(CommandError, match=re.escape(message)):
        call_command("safety_report", *args, "--out", str(tmp_path / "x.pdf"))


def test_the_demo_trial_report_has_every_section_on_non_blank_pages(db, tmp_path):
    from ecrf.services.demo import demo_seed

    # The demo is dated back from the day it is loaded: the report's cutoff is that day.
    day = dt.date(2026, 11, 1)
    study = demo_seed(today=day).study
    path, report = _render(study, tmp_path, cutoff=day)
    text = _text(path)
    for heading in SECTIONS:
        assert heading in text
    for heading in ("DLT listing", "Serious adverse events", "Deaths", "Haematology",
                    "Chemistry", "Swimmer plot", "ALT by subject: DL1 IL-2 3 MIU/day",
                    "Neutrophil count by subject: DL3 IL-2 9 MIU/day",
                    "Adverse events of grade 3 or more",
                    "Adverse events leading to discontinuation"):  # fmt: skip
        assert heading in text
    assert report.tables.treated_sizes["Total"] == 15
    if shutil.which("pdftoppm") is None:
        return
    from PIL import Image

    subprocess.run([shutil.which("pdftoppm"), "-r", "30", "-png", str(path), str(tmp_path / "page")],
                   check=True)  # fmt: skip
    images = sorted(tmp_path.glob("page-*.png"))
    with pdfplumber.open(path) as document:
        assert len(images) == len(document.pages) >= 9
    for image in images:
        grey = Image.open(image).convert("L")
        inked = sum(grey.histogram()[:200])
        assert inked / (grey.width * grey.height) > 0.005, image.name


# --- The download on the dashboard ------------------------------------------------------------


@pytest.fixture
def sponsor(study):
    return user_create("sam", "sponsor_viewer", study, None)


def test_investigators_sponsor_viewers_and_data_managers_download_it(
    client, trial, bob, sponsor, data_manager
):
    """The dashboard's button posts the cutoff; the PDF comes through a background job."""
    url = reverse("safety_report", args=[trial.pk])
    for user in (bob, sponsor, data_manager):
        client.force_login(user)
        assert client.get(url + "?cutoff=2026-04-30").status_code == 200, user  # the form
        response = fetch(client, url, {"cutoff": "2026-04-30"})
        assert response.status_code == 200, user
        assert response["Content-Type"] == "application/pdf"
        assert response.body.startswith(b"%PDF")
        assert (
            'filename="safety-summary-TEST-IL2-2026-04-30.pdf"' in response["Content-Disposition"]
        )
        dashboard = client.get(reverse("dlt_dashboard"))
        assert reverse("safety_report", args=[trial.pk]) in dashboard.content.decode()


def test_nurses_get_403_and_no_link(client, study, alice):
    trial = study
    client.force_login(alice)
    assert client.get(reverse("safety_report", args=[trial.pk])).status_code == 403
    dashboard = client.get(reverse("dlt_dashboard")).content.decode()
    assert reverse("safety_report", args=[trial.pk]) not in dashboard


def test_a_study_the_user_is_not_assigned_to_is_404_and_anonymous_users_sign_in(client, trial, bob):
    from django.contrib.auth import get_user_model

    outsider = get_user_model().objects.create_user("olga", password="x")
    outsider.groups.add(bob.groups.get())
    client.force_login(outsider)
    assert not StudyAssignment.objects.filter(user=outsider).exists()
    assert client.get(reverse("safety_report", args=[trial.pk])).status_code == 404
    client.logout()
    response = client.get(reverse("safety_report", args=[trial.pk]))
    assert response.status_code == 302 and "login" in response["Location"]


def test_a_bad_cutoff_is_a_400(client, study, bob):
    trial = study
    client.force_login(bob)
    response = client.get(reverse("safety_report", args=[trial.pk]) + "?cutoff=yesterday")
    assert response.status_code == 400
    response = client.post(reverse("safety_report", args=[trial.pk]), {"cutoff": "yesterday"})
    assert response.status_code == 400
    assert not ReportJob.objects.exists()


def test_a_treated_subject_without_any_record_yet_gives_a_full_report(subject, alice, tmp_path):
    """Treated: one dose of imatinib on day 1, and nothing else recorded."""
    dose_record(subject=subject, agent=subject.study.agents.get(code="IM"),
                given_on=subject.first_dose_on, given_dose=Decimal(400), by=alice)  # fmt: skip
    path, report = _render(subject.study, tmp_path)
    text = _text(path)
    for heading in SECTIONS:
        assert heading in text
    assert "No serious adverse event." in text and "No deaths." in text
    assert "No graded post-baseline results." in text
    # Dose level 2, where nobody was treated, takes no column.
    assert report.tables.treated_sizes.to_dict() == {1: 1, "Total": 1}


# --- Tables and listings a safety committee reads (issue #12) ---------------------------------


def test_a_wide_table_splits_into_parts_that_each_end_with_the_total():
    from ecrf.reports.safety import column_parts

    assert column_parts([1, 2, 3, 4, 5], 6) == [[1, 2, 3, 4, 5, "Total"]]
    assert column_parts(list(range(1, 9)), 6) == [[1, 2, 3, 4, 5, "Total"], [6, 7, 8, "Total"]]
    assert column_parts([], 6) == [["Total"]]


def test_a_five_level_ae_table_is_one_part_and_an_untreated_level_has_no_column(
    db, definition, tmp_path
):
    # Six levels, five of them treated (one subject each): IL-2 3 to 15 MIU/day, and 18 MIU/day
    # that nobody received.
    definition["dose_levels"] = [
        {
            "level": n,
            "label": f"IL-2 {3 * n} MIU/day",
            "doses": {"CTX": 50, "IM": 400, "IL2": 3 * n},
        }
        for n in range(1, 7)
    ]
    study = study_create(definition, code="FIVE")
    site = study.sites.get(code="A")
    nurse = user_create("nina", "research_nurse", study, site)
    for level in range(1, 6):
        treated = _dosed(
            subject_at_level(study, site, f"A-00{level}", level=level, by=nurse), nurse
        )
        ae_record(subject=treated, ctcae_term="Fatigue", grade=(2, 3, 3, 1, 2)[level - 1],
                  onset_on=dt.date(2026, 3, 10), assessments=UNRELATED, by=nurse)  # fmt: skip
    path, report = _render(study, tmp_path)
    assert report.tables.shown_levels == [1, 2, 3, 4, 5]
    parts = _tables(path, "System organ class / term")
    all_events = parts[0]
    groups = _column_groups(all_events[0])
    # One part for all adverse events: the stub, five levels and the Total, two columns each.
    assert list(dict.fromkeys(groups[1:])) == ["1", "2", "3", "4", "5", "Total"]
    assert "DL6" not in _text(path).split("6. Adverse events")[1].split("7. Serious")[0]
    fatigue = next(row for row in all_events if row[0] == "Fatigue")
    # Grades 2, 3, 3, 1, 2 at levels 1-5: grade 3-5 at levels 2 and 3; 2 of 5 in the total.
    assert [_count(cell) for cell in fatigue[1:]] == [1, 0, 1, 1, 1, 1, 1, 0, 1, 0, 5, 2]


def _listing(path, first_header: str) -> list[list[str]]:
    tables = _tables(path, first_header)
    return [row for table in tables for row in table[1:]]


def test_the_pdf_listings_match_the_database(trial, tmp_path, alice, charlie):
    a2 = Subject.objects.get(subject_code="A-002")
    b4 = Subject.objects.get(subject_code="B-004")
    # Imatinib and IL-2 withdrawn for A-002's grade 2 rash: an AE leading to discontinuation.
    ae_record(subject=a2, ctcae_term="Rash maculo-papular", grade=2, onset_on=dt.date(2026, 3, 20),
              assessments={**UNRELATED, "IM": ("possible", "withdrawn"),
                           "IL2": ("unlikely", "withdrawn")}, by=alice)  # fmt: skip
    # B-004's last dose, 13 days before death on 2026-04-14.
    dose_record(subject=b4, agent=trial.agents.get(code="IM"), given_on=dt.date(2026, 4, 1),
                given_dose=Decimal(400), by=charlie)  # fmt: skip
    path, _ = _render(trial, tmp_path)
    # Grade 3 or more, by plain SQL: the events of treated subjects on or before the cutoff.
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT s.subject_code, e.ctcae_term, e.grade, e.serious FROM ecrf_adverseevent e "
            "JOIN ecrf_subject s ON s.id = e.subject_id JOIN ecrf_study st ON st.id = s.study_id "
            "WHERE st.code = %s AND e.grade >= 3 AND e.entered_in_error = %s "
            "AND s.entered_in_error = %s AND e.onset_on <= %s AND s.first_dose_on <= %s",
            [trial.code, False, False, CUTOFF, CUTOFF],
        )
        severe = sorted((code, term, str(grade), "yes" if serious else "no")
                        for code, term, grade, serious in cursor.fetchall())  # fmt: skip
    rows = [r for r in _listing(path, "Subject") if len(r) == 8 and r[7] in ("yes", "no")]
    assert sorted((r[0], r[2], r[3], r[7]) for r in rows) == severe
    assert ("B-004", "Sepsis", "5", "yes") in severe and len(severe) == 4
    discontinued = [r for r in _listing(path, "Subject") if "IL2, IM" in r]
    assert [(r[0], r[2], r[3]) for r in discontinued] == [("A-002", "Rash maculo-papular", "2")]
    (death,) = [r for r in _listing(path, "Subject") if "2026-04-14" in r]
    assert death[:5] == ["B-004", "DL2", "2026-04-14", "25", "13"]  # day 1 = 2026-03-21
    assert death[-1] == "CTX unrelated, IL2 unrelated, IM unrelated"


def test_an_eight_level_ae_table_repeats_the_stub_and_the_total_in_each_part(
    db, definition, tmp_path
):
    definition["dose_levels"] = [
        {"level": n, "label": f"IL-2 {n} MIU/day", "doses": {"CTX": 50, "IM": 400, "IL2": n}}
        for n in range(1, 9)
    ]
    study = study_create(definition, code="EIGHT")
    site = study.sites.get(code="A")
    nurse = user_create("nina", "research_nurse", study, site)
    for level in range(1, 9):
        treated = _dosed(
            subject_at_level(study, site, f"A-00{level}", level=level, by=nurse), nurse
        )
        ae_record(subject=treated, ctcae_term="Fatigue", grade=3 if level == 8 else 1,
                  onset_on=dt.date(2026, 3, 10), assessments=UNRELATED, by=nurse)  # fmt: skip
    path, _ = _render(study, tmp_path)
    first, second = _tables(path, "System organ class / term")[:2]
    assert list(dict.fromkeys(_column_groups(first[0])[1:])) == ["1", "2", "3", "4", "5", "Total"]
    assert list(dict.fromkeys(_column_groups(second[0])[1:])) == ["6", "7", "8", "Total"]
    for part in (first, second):
        fatigue = next(row for row in part if row[0] == "Fatigue")  # the stub in every part
        assert [_count(cell) for cell in fatigue[-2:]] == [8, 1]  # Total: all grades, 3-5
    assert "Dose level columns, part 2 of 2" in _text(path)
