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
    frame["treatment_end_on"] = pd.NaT
    frame["treatment_end_reason"] = ""
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
    table = t.worst_grade_by_term(EVENTS, SUBJECTS, [1, 2])
    nausea = table.loc[(GI, "Nausea"), (t.TOTAL, t.ANY_GRADE)]
    assert (nausea, t.percent(nausea, sizes[t.TOTAL])) == (3, 38)  # 37.5 -> 38


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


def _directed_labs(*rows):
    """Rows of (subject, test, collected_at, term, grade, value, unit, lln, uln)."""
    frame = pd.DataFrame(
        rows,
        columns=["subject_code", "test", "collected_at", "term", "grade", "value", "unit", "lln",
                 "uln"],
    )  # fmt: skip
    frame["collected_at"] = pd.to_datetime(frame["collected_at"])
    frame["collected_on"] = frame["collected_at"].dt.normalize()
    return frame


LYM_DOWN, LYM_UP = "Lymphocyte count decreased", "Lymphocyte count increased"
CROSSING = _directed_labs(
    # S1: lymphocytes 4.5 x 10^9/L at baseline (CTCAE v5.0 'Lymphocyte count increased' grade 2,
    # >4000 - 20,000/mm3), 0.45 later ('Lymphocyte count decreased' grade 3, <500 - 200/mm3; the
    # issue's example is grade 2, <800 - 500/mm3: 0.6).
    ("S1", "LYM", "2026-03-01 08:00", LYM_UP, 2, 4.5, "10^9/L", 1.0, 4.0),
    ("S1", "LYM", "2026-03-09 08:00", LYM_DOWN, 2, 0.6, "10^9/L", 1.0, 4.0),
    # S2: potassium 5.3 mmol/L at baseline ('Hyperkalemia' grade 1, >ULN - 5.5), 2.8 later
    # ('Hypokalemia' grade 3, <3.0 - 2.5 mmol/L).
    ("S2", "K", "2026-03-02 07:00", "Hyperkalemia", 1, 5.3, "mmol/L", 3.5, 5.1),
    ("S2", "K", "2026-03-10 08:00", "Hypokalemia", 3, 2.8, "mmol/L", 3.5, 5.1),
    ("S2", "K", "2026-03-16 08:00", "", 0, 4.0, "mmol/L", 3.5, 5.1),
    # S3 (level 2): no baseline; normal potassium, then hyperkalemia grade 2 (>5.5 - 6.0).
    ("S3", "K", "2026-03-05 08:00", "", 0, 4.2, "mmol/L", 3.5, 5.1),
    ("S3", "K", "2026-03-12 08:00", "Hyperkalemia", 2, 5.8, "mmol/L", 3.5, 5.1),
)


def _cells(rows):
    return {
        (r.test, r.direction, r.level, r.baseline_grade, r.worst_grade): r.subjects
        for r in rows.itertuples()
    }


def test_a_subject_crossing_from_high_to_low_is_in_two_shift_blocks():
    shift = t.lab_shift_subjects(CROSSING, SUBJECTS, t.HAEMATOLOGY_TESTS + t.CHEMISTRY_TESTS)
    cells = _cells(t.lab_shift_rows(shift, [1, 2]))
    # Issue #12: lymphocytes increased grade 2 -> decreased grade 2 is not "2 to 2".
    assert cells[("LYM", "high", 1, 2, 0)] == 1
    assert cells[("LYM", "low", 1, 0, 2)] == 1
    assert cells[("LYM", "low", t.TOTAL, 0, 2)] == 1
    # Hyperkalaemia grade 1 -> hypokalaemia grade 3 likewise.
    assert cells[("K", "high", 1, 1, 0)] == 1 and cells[("K", "low", 1, 0, 3)] == 1
    # S3 has no baseline: Missing in both potassium blocks, worst 0 low and 2 high.
    assert cells[("K", "low", 2, t.MISSING, 0)] == 1
    assert cells[("K", "high", 2, t.MISSING, 2)] == 1
    assert not any(key[2:] == (1, 2, 2) or key[2:] == (1, 1, 3) for key in cells)
    # Each subject once per block and column: S1 in two LYM blocks, S2 and S3 in two K blocks,
    # each in a level and the total.
    assert sum(cells.values()) == 3 * 2 * 2


def test_shift_blocks_follow_the_ctcae_terms_of_each_test():
    blocks = {(test, direction): term for test, direction, term in t.shift_blocks(
        ("LYM", "K", "SODIUM", "GLUC", "CA", "MG", "NEUT", "ALT"))}  # fmt: skip
    assert blocks[("LYM", "low")] == LYM_DOWN and blocks[("LYM", "high")] == LYM_UP
    assert blocks[("SODIUM", "low")] == "Hyponatremia"
    assert blocks[("SODIUM", "high")] == "Hypernatremia"
    assert blocks[("CA", "high")] == "Hypercalcemia" and blocks[("MG", "high")] == "Hypermagnesemia"
    # Hyperglycemia is not gradable from a glucose value in v5.0: glucose has a low block only.
    assert ("GLUC", "high") not in blocks and blocks[("GLUC", "low")] == "Hypoglycemia"
    # One-direction tests keep one block.
    assert ("NEUT", "high") not in blocks and ("ALT", "low") not in blocks
    assert blocks[("ALT", "high")] == "Alanine aminotransferase increased"


def test_shift_baseline_is_the_last_result_on_or_before_the_first_dose_day():
    down = "Neutrophil count decreased"
    labs = _directed_labs(
        ("S1", "NEUT", "2026-02-25 08:00", down, 2, 1.2, "10^9/L", 1.8, 7.5),
        ("S1", "NEUT", "2026-03-02 07:00", down, 1, 1.6, "10^9/L", 1.8, 7.5),  # the baseline
        ("S1", "NEUT", "2026-03-03 08:00", down, 3, 0.9, "10^9/L", 1.8, 7.5),  # post-baseline
        ("S1", "NEUT", "2026-03-09 08:00", down, 2, 1.2, "10^9/L", 1.8, 7.5),
        ("S3", "NEUT", "2026-03-09 08:00", down, 4, 0.4, "10^9/L", 1.8, 7.5),  # no baseline
        ("S2", "NEUT", "2026-03-01 08:00", "", 0, 3.0, "10^9/L", 1.8, 7.5),  # no post-baseline
        ("S2", "PLAT", "2026-03-05 08:00", "", None, 200, "10^9/L", 150, 400),  # ungraded
    )
    rows = t.lab_shift_rows(t.lab_shift_subjects(labs, SUBJECTS, t.HAEMATOLOGY_TESTS), [1, 2])
    assert _cells(rows) == {
        ("NEUT", "low", 1, 1, 3): 1,
        ("NEUT", "low", 2, t.MISSING, 4): 1,
        ("NEUT", "low", t.TOTAL, 1, 3): 1,
        ("NEUT", "low", t.TOTAL, t.MISSING, 4): 1,
    }
    assert rows["level_subjects"].tolist() == [1, 1, 2, 2]
    assert rows["level"].tolist() == [1, 2, t.TOTAL, t.TOTAL]  # levels in order, Total last
    assert rows["against_baseline"].sum() == 0


def test_a_result_graded_against_an_abnormal_baseline_is_marked():
    increased = "Alanine aminotransferase increased"
    labs = _directed_labs(
        # S1: baseline ALT 80 U/L, 2 x ULN 40: abnormal. CTCAE v5.0 grades later values as
        # multiples of baseline: 200 U/L is 2.5 x baseline, grade 1 (1.5 - 3.0 x baseline),
        # where 5.0 x ULN alone would be grade 2 (>3.0 - 5.0 x ULN).
        ("S1", "ALT", "2026-03-01 08:00", increased, 1, 80, "U/L", None, 40),
        ("S1", "ALT", "2026-03-09 08:00", increased, 1, 200, "U/L", None, 40),
        # S2: baseline normal; 130 U/L is 3.25 x ULN, grade 2 either way: not marked.
        ("S2", "ALT", "2026-03-01 08:00", "", 0, 30, "U/L", None, 40),
        ("S2", "ALT", "2026-03-09 08:00", increased, 2, 130, "U/L", None, 40),
    )
    rows = t.lab_shift_rows(t.lab_shift_subjects(labs, SUBJECTS, t.CHEMISTRY_TESTS), [1, 2])
    marked = {(r.level, r.baseline_grade, r.worst_grade): r.against_baseline
              for r in rows.itertuples()}  # fmt: skip
    assert marked[(1, 1, 1)] == 1 and marked[(1, 0, 2)] == 0
    assert marked[(t.TOTAL, 1, 1)] == 1


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
    assert t.deaths(empty, SUBJECTS, _doses(), _attributions()).empty
    assert t.grade_3_listing(empty, _attributions(), SUBJECTS).empty
    assert t.discontinuation_listing(empty, _attributions(), SUBJECTS).empty


def test_ae_rows_give_all_grades_and_grade_3_or_more_per_level():
    rows = t.ae_term_rows(t.worst_grade_by_term(EVENTS, SUBJECTS, [1, 2]))
    # A second route: each subject's worst grade per term, counted with plain pandas.
    worst = (
        EVENTS.merge(SUBJECTS[["subject_code", "level"]])
        .groupby(["term", "subject_code", "level"], as_index=False)["grade"]
        .max()
    )
    for level in (1, 2):
        at_level = worst[worst["level"] == level]
        for term in ("Nausea", "Vomiting", "Fatigue"):
            row = rows[(rows["term"] == term) & (rows["level"] == level)].iloc[0]
            of_term = at_level[at_level["term"] == term]
            assert row["all_grades"] == len(of_term), (term, level)
            assert row["grade_3_plus"] == (of_term["grade"] >= 3).sum(), (term, level)
    # S1 nausea 1 and 3 counts once, in both columns; S2 nausea 2 in all grades only.
    nausea = rows[(rows["term"] == "Nausea") & (rows["level"] == 1)].iloc[0]
    assert (nausea["all_grades"], nausea["grade_3_plus"]) == (2, 1)
    first = rows.iloc[0]
    assert (first["soc"], first["term"], first["level"]) == ("", t.ANY_EVENT, 1)
    total = rows[(rows["term"] == t.ANY_EVENT) & (rows["level"] == t.TOTAL)].iloc[0]
    assert (total["all_grades"], total["grade_3_plus"]) == (4, 3)  # S1, S3, S4 at grade >= 3
    assert list(rows.columns) == list(t.AE_ROW_COLUMNS)


def test_the_grade_3_listing_has_every_severe_event_with_its_resolution():
    events = EVENTS.assign(
        resolved_on=[pd.NaT, pd.Timestamp("2026-03-20"), pd.NaT, pd.NaT, pd.NaT, pd.NaT, pd.NaT],
        serious=[False, False, False, False, False, True, True],
    )
    attributions = _attributions(("e2", "IL2", "probable", "interrupted"))
    listing = t.grade_3_listing(events, attributions, SUBJECTS)
    assert listing["event_id"].tolist() == ["e2", "e5", "e6", "e7"]  # grades 3, 3, 4, 5
    e2 = listing.iloc[0]
    # Onset 2026-03-10 is day 9 (day 1 = 2026-03-02); resolved 2026-03-20 is day 19.
    assert (e2["onset_day"], e2["resolution"], e2["related"]) == (
        9, "2026-03-20 (day 19)", "IL2 (probable)"
    )  # fmt: skip
    assert listing.iloc[1]["resolution"] == "ongoing"
    assert listing["serious"].tolist() == [False, False, True, True]


def test_discontinuation_lists_withdrawn_agents_and_treatment_ended_for_an_event():
    attributions = _attributions(
        ("e3", "IL2", "possible", "withdrawn"),
        ("e3", "IM", "possible", "withdrawn"),
        ("e4", "IL2", "possible", "interrupted"),  # interrupted, not withdrawn
    )
    events = EVENTS.assign(
        resolved_on=[pd.Timestamp("2026-03-12"), pd.NaT, pd.NaT, pd.NaT,
                     pd.Timestamp("2026-03-15"), pd.NaT, pd.NaT]
    )  # fmt: skip
    # S3's treatment ended on 2026-03-20 for an adverse event: nausea e6 is still ongoing then,
    # fatigue e5 resolved on 2026-03-15 is not listed.
    ended = pd.Series({"S3": pd.Timestamp("2026-03-20")})
    listing = t.discontinuation_listing(events, attributions, SUBJECTS, ended)
    assert listing["event_id"].tolist() == ["e3", "e6"]
    assert listing["withdrawn"].tolist() == ["IL2, IM", "treatment ended"]


def test_deaths_give_days_since_the_last_dose_and_the_attribution_per_agent():
    doses = _doses(
        ("S4", "IL2", "2026-03-15", 1, 6, 6),
        ("S4", "IM", "2026-03-20", 1, 400, 400),  # the last dose of any agent
        ("S4", "IM", "2026-03-21", 1, 400, 0),  # not given
        ("S4", "CTX", "2026-04-02", 2, 50, 50),  # after death (a data error): not the last dose
    )
    attributions = _attributions(
        ("e7", "IL2", "probable", "none"), ("e7", "IM", "unlikely", "none"),
        ("e7", "CTX", "unrelated", "none"),
    )  # fmt: skip
    row = t.deaths(EVENTS, SUBJECTS, doses, attributions).iloc[0]
    # Death 2026-03-31, last dose given 2026-03-20: 11 days; study day 30.
    assert (row["subject_code"], row["days_since_last_dose"], row["death_day"]) == ("S4", 11, 30)
    assert row["attribution"] == "CTX unrelated, IL2 probable, IM unlikely"


@pytest.mark.parametrize(
    ("test", "lines", "value_of", "limits"),
    [
        # CTCAE v5.0 'Alanine aminotransferase increased', normal baseline: >3.0, >5.0 and
        # >20.0 x ULN start grades 2, 3 and 4 (ULN 40 U/L here).
        ("ALT", t.ALT_GRADE_LINES[1:], lambda multiple: multiple * 40, {"uln": 40}),
        # 'Neutrophil count decreased': <1.5, <1.0 and <0.5 x 10e9/L start grades 2, 3 and 4.
        ("NEUT", t.NEUTROPHIL_GRADE_LINES, lambda count: count, {"lln": 1.8}),
    ],
)
def test_the_figure_grade_lines_are_the_ctcae_thresholds(test, lines, value_of, limits):
    from ecrf.ctcae.labs import grade_lab

    unit = "U/L" if test == "ALT" else "10^9/L"
    for grade, (threshold, label) in enumerate(lines, start=2):
        assert f"Grade {grade}" in label
        at = grade_lab(test, value_of(threshold), unit, **limits).grade
        beyond = value_of(threshold * (1.01 if test == "ALT" else 0.99))
        assert (at, grade_lab(test, beyond, unit, **limits).grade) == (grade - 1, grade)


def test_treatment_ended_for_an_adverse_event_is_the_recorded_end_of_treatment_reason():
    """The structured reason recorded with the end of treatment decides it, not the wording
    of an off-study reason."""
    subjects = _subjects(
        ("S1", 1, "off_treatment", None, ""),
        ("S2", 1, "off_study", "2026-04-02", "Adverse event: capillary leak syndrome"),
        ("S3", 2, "off_treatment", None, ""),
        ("S4", 2, "on_treatment", None, ""),
    )
    subjects["treatment_end_on"] = pd.to_datetime([
        "2026-04-01", None, "2026-04-03", None
    ])  # fmt: skip
    subjects["treatment_end_reason"] = ["adverse_event", "", "progression", ""]
    ended = t.treatment_ended_for_ae(subjects)
    assert ended.to_dict() == {"S1": pd.Timestamp("2026-04-01")}
