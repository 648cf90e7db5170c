"""The pure safety tables (ecrf.safety.tables) on small hand-made frames, at their boundaries.

Counting rules (issue #6): columns are the dose levels plus a total; counts are subjects, each
subject counted once per row at their worst CTCAE v5.0 grade; treatment-related means possible,
probable or definite for any agent (the 5-point attribution scale). Baseline for the shift
tables is the last result on or before the first dose (docs/ctcae.md, "Lab grading").
"""

import pandas as pd
import pytest

from ecrf.safety import tables as t

LEVELS = pd.DataFrame({"level": [2, 1], "label": ["6 MIU", "3 MIU"]})
FIRST_DOSE = pd.Timestamp("2026-03-02")


def _subjects(*rows):
    """Rows of (code, level, status, off_study_on, off_study_reason); enrolled and treated."""
    frame = pd.DataFrame(
        rows, columns=["subject_code", "level", "status", "off_study_on", "off_study_reason"]
    )
    frame["level"] = frame["level"].astype(float)
    frame["site"] = "A"
    frame["enrolled_on"] = pd.Timestamp("2026-02-20")
    frame["first_dose_on"] = FIRST_DOSE
    frame["off_study_on"] = pd.to_datetime(frame["off_study_on"])
    # Treated from day 1 (no lead-in) to day 21.
    frame["first_dosed_on"] = FIRST_DOSE
    frame["last_dosed_on"] = FIRST_DOSE + pd.Timedelta(days=20)
    return frame


SUBJECTS = _subjects(
    ("S1", 1, "on_treatment", None, ""),
    ("S2", 1, "on_treatment", None, ""),
    ("S3", 2, "on_treatment", None, ""),
    ("S4", 2, "off_study", "2026-04-01", "Progressive disease"),
    ("S5", 2, "off_treatment", None, ""),
    ("S6", 2, "on_treatment", None, ""),
    ("S7", 2, "on_treatment", None, ""),
    ("S8", 2, "on_treatment", None, ""),
)


def _event(event_id, subject, term, soc, grade, **extra):
    row = {
        "event_id": event_id,
        "subject_code": subject,
        "term": term,
        "soc": soc,
        "verbatim": "",
        "grade": grade,
        "onset_on": pd.Timestamp("2026-03-10"),
        "resolved_on": pd.NaT,
        "serious": False,
        "outcome": "recovered",
        "death_on": pd.NaT,
        **dict.fromkeys(t.SERIOUSNESS_LABELS, False),
    }
    row.update(extra)
    return row


GI, GENERAL = "Gastrointestinal disorders", "General disorders and administration site conditions"
EVENTS = pd.DataFrame(
    [
        _event("e1", "S1", "Nausea", GI, 1),
        _event("e2", "S1", "Nausea", GI, 3),  # S1's worst nausea: grade 3
        _event("e3", "S1", "Vomiting", GI, 2),
        _event("e4", "S2", "Nausea", GI, 2),
        _event("e5", "S3", "Fatigue", GENERAL, 3),
        _event("e6", "S3", "Nausea", GI, 4),
        _event(
            "e7", "S4", "Fatigue", GENERAL, 5, outcome="fatal", death_on=pd.Timestamp("2026-03-31")
        ),  # fmt: skip
    ]
)


def _attributions(*rows):
    return pd.DataFrame(rows, columns=["event_id", "agent", "attribution", "action_taken"])


def test_a_subject_counts_once_per_term_at_the_worst_grade():
    table = t.worst_grade_by_term(EVENTS, SUBJECTS, [1, 2])
    nausea = table.loc[(GI, "Nausea")]
    # S1 had nausea grade 1 and grade 3: once, in grade 3, not in grade 1-2.
    assert nausea[(1, "Grade 3")] == 1 and nausea[(1, "Grade 1-2")] == 1  # the 1-2 is S2
    assert nausea[(1, t.ANY_GRADE)] == 2
    assert nausea[(2, "Grade 4")] == 1 and nausea[(t.TOTAL, t.ANY_GRADE)] == 3
    # The SOC row takes each subject's worst grade over its terms: S1 nausea 3 beats vomiting 2.
    gi = table.loc[(GI, "")]
    assert (gi[(1, "Grade 3")], gi[(1, "Grade 1-2")], gi[(1, t.ANY_GRADE)]) == (1, 1, 2)
    # The first row counts each subject once at their worst grade of all: S3 grade 4, S4 grade 5.
    first = table.iloc[0]
    assert table.index[0] == ("", t.ANY_EVENT)
    assert (first[(2, "Grade 4")], first[(2, "Grade 5")], first[(t.TOTAL, t.ANY_GRADE)]) == (
        1,
        1,
        4,
    )


@pytest.mark.parametrize(
    ("grade", "band"),
    [(1, "Grade 1-2"), (2, "Grade 1-2"), (3, "Grade 3"), (4, "Grade 4"), (5, "Grade 5")],
)
def test_each_ctcae_grade_falls_in_its_band(grade, band):
    events = pd.DataFrame([_event("e1", "S1", "Nausea", GI, grade)])
    row = t.worst_grade_by_term(events, SUBJECTS, [1, 2]).loc[(GI, "Nausea")]
    assert row[(1, band)] == 1
    assert sum(row[(1, other)] for other in t.GRADE_BANDS) == 1


def test_rows_are_ordered_by_frequency_socs_before_their_terms():
    table = t.worst_grade_by_term(EVENTS, SUBJECTS, [1, 2])
    assert list(table.index) == [
        ("", t.ANY_EVENT),
        (GI, ""),
        (GI, "Nausea"),
        (GI, "Vomiting"),
        (GENERAL, ""),
        (GENERAL, "Fatigue"),
    ]


def test_percentages_are_of_the_column_subjects_rounded_half_up():
    # 1 of 8 is 12.5% -> 13%; 1 of 3 is 33.3% -> 33%; 2 of 3 is 66.7% -> 67%.
    assert t.percent(1, 8) == 13
    assert t.percent(1, 3) == 33 and t.percent(2, 3) == 67
    assert t.percent(0, 0) == 0
    sizes = t.column_sizes(SUBJECTS, [1, 2])
    assert sizes.to_dict() == {1: 2, 2: 6, t.TOTAL: 8}
    shown = t.grade_table_text(t.worst_grade_by_term(EVENTS, SUBJECTS, [1, 2]), sizes)
    assert shown.loc[(GI, "Nausea"), (t.TOTAL, t.ANY_GRADE)] == "3 (38)"  # 37.5 -> 38
    assert shown.loc[(GI, "Vomiting"), (2, t.ANY_GRADE)] == ""


@pytest.mark.parametrize(
    ("attribution", "related"),
    [("unrelated", False), ("unlikely", False), ("possible", True), ("probable", True),
     ("definite", True)],
)  # fmt: skip
def test_treatment_related_means_at_least_possible_for_any_agent(attribution, related):
    attributions = _attributions(
        ("e1", "IM", "unrelated", "none"), ("e1", "IL2", attribution, "none")
    )
    assert ("e1" in t.related_event_ids(attributions)) is related


def test_the_overview_counts_subjects_per_category():
    attributions = _attributions(
        ("e1", "IL2", "possible", "none"),
        ("e5", "IL2", "unlikely", "reduced"),
        ("e6", "IM", "unlikely", "none"),
    )
    doses = pd.DataFrame({"adverse_event_id": ["e6", None]})
    serious = EVENTS.assign(serious=EVENTS["event_id"] == "e6")
    table = t.ae_overview(serious, attributions, doses, SUBJECTS, [1, 2])
    assert table.loc["Any adverse event"].to_dict() == {1: 2, 2: 2, t.TOTAL: 4}
    assert table.loc["Grade 3 or more"].to_dict() == {1: 1, 2: 2, t.TOTAL: 3}  # S1, S3, S4
    assert table.loc["Serious"].to_dict() == {1: 0, 2: 1, t.TOTAL: 1}
    assert table.loc["Treatment-related"].to_dict() == {1: 1, 2: 0, t.TOTAL: 1}
    # e5 by its action (reduced), e6 by the dose record that cites it: both S3.
    assert table.loc["Leading to a dose change"].to_dict() == {1: 0, 2: 1, t.TOTAL: 1}
    assert table.loc["Fatal"].to_dict() == {1: 0, 2: 1, t.TOTAL: 1}


def _doses(*rows):
    frame = pd.DataFrame(
        rows, columns=["subject_code", "agent", "given_on", "cycle", "planned_dose", "given_dose"]
    )
    frame["given_on"] = pd.to_datetime(frame["given_on"])
    frame["adverse_event_id"] = None
    return frame


def test_exposure_gives_relative_dose_intensity_reductions_and_interruptions():
    doses = _doses(
        ("S1", "IL2", "2026-03-11", 1, 6, 6),
        ("S1", "IL2", "2026-03-12", 1, 6, 6),
        ("S1", "IL2", "2026-03-13", 1, 6, 0),  # interruption: planned, not given
        ("S1", "IL2", "2026-03-14", 1, 6, 6),
        ("S1", "IL2", "2026-03-15", 1, 6, 6),
        ("S2", "IL2", "2026-03-11", 1, 6, 6),  # as planned: neither
        ("S2", "IL2", "2026-04-01", 2, 6, 3),  # reduction: given above 0, below plan
    )
    per = t.exposure_by_subject(doses, SUBJECTS).set_index("subject_code")
    # 24 of 30 MIU planned: 80% (the 4 of 5 doses of tests/test_import_csv_and_dlt_report.py).
    assert per.loc["S1", "rdi_pct"] == pytest.approx(80.0)
    assert (per.loc["S1", "interruptions"], per.loc["S1", "reductions"]) == (1, 0)
    assert (per.loc["S2", "interruptions"], per.loc["S2", "reductions"]) == (0, 1)
    assert per.loc["S2", "rdi_pct"] == pytest.approx(75.0)
    assert (per.loc["S1", "cycles_started"], per.loc["S2", "cycles_started"]) == (1, 2)
    agents = pd.DataFrame({"agent": ["IL2"], "name": ["Interleukin-2"], "unit": ["MIU"]})
    table = t.exposure(doses, SUBJECTS, agents, [1, 2]).set_index("measure")
    assert table.loc["Relative dose intensity %, median (range)", 1] == "78 (75-80)"
    assert table.loc["Subjects with an interruption", 1] == "1 (50%)"
    assert table.loc["Doses planned", t.TOTAL] == "7" and table.loc["Doses given", 1] == "6"
    assert table.loc["Total dose given (MIU)", 1] == "33"  # 24 + 9


def _labs(*rows):
    frame = pd.DataFrame(rows, columns=["subject_code", "test", "collected_at", "grade"])
    frame["collected_at"] = pd.to_datetime(frame["collected_at"])
    frame["collected_on"] = frame["collected_at"].dt.normalize()
    frame["unit"], frame["value"], frame["lln"], frame["uln"] = "10^9/L", 1.0, 1.8, 7.5
    return frame


def test_shift_baseline_is_the_last_result_on_or_before_the_first_dose_day():
    labs = _labs(
        ("S1", "NEUT", "2026-02-25 08:00", 2),
        ("S1", "NEUT", "2026-03-02 07:00", 1),  # on the first dose day: the baseline
        ("S1", "NEUT", "2026-03-03 08:00", 3),  # the day after: post-baseline
        ("S1", "NEUT", "2026-03-09 08:00", 2),
        ("S3", "NEUT", "2026-03-09 08:00", 4),  # no baseline: Missing
        ("S2", "NEUT", "2026-03-01 08:00", 0),  # no post-baseline result: not counted
        ("S2", "PLAT", "2026-03-05 08:00", None),  # ungraded: ignored
    )
    table = t.lab_shift(labs, SUBJECTS, [1, 2], t.HAEMATOLOGY_TESTS)
    assert table.loc[("NEUT", "1"), (1, 3)] == 1
    assert table.loc[("NEUT", t.MISSING), (2, 4)] == 1
    assert table.loc[("NEUT", t.MISSING), (t.TOTAL, 4)] == 1
    assert table.to_numpy().sum() == 2 * 2  # two subjects, each in a level and the total
    assert [b for test, b in table.index if test == "NEUT"] == ["0", "1", "2", "3", "4", "Missing"]
    assert "PLAT" not in table.index.get_level_values("test")


def test_study_days_have_no_day_zero():
    dates = pd.Series(pd.to_datetime(["2026-03-01", "2026-03-02", "2026-03-03"]))
    assert t.study_day(dates, pd.Series([FIRST_DOSE] * 3)).tolist() == [-1, 1, 2]


def test_sae_listing_names_criteria_and_related_agents():
    events = pd.DataFrame(
        [
            _event("e1", "S1", "Nausea", GI, 3, serious=True, sae_hospitalisation=True,
                   sae_important_medical_event=True, onset_on=pd.Timestamp("2026-03-10")),
            _event("e2", "S2", "Nausea", GI, 3),
        ]
    )  # fmt: skip
    attributions = _attributions(
        ("e1", "IM", "possible", "none"), ("e1", "CTX", "unlikely", "none")
    )
    listing = t.sae_listing(events, attributions, SUBJECTS)
    assert listing["subject_code"].tolist() == ["S1"]
    row = listing.iloc[0]
    assert row["criteria"] == "hospitalisation, important medical event"
    assert row["related"] == "IM (possible)" and row["onset_day"] == 9


def test_neutrophil_counts_are_converted_to_1e9_per_litre():
    labs = _labs(("S1", "NEUT", "2026-03-09 08:00", 0), ("S2", "NEUT", "2026-03-09 08:00", 0))
    labs["unit"] = ["10^9/L", "cells/uL"]
    labs["value"] = [2.5, 2500.0]
    course = t.lab_course(labs, SUBJECTS, LEVELS, "NEUT", per_uln=False)
    assert course["value"].tolist() == [2.5, 2.5] and course["study_day"].tolist() == [8, 8]
    alt = _labs(("S1", "ALT", "2026-03-09 08:00", 1)).assign(value=120.0, uln=40.0)
    assert t.lab_course(alt, SUBJECTS, LEVELS, "ALT", per_uln=True)["value"].tolist() == [3.0]


def test_tables_of_no_events_are_empty_but_well_formed():
    empty = EVENTS.iloc[0:0]
    table = t.worst_grade_by_term(empty, SUBJECTS, [1, 2])
    assert table.to_numpy().sum() == 0 and table.index[0] == ("", t.ANY_EVENT)
    assert t.ae_overview(empty, _attributions(), _doses(), SUBJECTS, [1, 2]).to_numpy().sum() == 0
    assert t.sae_listing(empty, _attributions(), SUBJECTS).empty
    assert t.deaths(empty, SUBJECTS).empty
