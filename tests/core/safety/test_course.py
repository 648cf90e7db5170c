"""Each subject's course in the safety summary (ecrf.safety.tables): the safety population, the
one time base, disposition from dated facts, the treatment-emergent window and the swimmer
plot's bars (issue #12).

The time base is DESIGN.md rule 7 and SDTM's --DY: study day 1 is the first dose of cycle 1,
the days before it count back from -1 with no day 0. The reference trial's cyclophosphamide
lead-in starts on day -21 (studies/IL2-IM-CTX.json: CTX days [-21, 21]); its follow-up after
the last dose is 30 days (``follow_up_days``).
"""

import pandas as pd

from ecrf.safety import tables as t

DAY1 = pd.Timestamp("2026-03-22")
LEVELS = pd.DataFrame({"level": [1, 2], "label": ["3 MIU", "6 MIU"]})
NO_EVENTS = pd.DataFrame(
    columns=["event_id", "subject_code", "term", "grade", "onset_on", "outcome", "death_on"]
)


def _day(study_day: int) -> pd.Timestamp:
    """The date of a study day (no day 0)."""
    return DAY1 + pd.Timedelta(days=study_day - 1 if study_day > 0 else study_day)


def _subject(code, level=1, *, first=None, last=None, **extra):
    row = {
        "subject_code": code,
        "site": "A",
        "level": float(level) if level is not None else float("nan"),
        "status": "on_treatment",
        "sex": "F",
        "birth_year": 1960.0,
        "consent_on": pd.Timestamp("2026-02-01"),
        "enrolled_on": pd.Timestamp("2026-02-20") if level is not None else pd.NaT,
        "first_dose_on": DAY1,
        "treatment_end_on": pd.NaT,
        "treatment_end_reason": "",
        "off_study_on": pd.NaT,
        "off_study_reason": "",
        "first_dosed_on": _day(first) if first is not None else pd.NaT,
        "last_dosed_on": _day(last) if last is not None else pd.NaT,
        "dose_planned_after_cutoff": False,
    }
    row.update(extra)
    return row


def _frame(*rows):
    return pd.DataFrame(list(rows))


def _events(*rows):
    """Rows of (subject, onset study day, grade, death study day or None)."""
    return pd.DataFrame(
        [
            {"event_id": f"e{i}", "subject_code": code, "term": "Fatigue", "grade": grade,
             "onset_on": _day(onset), "outcome": "fatal" if grade == 5 else "recovered",
             "death_on": _day(death) if death is not None else pd.NaT}
            for i, (code, onset, grade, death) in enumerate(rows)
        ]
    )  # fmt: skip


def test_study_days_count_back_from_day_1_with_no_day_0():
    """DESIGN.md rule 7 / SDTM --DY: the day before day 1 is day -1; 21 days before is -21."""
    dates = pd.Series([_day(-21), DAY1 - pd.Timedelta(days=1), DAY1, DAY1 + pd.Timedelta(days=41)])
    assert t.study_day(dates, pd.Series([DAY1] * 4)).tolist() == [-21, -1, 1, 42]


def test_a_subject_in_the_lead_in_is_treated_and_has_negative_study_days():
    """Ten days into the 21-day cyclophosphamide lead-in (day -21 to day -12), day 1 still to
    come: treated (the safety population is any dose of any agent), first dose day -21."""
    subjects = _frame(
        _subject("LEAD", first=-21, last=-12, dose_planned_after_cutoff=True),
        _subject("NONE", first=None, last=None),  # enrolled, never dosed
    )
    assert t.treated(subjects)["subject_code"].tolist() == ["LEAD"]
    course = t.subject_course(subjects, NO_EVENTS).set_index("subject_code")
    assert course.loc["LEAD", "first_dose_day"] == -21
    assert course.loc["LEAD", "last_dose_day"] == -12
    assert course.loc["LEAD", "status"] == t.STATUS_ON_TREATMENT
    assert bool(course.loc["LEAD", "ongoing"])


def test_the_swimmer_bar_runs_from_the_first_to_the_last_dose():
    """Lead-in from day -21, last dose on day 42 (two 21-day cycles): the bar ends at 42, not at
    the 63 days the span would give if counted from the lead-in as day 0."""
    subjects = _frame(_subject("S1", first=-21, last=42))
    course = t.subject_course(subjects, NO_EVENTS)
    dlt_events = pd.DataFrame(
        {"subject_code": ["S1", "S1"], "onset_day": [12, 15], "status": ["potential", "ruled_out"]}
    )
    bars, markers = t.swimmer_data(course, dlt_events, LEVELS)
    bar = bars.iloc[0]
    assert (bar["start_day"], bar["end_day"], bool(bar["ongoing"])) == (-21, 42, False)
    assert markers.to_dict("records") == [{"subject_code": "S1", "study_day": 12, "kind": "DLT"}]


def test_a_discontinued_subject_is_not_ongoing_even_with_visits_still_planned():
    """A dose planned after the cutoff makes treatment ongoing only while treatment has not
    ended: an end of treatment for an adverse event on day 14 ends it."""
    subjects = _frame(
        _subject("STOP", first=-21, last=14, dose_planned_after_cutoff=True,
                 treatment_end_on=_day(14), treatment_end_reason="adverse_event",
                 status="off_treatment"),
        _subject("ON", first=-21, last=14, dose_planned_after_cutoff=True),
        _subject("STALE", first=-21, last=42),  # nothing planned, no end recorded
    )  # fmt: skip
    course = t.subject_course(subjects, NO_EVENTS).set_index("subject_code")
    assert course.loc["STOP", "status"] == t.STATUS_DISCONTINUED
    assert not course.loc["STOP", "ongoing"]
    assert course.loc["STOP", "treatment_end_day"] == 14
    assert course.loc["ON", "status"] == t.STATUS_ON_TREATMENT and course.loc["ON", "ongoing"]
    assert course.loc["STALE", "status"] == t.STATUS_END_NOT_RECORDED
    assert not course.loc["STALE", "ongoing"]
    no_dlts = pd.DataFrame(columns=["subject_code", "onset_day", "status"])
    _bars, markers = t.swimmer_data(course.reset_index(), no_dlts, LEVELS)
    assert {"subject_code": "STOP", "study_day": 14, "kind": "End of treatment"} in markers.to_dict(
        "records"
    )


def test_death_decides_the_status_and_ends_ongoing_treatment():
    """Died, then off study, then discontinued: the first that applies is the status."""
    subjects = _frame(
        _subject("D", first=1, last=20, dose_planned_after_cutoff=True,
                 off_study_on=_day(30), off_study_reason="Death"),
    )  # fmt: skip
    course = t.subject_course(subjects, _events(("D", 25, 5, 28))).set_index("subject_code")
    assert course.loc["D", "status"] == t.STATUS_DIED
    assert course.loc["D", "death_day"] == 28 and not course.loc["D", "ongoing"]


def test_disposition_counts_screening_in_the_total_and_discontinuations_by_reason():
    subjects = _frame(
        _subject("SCR", level=None, status="screening"),
        _subject("FAIL", level=None, status="screen_failed"),
        _subject("A", level=1, first=-21, last=42, treatment_end_on=_day(42),
                 treatment_end_reason="completed", status="off_treatment"),
        _subject("B", level=1, first=-21, last=10, treatment_end_on=_day(10),
                 treatment_end_reason="adverse_event", status="off_treatment"),
        _subject("C", level=2, first=-21, last=-5, dose_planned_after_cutoff=True),
        _subject("E", level=2),  # enrolled, no dose yet
    )  # fmt: skip
    course = t.subject_course(subjects, NO_EVENTS)
    dlt = pd.DataFrame(
        {"subject_code": ["A"], "level": [1], "evaluable": [True], "has_dlt": [False]}
    )
    table = t.disposition(subjects, dlt, course, [1, 2], {"adverse_event": "Adverse event"})
    assert table.loc[t.SCREENED].to_dict() == {1: 0, 2: 0, t.TOTAL: 6}
    assert table.loc[t.SCREEN_FAILED, t.TOTAL] == 1
    assert table.loc["Enrolled"].to_dict() == {1: 2, 2: 2, t.TOTAL: 4}
    assert table.loc["Treated (safety population)"].to_dict() == {1: 2, 2: 1, t.TOTAL: 3}
    assert table.loc["Completed treatment", t.TOTAL] == 1
    assert table.loc["Discontinued treatment", t.TOTAL] == 1
    assert table.loc["Discontinued: Adverse event"].to_dict() == {1: 1, 2: 0, t.TOTAL: 1}
    assert table.loc["On treatment"].to_dict() == {1: 0, 2: 1, t.TOTAL: 1}
    assert table.loc["DLT-evaluable", t.TOTAL] == 1


def test_treatment_emergent_window_is_first_dose_to_last_dose_plus_follow_up():
    """Follow-up 30 days (studies/IL2-IM-CTX.json): onset on the last dose + 30 days counts,
    + 31 does not; onset the day before the first dose does not."""
    subjects = _frame(_subject("S1", first=-21, last=42))
    last = _day(42)
    events = pd.DataFrame(
        {
            "event_id": ["before", "first", "edge", "after"],
            "subject_code": "S1",
            "term": "Fatigue",
            "grade": 1,
            "onset_on": [_day(-22), _day(-21), last + pd.Timedelta(days=30),
                         last + pd.Timedelta(days=31)],
        }
    )  # fmt: skip
    emergent = t.treatment_emergent(events, subjects, 30)
    assert emergent.tolist() == [False, True, True, False]
    listing = t.outside_window_listing(events, t.treated(subjects), emergent, 30)
    assert listing["event_id"].tolist() == ["before", "after"]
    assert listing["why"].tolist() == [
        "onset before the first dose",
        "onset 31 days after the last dose (window: 30 days)",
    ]
    assert listing["onset_day"].tolist() == [-22, 73]


def test_demographics_give_age_at_consent_and_sex_per_level():
    subjects = _frame(
        _subject("A", level=1, first=1, last=5, birth_year=1977.0, sex="M"),
        _subject("B", level=1, first=1, last=5, birth_year=1956.0, sex="F"),
        _subject("C", level=2, first=1, last=5, birth_year=1946.0, sex="F"),
    )
    table = t.demographics(t.treated(subjects), [1, 2])
    assert table.loc["Age, years, median (range)", 1] == "60 (49-70)"
    assert table.loc["Age, years, median (range)", t.TOTAL] == "70 (49-80)"
    assert table.loc["Sex: Female", t.TOTAL] == "2 (67%)"
    assert table.loc["Sex: Male", 2] == "0"


def test_a_dlt_flag_counts_days_before_day_1_back_from_minus_1():
    """The DLT rules use the same time base: an event the day before day 1 has onset day -1
    (not 0) and is outside the 21-day DLT window (days 1 to 21); one on day 1 is inside."""
    from ecrf.safety.dlt import EventFacts, evaluate_event

    def flag(onset):
        facts = EventFacts("e", "Fatigue", 3, onset, None, {"IL2": "probable"})
        return evaluate_event(
            facts, first_dose_on=DAY1.date(), cutoff=DAY1.date() + pd.Timedelta(days=60)
        )

    before = flag(DAY1.date() - pd.Timedelta(days=1))
    assert before.onset_day == -1 and before.rule == "outside_window"
    assert "onset day -1" in before.reason
    assert flag(DAY1.date()).onset_day == 1
