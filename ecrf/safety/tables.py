"""The tables of the safety summary, as pandas frames computed from plain frames (no ORM).

Every table has one column per dose level, in escalation order, plus a total. Counts are
subjects: a subject is counted once per row, at their worst grade for that row (CTCAE v5.0,
"Grades" in the introduction: each adverse event term is graded 1 to 5; the summary reports the
highest grade a subject had). Percentages are of the subjects in the column's population, rounded
half up to whole percent.

The input frames (see ``ecrf.reports.safety.load_safety_frames``) hold only data on or before
the cutoff and no record marked entered-in-error:

- ``levels``: level (int, escalation order), label
- ``agents``: agent (code), name, unit
- ``subjects``: subject_code, site, level (float, NaN when not enrolled), status, sex,
  birth_year, consent_on, enrolled_on, treatment_end_on, treatment_end_reason, off_study_on
  (datetime64, NaT when after the cutoff or missing), off_study_reason; first_dose_on, the
  date of study day 1 (the first dose of cycle 1, the time base: kept when it is after the
  cutoff, so a subject in the lead-in has study days too); first_dosed_on and last_dosed_on,
  the first and last dose given of any agent by the cutoff (NaT when none);
  dose_planned_after_cutoff (a cycle visit still planned after the cutoff)
- ``doses``: subject_code, agent, given_on, cycle, planned_dose, given_dose, adverse_event_id
- ``events``: event_id, subject_code, term, soc, verbatim, grade, onset_on, resolved_on,
  serious, the six ICH E2A criteria (``sae_*`` booleans), outcome, death_on
- ``attributions``: event_id, agent, attribution, action_taken
- ``labs``: subject_code, test, unit, value, lln, uln, collected_at, collected_on, term (the
  CTCAE term the result was graded with, "" at grade 0), grade (float, NaN for tests CTCAE
  does not grade)
- ``dlt_subjects``: subject_code, level, evaluable, has_dlt;
  ``dlt_events``: subject_code, level, term, grade, onset_day, rule, status, reason
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..ctcae.labs import FRAME_COLUMNS as LAB_FRAME_COLUMNS
from ..ctcae.labs import LAB_TESTS, GradingError, grade_labs
from . import consistency as c

TOTAL = "Total"

# The attributions that make an event treatment-related: possible, probable or definite for any
# study agent (the usual 5-point scale; the definition of "treatment-related").
RELATED_ATTRIBUTIONS = frozenset({"possible", "probable", "definite"})
# Actions taken on a study agent that change its dose.
DOSE_CHANGE_ACTIONS = frozenset({"reduced", "interrupted", "withdrawn"})

GRADE_BANDS = ("Grade 1-2", "Grade 3", "Grade 4", "Grade 5")
ANY_GRADE = "Any grade"
_BAND_OF_GRADE = {1: "Grade 1-2", 2: "Grade 1-2", 3: "Grade 3", 4: "Grade 4", 5: "Grade 5"}
ANY_EVENT = "Any adverse event"

# The tests of the two panels the shift tables cover, in the order a lab report lists them
# (DESIGN.md test codes; the panels of the lab entry grid).
HAEMATOLOGY_TESTS = ("NEUT", "PLAT", "WBC", "LYM", "HGB")
CHEMISTRY_TESTS = (
    "ALT", "AST", "BILI", "ALP", "GGT", "CREAT", "CK", "LIPASE", "AMYLASE",
    "GLUC", "K", "SODIUM", "CA", "MG", "ALB", "CHOL", "TRIG", "INR",
)  # fmt: skip
LAB_GRADES = (0, 1, 2, 3, 4)
MISSING = "Missing"

OVERVIEW_ROWS = (
    "Any adverse event",
    "Grade 3 or more",
    "Serious",
    "Treatment-related",
    "Leading to a dose change",
    "Fatal",
)


# --- Columns and counting ---------------------------------------------------------------------


def level_keys(levels: pd.DataFrame) -> list[int]:
    """The dose levels in escalation order."""
    return [int(value) for value in levels.sort_values("level")["level"]]


def treated(subjects: pd.DataFrame) -> pd.DataFrame:
    """The safety population: subjects enrolled at a dose level who received any dose of any
    agent by the cutoff, lead-in included (a subject ten days into a cyclophosphamide lead-in is
    treated, and their adverse events count)."""
    return subjects[subjects["level"].notna() & subjects["first_dosed_on"].notna()]


def enrolled(subjects: pd.DataFrame) -> pd.DataFrame:
    return subjects[subjects["level"].notna() & subjects["enrolled_on"].notna()]


def column_sizes(population: pd.DataFrame, levels: list[int]) -> pd.Series:
    """Subjects per dose level and in total: the denominators of a table's percentages."""
    sizes = population.groupby("level")["subject_code"].nunique()
    sizes.index = sizes.index.astype(int)
    sizes = sizes.reindex(levels, fill_value=0)
    sizes[TOTAL] = population["subject_code"].nunique()
    return sizes.astype(int)


def count_subjects(rows: pd.DataFrame, keys: list[str], levels: list[int]) -> pd.DataFrame:
    """Distinct subjects per row key and dose level, with a total column.

    `rows` has the `keys` columns, `level` and `subject_code`; the result is indexed by the keys
    and has one int column per level plus TOTAL.
    """
    columns = [*levels, TOTAL]
    if rows.empty:
        index = (
            pd.MultiIndex.from_arrays([[] for _ in keys], names=keys)
            if len(keys) > 1
            else (pd.Index([], name=keys[0]))
        )
        return pd.DataFrame(0, index=index, columns=columns, dtype=int)
    per_level = (
        rows.groupby([*keys, "level"])["subject_code"].nunique().unstack("level", fill_value=0)
    )
    per_level.columns = [int(c) for c in per_level.columns]
    per_level = per_level.reindex(columns=levels, fill_value=0)
    per_level[TOTAL] = rows.groupby(keys)["subject_code"].nunique()
    return per_level.fillna(0).astype(int)


def percent(count: pd.Series | pd.DataFrame, size) -> pd.Series | pd.DataFrame:
    """Whole percent, rounded half up (12.5 -> 13), 0 where the denominator is 0."""
    with np.errstate(divide="ignore", invalid="ignore"):
        value = np.floor(np.asarray(count, dtype=float) * 100 / size + 0.5)
    value = np.where(np.isfinite(value), value, 0).astype(int)
    if isinstance(count, pd.Series | pd.DataFrame):
        return count.__class__(
            value,
            index=count.index,
            **({"columns": count.columns} if isinstance(count, pd.DataFrame) else {}),
        )
    return int(value)


def n_percent(counts: pd.DataFrame, sizes: pd.Series, *, zero: str = "0") -> pd.DataFrame:
    """Counts as text "n (p%)" per column, percent of that column's size; zero as `zero`."""
    shown = pd.DataFrame(index=counts.index)
    for column in counts.columns:
        count = counts[column]
        pct = percent(count, sizes[column])
        shown[column] = np.where(
            count == 0, zero, count.astype(str) + " (" + pct.astype(str) + "%)"
        )
    return shown


# --- Disposition, demographics and each subject's course -------------------------------------

SCREENED = "Screened"
SCREEN_FAILED = "Screen failed"
DISPOSITION_ROWS = (
    "Enrolled",
    "Treated (safety population)",
    "DLT-evaluable",
    "On treatment",
    "Completed treatment",
    "Discontinued treatment",
    "End of treatment not recorded",
    "Off study",
    "Died",
)
# Rows that count subjects before a dose level is given to them: only the Total column has them.
SCREENING_ROWS = (SCREENED, SCREEN_FAILED)

# A subject's status at the cutoff, in the order that decides it when several apply.
STATUS_DIED = "died"
STATUS_OFF_STUDY = "off_study"
STATUS_DISCONTINUED = "discontinued"
STATUS_COMPLETED = "completed"
STATUS_ON_TREATMENT = "on_treatment"
STATUS_END_NOT_RECORDED = "end_not_recorded"
STATUS_LABELS = {
    STATUS_DIED: "Died",
    STATUS_OFF_STUDY: "Off study",
    STATUS_DISCONTINUED: "Discontinued treatment",
    STATUS_COMPLETED: "Completed treatment",
    STATUS_ON_TREATMENT: "On treatment",
    STATUS_END_NOT_RECORDED: "End of treatment not recorded",
}
COMPLETED_REASON = "completed"


def death_dates(events: pd.DataFrame) -> pd.Series:
    """Per subject, the date of death: the earliest date of death recorded on an event, else the
    onset of a grade 5 or fatal event (an event with a fatal outcome and no date of death)."""
    fatal = events[
        events["death_on"].notna() | (events["grade"] == 5) | (events["outcome"] == "fatal")
    ]
    day = fatal["death_on"].fillna(fatal["onset_on"])
    return day.groupby(fatal["subject_code"]).min()


def subject_course(subjects: pd.DataFrame, events: pd.DataFrame) -> pd.DataFrame:
    """Each treated subject's course at the cutoff: first and last dose of any agent as study
    days (day 1 = first dose of cycle 1, the lead-in counted back with no day 0), the end of
    treatment, off study and death days, the status and whether treatment is ongoing.

    Ongoing means a dose is still planned after the cutoff (a planned cycle visit after it) and
    the subject has not ended treatment, left the study or died. The status is the first that
    applies of: died, off study, discontinued treatment, completed treatment, on treatment
    (ongoing), and "end of treatment not recorded" for a subject with no dose planned after
    the cutoff and no end of treatment on record.
    """
    population = treated(subjects).copy()
    died_on = pd.to_datetime(population["subject_code"].map(death_dates(events).to_dict()))
    day1 = population["first_dose_on"]
    ended = population["treatment_end_on"].notna()
    off = population["off_study_on"].notna()
    died = died_on.notna()
    discontinued = ended & (population["treatment_end_reason"] != COMPLETED_REASON)
    ongoing = population["dose_planned_after_cutoff"].astype(bool) & ~ended & ~off & ~died
    status = np.select(
        [died, off, discontinued, ended, ongoing],
        [STATUS_DIED, STATUS_OFF_STUDY, STATUS_DISCONTINUED, STATUS_COMPLETED,
         STATUS_ON_TREATMENT],
        default=STATUS_END_NOT_RECORDED,
    )  # fmt: skip
    return (
        pd.DataFrame(
            {
                "subject_code": population["subject_code"].astype(str),
                "level": population["level"].astype(int),
                "first_dosed_on": population["first_dosed_on"],
                "last_dosed_on": population["last_dosed_on"],
                "first_dose_day": study_day(population["first_dosed_on"], day1),
                "last_dose_day": study_day(population["last_dosed_on"], day1),
                "treatment_end_day": study_day(population["treatment_end_on"], day1),
                "treatment_end_reason": population["treatment_end_reason"].fillna(""),
                "off_study_day": study_day(population["off_study_on"], day1),
                "off_study_reason": population["off_study_reason"].fillna(""),
                "death_on": died_on,
                "death_day": study_day(died_on, day1),
                "status": status,
                "ongoing": ongoing.to_numpy(dtype=bool),
            }
        )
        .sort_values(["level", "subject_code"])
        .reset_index(drop=True)
    )


def disposition(
    subjects: pd.DataFrame,
    dlt_subjects: pd.DataFrame,
    course: pd.DataFrame,
    levels: list[int],
    reason_labels: dict[str, str],
) -> pd.DataFrame:
    """Subjects screened, screen failed, enrolled, treated, DLT-evaluable, on treatment,
    completed, discontinued (by reason), end of treatment not recorded, off study (by reason)
    and died, per dose level: counts, indexed by row label. Screened and screen-failed subjects
    have no dose level yet, so they count in the Total column only.

    Every row but "On treatment" and "End of treatment not recorded" rests on a dated fact on
    or before the cutoff: a first dose, an end of treatment, an off-study date, a death.
    """
    base = enrolled(subjects)
    evaluable = dlt_subjects.loc[dlt_subjects["evaluable"].astype(bool), "subject_code"]
    by_status = {status: course[course["status"] == status] for status in STATUS_LABELS}
    ended = course[course["treatment_end_day"].notna()]
    discontinued = ended[ended["treatment_end_reason"] != COMPLETED_REASON]
    groups = {
        "Enrolled": base,
        "Treated (safety population)": course,
        "DLT-evaluable": course[course["subject_code"].isin(evaluable)],
        "On treatment": by_status[STATUS_ON_TREATMENT],
        "Completed treatment": ended[ended["treatment_end_reason"] == COMPLETED_REASON],
        "Discontinued treatment": discontinued,
        "End of treatment not recorded": by_status[STATUS_END_NOT_RECORDED],
        "Off study": course[course["off_study_day"].notna()],
        "Died": course[course["death_day"].notna()],
    }
    parts = [
        frame.assign(row=name)[["row", "level", "subject_code"]] for name, frame in groups.items()
    ]
    reason_rows = discontinued.assign(
        row="Discontinued: " + discontinued["treatment_end_reason"].map(reason_labels).fillna("")
    )
    off = course[course["off_study_day"].notna()]
    off_rows = off.assign(row="Off study: " + off["off_study_reason"])
    parts += [
        reason_rows[["row", "level", "subject_code"]],
        off_rows[["row", "level", "subject_code"]],
    ]
    counts = count_subjects(pd.concat(parts), ["row"], levels)
    screening = pd.DataFrame(0, index=list(SCREENING_ROWS), columns=counts.columns)
    screening.loc[SCREENED, TOTAL] = len(subjects)
    screening.loc[SCREEN_FAILED, TOTAL] = int((subjects["status"] == "screen_failed").sum())
    discontinued_reasons = sorted(r for r in counts.index if r.startswith("Discontinued: "))
    off_reasons = sorted(r for r in counts.index if r.startswith("Off study: "))
    order = [*DISPOSITION_ROWS[:6], *discontinued_reasons, *DISPOSITION_ROWS[6:8], *off_reasons,
             DISPOSITION_ROWS[8]]  # fmt: skip
    return pd.concat([screening, counts.reindex(order, fill_value=0)]).astype(int)


SEX_LABELS = {"F": "Female", "M": "Male", "U": "Unknown"}


def demographics(population: pd.DataFrame, levels: list[int]) -> pd.DataFrame:
    """Age at consent (years: consent year minus birth year, as only the birth year is
    recorded) as median (range) and sex as n (%) of the treated subjects, per dose level."""
    columns = [*levels, TOTAL]
    sizes = column_sizes(population, levels)
    age = population["consent_on"].dt.year - population["birth_year"]
    members = {level: population["level"] == level for level in levels}
    members[TOTAL] = pd.Series(True, index=population.index)
    rows = {"Age, years, median (range)": {c: _median_range(age[members[c]]) for c in columns}}
    for code, label in SEX_LABELS.items():
        counts = {c: int((population["sex"][members[c]] == code).sum()) for c in columns}
        rows[f"Sex: {label}"] = {
            c: f"{n} ({percent(n, sizes[c])}%)" if n else "0" for c, n in counts.items()
        }
    return pd.DataFrame.from_dict(rows, orient="index", columns=columns)


def treatment_emergent(
    events: pd.DataFrame, subjects: pd.DataFrame, follow_up_days: int
) -> pd.Series:
    """Whether each event is treatment-emergent: onset from the subject's first dose of any
    agent to the last dose plus the study's follow-up days (both ends included). Events of
    subjects never dosed are not."""
    span = events[["subject_code"]].merge(
        subjects[["subject_code", "first_dosed_on", "last_dosed_on"]], on="subject_code", how="left"
    )
    first = pd.to_datetime(span["first_dosed_on"]).set_axis(events.index)
    end = pd.to_datetime(span["last_dosed_on"]).set_axis(events.index) + pd.Timedelta(
        days=follow_up_days
    )
    return (events["onset_on"] >= first) & (events["onset_on"] <= end)


def outside_window_listing(
    events: pd.DataFrame, population: pd.DataFrame, emergent: pd.Series, follow_up_days: int
) -> pd.DataFrame:
    """The treated subjects' events that are not treatment-emergent, with the reason: onset
    before the first dose, or more than `follow_up_days` after the last."""
    frame = events[~emergent.reindex(events.index, fill_value=False)].merge(
        population[["subject_code", "level", "first_dose_on", "first_dosed_on", "last_dosed_on"]],
        on="subject_code",
    )
    before = frame["onset_on"] < frame["first_dosed_on"]
    after_days = (frame["onset_on"] - frame["last_dosed_on"]).dt.days
    why = np.where(
        before,
        "onset before the first dose",
        "onset " + after_days.astype("Int64").astype(str) + f" days after the last dose "
        f"(window: {follow_up_days} days)",
    )
    return (
        frame.assign(onset_day=study_day(frame["onset_on"], frame["first_dose_on"]), why=why)
        .sort_values(["subject_code", "onset_on", "term"])
        .reset_index(drop=True)
    )


# --- Exposure -------------------------------------------------------------------------------


def exposure_by_subject(doses: pd.DataFrame, population: pd.DataFrame) -> pd.DataFrame:
    """Per treated subject and agent: cycles started, doses planned and given (records and
    amounts), relative dose intensity, reductions and interruptions.

    Relative dose intensity is the total dose given over the total dose planned in the recorded
    administrations, in percent. A reduction is a dose given above 0 and below the plan; an
    interruption a planned dose not given (given 0).
    """
    frame = doses.merge(population[["subject_code", "level"]], on="subject_code")
    frame = frame.assign(
        planned=frame["planned_dose"] > 0,
        given=frame["given_dose"] > 0,
        reduced=(frame["given_dose"] > 0) & (frame["given_dose"] < frame["planned_dose"]),
        interrupted=(frame["given_dose"] == 0) & (frame["planned_dose"] > 0),
        cycle_given=frame["cycle"].where(frame["given_dose"] > 0),
    )
    per = frame.groupby(["subject_code", "level", "agent"]).agg(
        cycles_started=("cycle_given", "nunique"),
        doses_planned=("planned", "sum"),
        doses_given=("given", "sum"),
        dose_planned=("planned_dose", "sum"),
        dose_given=("given_dose", "sum"),
        reductions=("reduced", "sum"),
        interruptions=("interrupted", "sum"),
    )
    with np.errstate(divide="ignore", invalid="ignore"):
        per["rdi_pct"] = (per["dose_given"] * 100 / per["dose_planned"]).where(
            per["dose_planned"] > 0
        )
    return per.reset_index()


def _median_range(values: pd.Series, digits: int = 0) -> str:
    values = values.dropna()
    if values.empty:
        return "-"

    def fmt(value: float) -> str:
        return f"{value:.{digits}f}"

    return f"{fmt(values.median())} ({fmt(values.min())}-{fmt(values.max())})"


EXPOSURE_MEASURES = (
    "Subjects dosed",
    "Cycles started, median (range)",
    "Doses planned",
    "Doses given",
    "Total dose planned",
    "Total dose given",
    "Relative dose intensity %, median (range)",
    "Subjects with a dose reduction",
    "Subjects with an interruption",
)


def exposure(
    doses: pd.DataFrame, population: pd.DataFrame, agents: pd.DataFrame, levels: list[int]
) -> pd.DataFrame:
    """The exposure table per agent (rows agent x measure) as text, per dose level and total."""
    per = exposure_by_subject(doses, population)
    sizes = column_sizes(population, levels)
    both = pd.concat([per, per.assign(level=TOTAL)])
    both["level"] = both["level"].map(lambda v: v if v == TOTAL else int(v))
    grouped = both.groupby(["agent", "level"])
    stats = pd.DataFrame(
        {
            "Subjects dosed": grouped["doses_given"].apply(lambda s: int((s > 0).sum())),
            "Cycles started, median (range)": grouped["cycles_started"].apply(_median_range),
            "Doses planned": grouped["doses_planned"].sum().astype(int),
            "Doses given": grouped["doses_given"].sum().astype(int),
            "Total dose planned": grouped["dose_planned"].sum().map(_amount),
            "Total dose given": grouped["dose_given"].sum().map(_amount),
            "Relative dose intensity %, median (range)": grouped["rdi_pct"].apply(_median_range),
            "Subjects with a dose reduction": grouped["reductions"].apply(
                lambda s: int((s > 0).sum())
            ),
            "Subjects with an interruption": grouped["interruptions"].apply(
                lambda s: int((s > 0).sum())
            ),
        }
    )
    columns = [*levels, TOTAL]
    counted = ("Subjects dosed", "Subjects with a dose reduction", "Subjects with an interruption")
    rows = []
    units = dict(zip(agents["agent"], agents["unit"], strict=True))
    names = dict(zip(agents["agent"], agents["name"], strict=True))
    for agent in agents["agent"]:
        for measure in EXPOSURE_MEASURES:
            label = measure
            if measure.startswith("Total dose"):
                label = f"{measure} ({units[agent]})"
            values = {}
            for column in columns:
                key = (agent, column)
                if key not in stats.index:
                    values[column] = "0" if measure in counted or "Doses" in measure else "-"
                    continue
                value = stats.at[key, measure]
                if measure in counted and value:
                    value = f"{value} ({percent(value, sizes[column])}%)"
                values[column] = str(value)
            rows.append({"agent": names[agent], "measure": label, **values})
    return pd.DataFrame(rows, columns=["agent", "measure", *columns])


def _amount(value: float) -> str:
    return f"{value:,.3f}".rstrip("0").rstrip(".")


# --- Adverse events -------------------------------------------------------------------------


def related_event_ids(attributions: pd.DataFrame) -> pd.Index:
    """Events at least possibly related to any study agent."""
    related = attributions[attributions["attribution"].isin(RELATED_ATTRIBUTIONS)]
    return pd.Index(related["event_id"].unique())


def events_of_population(events: pd.DataFrame, population: pd.DataFrame) -> pd.DataFrame:
    """The events of the treated subjects, with their dose level."""
    return events.merge(population[["subject_code", "level"]], on="subject_code")


def ae_overview(
    events: pd.DataFrame,
    attributions: pd.DataFrame,
    doses: pd.DataFrame,
    population: pd.DataFrame,
    levels: list[int],
) -> pd.DataFrame:
    """Subjects with any AE, grade 3 or more, serious, treatment-related, leading to a dose
    change (action reduced, interrupted or withdrawn for an agent, or a dose record citing the
    event) and fatal (grade 5, or a fatal outcome)."""
    frame = events_of_population(events, population)
    changed = set(
        attributions.loc[attributions["action_taken"].isin(DOSE_CHANGE_ACTIONS), "event_id"]
    ) | set(doses["adverse_event_id"].dropna())
    masks = {
        "Any adverse event": pd.Series(True, index=frame.index),
        "Grade 3 or more": frame["grade"] >= 3,
        "Serious": frame["serious"].astype(bool),
        "Treatment-related": frame["event_id"].isin(related_event_ids(attributions)),
        "Leading to a dose change": frame["event_id"].isin(changed),
        "Fatal": (frame["grade"] == 5) | (frame["outcome"] == "fatal"),
    }
    rows = pd.concat(
        [
            frame.loc[mask, ["level", "subject_code"]].assign(row=name)
            for name, mask in masks.items()
        ]
    )
    return count_subjects(rows, ["row"], levels).reindex(list(OVERVIEW_ROWS), fill_value=0)


def worst_grade_by_term(
    events: pd.DataFrame, population: pd.DataFrame, levels: list[int]
) -> pd.DataFrame:
    """Subjects by SOC and term at their worst grade (1-2, 3, 4, 5) and at any grade.

    Indexed by (soc, term): a row ("", ANY_EVENT) first, then each SOC row (term "") followed by
    its terms; SOCs and terms in decreasing order of subjects at any grade, then by name.
    Columns are a MultiIndex (dose level or TOTAL, grade band or ANY_GRADE) of int counts.
    """
    frame = events_of_population(events, population)
    columns = pd.MultiIndex.from_product([[*levels, TOTAL], [*GRADE_BANDS, ANY_GRADE]])
    if frame.empty:
        return pd.DataFrame(
            0,
            index=pd.MultiIndex.from_tuples([("", ANY_EVENT)], names=["soc", "term"]),
            columns=columns,
        )
    term_rows = frame.groupby(["subject_code", "level", "soc", "term"], as_index=False)[
        "grade"
    ].max()
    soc_rows = frame.groupby(["subject_code", "level", "soc"], as_index=False)["grade"].max()
    soc_rows["term"] = ""
    any_rows = frame.groupby(["subject_code", "level"], as_index=False)["grade"].max()
    any_rows["soc"], any_rows["term"] = "", ANY_EVENT
    rows = pd.concat([any_rows, soc_rows, term_rows], ignore_index=True)
    rows["band"] = rows["grade"].map(_BAND_OF_GRADE)
    counts = count_subjects(rows, ["soc", "term", "band"], levels)
    table = counts.unstack("band", fill_value=0)
    table = table.reindex(
        columns=pd.MultiIndex.from_product([[*levels, TOTAL], GRADE_BANDS]), fill_value=0
    )
    for column in [*levels, TOTAL]:
        table[(column, ANY_GRADE)] = table.loc[:, [(column, band) for band in GRADE_BANDS]].sum(
            axis=1
        )
    table = table.reindex(columns=columns)
    # Order: the any-event row, then SOCs by frequency, each followed by its terms by frequency.
    order = table[(TOTAL, ANY_GRADE)].rename("n").reset_index()
    soc_n = order.loc[order["term"] == "", ["soc", "n"]].rename(columns={"n": "soc_n"})
    order = order.merge(soc_n, on="soc", how="left")
    order["is_any"] = order["term"] == ANY_EVENT
    order["is_soc"] = order["term"] == ""
    order = order.sort_values(
        ["is_any", "soc_n", "soc", "is_soc", "n", "term"],
        ascending=[False, False, True, False, False, True],
    )
    table = table.reindex(pd.MultiIndex.from_frame(order[["soc", "term"]]))
    return table.astype(int)


AE_ROW_COLUMNS = ("soc", "term", "level", "all_grades", "grade_3_plus")


def ae_term_rows(table: pd.DataFrame) -> pd.DataFrame:
    """A worst-grade table (`worst_grade_by_term`) in long form, for the JSON twin and the PDF:
    per row of the table (the any-event row: soc "", term ANY_EVENT; a SOC row: term "") and
    column (dose level or TOTAL), the subjects at any grade and at grade 3 or more.

    A subject's worst grade is 3 or more exactly when they had an event of grade 3, 4 or 5 in
    the row (CTCAE v5.0 grades 3-5: severe, life-threatening, death). Rows keep the table's
    order, columns its order (escalation order, TOTAL last).
    """
    parts = []
    columns = list(dict.fromkeys(column for column, _ in table.columns))
    for column in columns:
        parts.append(
            pd.DataFrame(
                {
                    "soc": table.index.get_level_values("soc"),
                    "term": table.index.get_level_values("term"),
                    "level": [column] * len(table),
                    "all_grades": table[(column, ANY_GRADE)].to_numpy(dtype=int),
                    "grade_3_plus": table.loc[
                        :, [(column, band) for band in ("Grade 3", "Grade 4", "Grade 5")]
                    ]
                    .sum(axis=1)
                    .to_numpy(dtype=int),
                    "row": np.arange(len(table)),
                }
            )
        )
    rows = pd.concat(parts, ignore_index=True).sort_values("row", kind="stable")
    rows["level"] = rows["level"].astype(object)
    return rows[list(AE_ROW_COLUMNS)].reset_index(drop=True)


# --- Listings -------------------------------------------------------------------------------

SERIOUSNESS_LABELS = {
    "sae_death": "death",
    "sae_life_threatening": "life-threatening",
    "sae_hospitalisation": "hospitalisation",
    "sae_disability": "disability",
    "sae_congenital_anomaly": "congenital anomaly",
    "sae_important_medical_event": "important medical event",
}


def study_day(dates: pd.Series, first_dose: pd.Series) -> pd.Series:
    """Study day of each date: day 1 is the first dose, the day before it day -1 (no day 0)."""
    offset = (dates - first_dose).dt.days
    return offset.where(offset < 0, offset + 1).astype("Int64")


def related_agents(attributions: pd.DataFrame) -> pd.Series:
    """Per event, the agents it is at least possibly related to, e.g. "IL2 (probable), IM
    (possible)"; events related to none are absent."""
    related = attributions[attributions["attribution"].isin(RELATED_ATTRIBUTIONS)]
    related = related.sort_values(["event_id", "agent"])
    text = related["agent"] + " (" + related["attribution"] + ")"
    return text.groupby(related["event_id"]).agg(", ".join)


def sae_listing(
    events: pd.DataFrame, attributions: pd.DataFrame, population: pd.DataFrame
) -> pd.DataFrame:
    """Every serious adverse event of a treated subject, by subject and onset."""
    frame = events[events["serious"].astype(bool)].merge(
        population[["subject_code", "level", "first_dose_on"]], on="subject_code"
    )
    # A boolean frame times a row of "label, " texts: each row's true criteria, joined.
    flags = frame[list(SERIOUSNESS_LABELS)].astype(bool)
    labels = pd.Series([f"{label}, " for label in SERIOUSNESS_LABELS.values()], index=flags.columns)
    criteria = flags.dot(labels) if len(flags) else pd.Series("", index=frame.index, dtype=object)
    criteria = criteria.astype(str).str.removesuffix(", ")
    frame = frame.assign(
        criteria=criteria,
        onset_day=study_day(frame["onset_on"], frame["first_dose_on"]),
        related=frame["event_id"]
        .map(related_agents(attributions[attributions["event_id"].isin(frame["event_id"])]))
        .fillna("not related"),
    )
    return frame.sort_values(["subject_code", "onset_on", "term"]).reset_index(drop=True)


def _resolution(frame: pd.DataFrame) -> pd.Series:
    """ "YYYY-MM-DD (day n)" of each event's resolution, or "ongoing"."""
    day = study_day(frame["resolved_on"], frame["first_dose_on"])
    text = frame["resolved_on"].dt.strftime("%Y-%m-%d") + " (day " + day.astype(str) + ")"
    return text.astype(object).where(frame["resolved_on"].notna(), "ongoing")


def _events_listed(
    events: pd.DataFrame, attributions: pd.DataFrame, population: pd.DataFrame
) -> pd.DataFrame:
    """`events` of the treated subjects with their level, onset day, resolution and the agents
    they are related to, by subject and onset."""
    frame = events.merge(population[["subject_code", "level", "first_dose_on"]], on="subject_code")
    related = related_agents(attributions[attributions["event_id"].isin(frame["event_id"])])
    frame = frame.assign(
        onset_day=study_day(frame["onset_on"], frame["first_dose_on"]),
        resolution=_resolution(frame),
        related=frame["event_id"].map(related).astype(object).fillna("not related"),
    )
    return frame.sort_values(["subject_code", "onset_on", "term"]).reset_index(drop=True)


def grade_3_listing(
    events: pd.DataFrame, attributions: pd.DataFrame, population: pd.DataFrame
) -> pd.DataFrame:
    """Every adverse event of grade 3 or more (CTCAE v5.0 severe, life-threatening or fatal)
    of a treated subject, by subject and onset: the event's columns plus level, onset_day,
    resolution ("ongoing" when not resolved) and related (the agents it is at least possibly
    related to)."""
    return _events_listed(events[events["grade"] >= 3], attributions, population)


def treatment_ended_for_ae(subjects: pd.DataFrame) -> pd.Series:
    """The end-of-treatment dates of the subjects whose treatment ended because of an adverse
    event (the reason recorded with the end of treatment), indexed by subject code."""
    ended = subjects[
        (subjects["treatment_end_reason"] == "adverse_event") & subjects["treatment_end_on"].notna()
    ]
    return pd.Series(ended["treatment_end_on"].to_numpy(), index=ended["subject_code"].to_numpy())


def discontinuation_listing(
    events: pd.DataFrame,
    attributions: pd.DataFrame,
    population: pd.DataFrame,
    ended_for_ae: pd.Series | None = None,
) -> pd.DataFrame:
    """Adverse events that led to discontinuation: an event whose action taken is "withdrawn"
    for any agent, and, for a subject whose treatment ended because of an adverse event
    (`ended_for_ae`: their end dates, indexed by subject code), the events ongoing on that date
    (onset on or before it, not resolved before it), or else their last event before it.

    Columns of `grade_3_listing` plus `withdrawn` (the agents withdrawn for the event, e.g.
    "IL2, IM"; "treatment ended" for an event listed for the end of treatment).
    """
    withdrawn = attributions[attributions["action_taken"] == "withdrawn"].sort_values("agent")
    agents = withdrawn.groupby("event_id")["agent"].agg(", ".join)
    extra = pd.Index([])
    if ended_for_ae is not None and len(ended_for_ae):
        ended = events.merge(
            ended_for_ae.rename("ended_on"), left_on="subject_code", right_index=True
        )
        ended = ended[ended["onset_on"] <= ended["ended_on"]]
        ongoing = ended[ended["resolved_on"].isna() | (ended["resolved_on"] >= ended["ended_on"])]
        latest = (
            ended[~ended["subject_code"].isin(ongoing["subject_code"])]
            .sort_values("onset_on")
            .drop_duplicates("subject_code", keep="last")
        )
        extra = pd.Index(pd.concat([ongoing, latest])["event_id"]).difference(agents.index)
    chosen = events[events["event_id"].isin(agents.index) | events["event_id"].isin(extra)]
    listed = _events_listed(chosen, attributions, population)
    withdrawn_agents = listed["event_id"].map(agents).astype(object)
    return listed.assign(withdrawn=withdrawn_agents.fillna("treatment ended"))


def attribution_text(attributions: pd.DataFrame) -> pd.Series:
    """Per event, its attribution to every agent, e.g. "CTX unrelated, IL2 probable, IM
    possible"."""
    ordered = attributions.sort_values(["event_id", "agent"])
    text = ordered["agent"] + " " + ordered["attribution"]
    return text.groupby(ordered["event_id"]).agg(", ".join)


def deaths(
    events: pd.DataFrame,
    population: pd.DataFrame,
    doses: pd.DataFrame,
    attributions: pd.DataFrame,
) -> pd.DataFrame:
    """Subjects who died (an event with a date of death, grade 5 or a fatal outcome): the first
    such event per subject, with the date and study day of death, the last dose of any agent
    given on or before it (`last_dose_on`) and the days from it to death
    (`days_since_last_dose`: death the day after the last dose is 1), and the fatal event's
    attribution to each agent (`attribution`)."""
    fatal = events[
        events["death_on"].notna() | (events["grade"] == 5) | (events["outcome"] == "fatal")
    ].merge(population[["subject_code", "level", "first_dose_on"]], on="subject_code")
    fatal = fatal.sort_values(["subject_code", "death_on", "onset_on"]).drop_duplicates(
        "subject_code"
    )
    given = doses[(doses["given_dose"] > 0) & doses["subject_code"].isin(fatal["subject_code"])]
    given = given.merge(fatal[["subject_code", "death_on"]], on="subject_code")
    given = given[given["death_on"].isna() | (given["given_on"] <= given["death_on"])]
    last = given.groupby("subject_code", as_index=False)["given_on"].max()
    fatal = fatal.merge(
        last.rename(columns={"given_on": "last_dose_on"}), on="subject_code", how="left"
    )
    return fatal.assign(
        death_day=study_day(fatal["death_on"], fatal["first_dose_on"]),
        days_since_last_dose=(fatal["death_on"] - fatal["last_dose_on"]).dt.days.astype("Int64"),
        attribution=fatal["event_id"]
        .map(attribution_text(attributions[attributions["event_id"].isin(fatal["event_id"])]))
        .astype(object)
        .fillna("not assessed"),
    ).reset_index(drop=True)


# --- Lab shifts -----------------------------------------------------------------------------

LOW, HIGH = "low", "high"
# The footnote marker of a shift cell holding a subject whose grade the baseline changed.
BASELINE_MARK = "†"
SHIFT_ROW_COLUMNS = (
    "test", "direction", "term", "level", "level_subjects", "baseline_grade", "worst_grade",
    "subjects", "against_baseline",
)  # fmt: skip


def shift_blocks(tests: tuple[str, ...]) -> list[tuple[str, str, str]]:
    """(test, direction, CTCAE term) of each shift block, in the order of `tests`: "low" for the
    decreased / hypo term, "high" for the increased / hyper term (CTCAE v5.0 lab terms as
    ``ecrf.ctcae.labs`` grades them; a term a value alone cannot grade, such as
    Hyperglycemia, has no block)."""
    blocks = []
    for test in tests:
        spec = LAB_TESTS.get(test)
        if spec is None:
            continue
        if spec.low_term:
            blocks.append((test, LOW, spec.low_term))
        if spec.high_term:
            blocks.append((test, HIGH, spec.high_term))
    return blocks


def _baseline_decided_term(results: pd.DataFrame) -> pd.Series:
    """The CTCAE term of each result whose grade depends on the subject's baseline value, ""
    for the others.

    CTCAE v5.0 grades ALT, AST, ALP, GGT and bilirubin against baseline when the baseline was
    abnormal, creatinine against baseline as well as ULN, and haemoglobin increased above an
    abnormal baseline. No flag of it is stored (``ecrf.services.labs`` grades with the baseline
    and keeps the term and grade), so the result is graded again without its baseline: where the
    two grades differ, the baseline decided, in the direction of the term it was graded with (or
    would have been without the baseline, when the baseline made it grade 0). `results` has the
    columns of ``grade_labs``, `baseline` being the subject's baseline value (NaN when none).
    """
    decided = pd.Series("", index=results.index, dtype=object)
    uses = results["test"].isin([code for code, spec in LAB_TESTS.items() if spec.uses_baseline])
    rows = results[uses & results["baseline"].notna()]
    if rows.empty:
        return decided
    inputs = rows[list(LAB_FRAME_COLUMNS)]
    try:
        with_base = grade_labs(inputs)
        without = grade_labs(inputs.assign(baseline=np.nan))
    except GradingError:  # a stored result the grader refuses now: no mark rather than no table
        return decided
    changed = with_base["grade"] != without["grade"]
    term = with_base["term"].fillna(without["term"]).fillna("")
    decided[rows.index] = term.where(changed, "").to_numpy()
    return decided


def lab_shift_subjects(
    labs: pd.DataFrame, population: pd.DataFrame, tests: tuple[str, ...]
) -> pd.DataFrame:
    """Per treated subject, test and direction: the baseline grade and the worst grade after
    the first dose, in that direction only.

    Baseline is the last graded result on or before the first dose date (as the grading rules
    define it, docs/ctcae.md); post-baseline results are those after the first dose date. A
    subject belongs to a test's blocks when they have a graded result after the first dose. In
    the "low" block a result graded with the high term (or normal) is grade 0, and the other
    way round: a subject going from lymphocyte count increased grade 2 to decreased grade 2 is
    2 -> 0 in the high block and 0 -> 2 in the low block. `against_baseline` says whether any
    result after the first dose in that direction had its grade decided by the baseline value.

    Columns: subject_code, level, test, direction, term, baseline_grade (float, NaN when no
    baseline result), worst_grade (int), against_baseline (bool).
    """
    columns = ["subject_code", "level", "test", "direction", "term", "baseline_grade",
               "worst_grade", "against_baseline"]  # fmt: skip
    graded = labs[labs["test"].isin(tests) & labs["grade"].notna()].merge(
        population[["subject_code", "level", "first_dose_on"]], on="subject_code"
    )
    blocks = pd.DataFrame(shift_blocks(tests), columns=["test", "direction", "block_term"])
    after = graded["collected_on"] > graded["first_dose_on"]
    if not after.any() or blocks.empty:
        return pd.DataFrame(columns=columns)
    # The baseline value the grading used: the last value of the test in the same unit on or
    # before the first dose (ecrf.services.labs.baseline_value).
    pre = labs.merge(population[["subject_code", "first_dose_on"]], on="subject_code")
    pre = pre[pre["collected_on"] <= pre["first_dose_on"]].sort_values("collected_at")
    base_value = pre.drop_duplicates(["subject_code", "test", "unit"], keep="last")[
        ["subject_code", "test", "unit", "value"]
    ].rename(columns={"value": "baseline"})
    post = graded[after].merge(base_value, on=["subject_code", "test", "unit"], how="left")
    post["decided_term"] = _baseline_decided_term(post).to_numpy()
    post = post.merge(blocks, on="test")
    post["directed"] = post["grade"].where(post["term"] == post["block_term"], 0.0)
    post["against"] = post["decided_term"] == post["block_term"]
    worst = post.groupby(["subject_code", "level", "test", "direction", "block_term"],
                         as_index=False).agg(worst_grade=("directed", "max"),
                                             against_baseline=("against", "any"))  # fmt: skip
    base = (
        graded[~after]
        .sort_values("collected_at")
        .drop_duplicates(["subject_code", "test"], keep="last")[
            ["subject_code", "test", "term", "grade"]
        ]
    )
    base = base.merge(blocks, on="test")
    base["baseline_grade"] = base["grade"].where(base["term"] == base["block_term"], 0.0)
    shift = worst.merge(
        base[["subject_code", "test", "direction", "baseline_grade"]],
        on=["subject_code", "test", "direction"],
        how="left",
    ).rename(columns={"block_term": "term"})
    shift["worst_grade"] = shift["worst_grade"].astype(int)
    return shift[columns].reset_index(drop=True)


def lab_shift_rows(shift: pd.DataFrame, levels: list[int]) -> pd.DataFrame:
    """The shift tables in long form (the JSON twin and the PDF both read it): one row per
    block, dose level (or TOTAL), baseline grade (int or MISSING) and worst grade that holds
    subjects.

    Columns SHIFT_ROW_COLUMNS: `level_subjects` is the block's subjects in that level (the
    denominator of the cell's percent); `against_baseline` how many of the cell's subjects had
    a grade decided by their baseline value. Cells not listed have no subject. Rows are in
    block order (as in `shift_blocks`), then level (escalation order, TOTAL last), baseline
    (0-4, then MISSING) and worst grade. Levels not in `levels` are left out (but counted in
    the total).
    """
    if shift.empty:
        return pd.DataFrame(columns=list(SHIFT_ROW_COLUMNS))
    frame = shift.assign(
        baseline=shift["baseline_grade"].fillna(-1).astype(int),
        level=shift["level"].astype(int),
    )
    # Blocks in the order of the lab panels, then any other test by name.
    known = (*HAEMATOLOGY_TESTS, *CHEMISTRY_TESTS)
    tests = (*known, *sorted(set(frame["test"]) - set(known)))
    block_of = {
        (test, direction): number for number, (test, direction, _) in enumerate(shift_blocks(tests))
    }
    keys = ["test", "direction", "term", "baseline", "worst_grade"]
    parts = []
    for position, (column, rows) in enumerate(
        [*((level, frame[frame["level"] == level]) for level in levels), (TOTAL, frame)]
    ):
        if rows.empty:
            continue
        cells = rows.groupby(keys, as_index=False).agg(
            subjects=("subject_code", "nunique"), against_baseline=("against_baseline", "sum")
        )
        sizes = rows.groupby(["test", "direction"])["subject_code"].nunique()
        cells["level_subjects"] = [
            sizes[key] for key in zip(cells["test"], cells["direction"], strict=True)
        ]
        cells["level"], cells["position"] = column, position
        parts.append(cells)
    cells = pd.concat(parts, ignore_index=True)
    cells["block"] = [block_of[key] for key in zip(cells["test"], cells["direction"], strict=True)]
    cells["missing"] = cells["baseline"] < 0
    cells = cells.sort_values(["block", "position", "missing", "baseline", "worst_grade"])
    cells["level"] = cells["level"].astype(object)
    cells["baseline_grade"] = [MISSING if v < 0 else int(v) for v in cells["baseline"]]
    cells["baseline_grade"] = cells["baseline_grade"].astype(object)
    cells["against_baseline"] = cells["against_baseline"].astype(int)
    cells["worst_grade"] = cells["worst_grade"].astype(int)
    return cells[list(SHIFT_ROW_COLUMNS)].reset_index(drop=True)


# --- Figure data ----------------------------------------------------------------------------


def swimmer_data(
    course: pd.DataFrame, dlt_events: pd.DataFrame, levels: pd.DataFrame
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The swimmer plot's bars and markers, as ``ecrf.reports.figures.swimmer_plot`` takes them.

    A bar runs from each subject's first to last actual dose of any agent (study days); the
    part before day 1 is the lead-in. Markers: DLTs that count (potential or confirmed), end of
    treatment, off study and death, at their study days.
    """
    labels = dict(zip(levels["level"].astype(int), levels["label"], strict=True))
    swim = pd.DataFrame(
        {
            "subject_code": course["subject_code"],
            "level": course["level"],
            "level_label": course["level"].map(labels),
            "start_day": course["first_dose_day"].astype(int),
            "end_day": course["last_dose_day"].astype(int),
            "ongoing": course["ongoing"],
        }
    )
    counting = dlt_events[
        dlt_events["status"].isin(["potential", "confirmed"])
        & dlt_events["subject_code"].isin(course["subject_code"])
    ]
    parts = [
        pd.DataFrame(
            {"subject_code": counting["subject_code"], "study_day": counting["onset_day"],
             "kind": "DLT"}
        )
    ]  # fmt: skip
    for column, kind in (
        ("treatment_end_day", "End of treatment"),
        ("off_study_day", "Off study"),
        ("death_day", "Death"),
    ):
        dated = course[course[column].notna()]
        parts.append(
            pd.DataFrame(
                {"subject_code": dated["subject_code"], "study_day": dated[column], "kind": kind}
            )
        )
    markers = pd.concat(parts, ignore_index=True).dropna(subset=["study_day"])
    markers["study_day"] = markers["study_day"].astype(int)
    return swim.reset_index(drop=True), markers


# CTCAE v5.0 thresholds drawn on the lab figures, as (value, label). 'Alanine aminotransferase
# increased' with a normal baseline: grade 1 >ULN - 3.0 x ULN, grade 2 >3.0 - 5.0 x ULN, grade 3
# >5.0 - 20.0 x ULN, grade 4 >20.0 x ULN (with an abnormal baseline the multiples are of
# baseline). 'Neutrophil count decreased': grade 2 <1500 - 1000/mm3 (<1.5 - 1.0 x 10e9/L),
# grade 3 <1000 - 500/mm3 (<1.0 - 0.5), grade 4 <500/mm3 (<0.5); grade 1 starts at each
# sample's LLN, so it has no line.
ALT_GRADE_LINES = (
    (1.0, "ULN"),
    (3.0, "Grade 2: >3 x ULN"),
    (5.0, "Grade 3: >5 x ULN"),
    (20.0, "Grade 4: >20 x ULN"),
)
NEUTROPHIL_GRADE_LINES = (
    (1.5, "Grade 2: <1.5"),
    (1.0, "Grade 3: <1.0"),
    (0.5, "Grade 4: <0.5"),
)

# Conversions to 10^9/L of the count units CTCAE accepts.
COUNT_UNITS_PER_1E9_L = {"10^9/L": 1.0, "/mm3": 1000.0, "cells/uL": 1000.0, "cells/µL": 1000.0}


def lab_course(
    labs: pd.DataFrame, population: pd.DataFrame, levels: pd.DataFrame, test: str, *, per_uln: bool
) -> pd.DataFrame:
    """One test's results of the treated subjects by subject, study day and dose level, for
    ``lab_time_course``: the value as a multiple of ULN (`per_uln`), or a count in 10^9/L."""
    frame = labs[labs["test"] == test].merge(
        population[["subject_code", "level", "first_dose_on"]], on="subject_code"
    )
    if per_uln:
        frame = frame[frame["uln"] > 0]
        value = frame["value"] / frame["uln"]
    else:
        # A float column even when no row is left (an empty text column maps to texts).
        factor = frame["unit"].map(COUNT_UNITS_PER_1E9_L).astype(float)
        frame, value = frame[factor.notna()], (frame["value"] / factor)[factor.notna()]
    labels = dict(zip(levels["level"].astype(int), levels["label"], strict=True))
    return pd.DataFrame(
        {
            "subject_code": frame["subject_code"],
            "level": frame["level"].astype(int),
            "level_label": frame["level"].astype(int).map(labels),
            "study_day": study_day(frame["collected_on"], frame["first_dose_on"]).astype(int),
            "value": value.astype(float),
        }
    ).reset_index(drop=True)


# --- Consistency across the forms -----------------------------------------------------------

CONSISTENCY_COLUMNS = ("subject_id", "check", "detail")


def _dates(values: pd.Series) -> list:
    """datetime64 values as dates (None for NaT), in one pass."""
    days = values.dt.date.to_numpy(dtype=object, copy=True)
    days[values.isna().to_numpy()] = None
    return days.tolist()


def _numbers(values: pd.Series) -> list:
    """Numbers as floats (None for NaN)."""
    numbers = values.to_numpy(dtype=float).astype(object)
    numbers[values.isna().to_numpy()] = None
    return numbers.tolist()


def _texts(values: pd.Series) -> list:
    return values.tolist()


def _by_subject(codes: list, items: list) -> dict[str, list]:
    """`items` grouped by their subject code, in their order."""
    if not items:
        return {}
    labels, uniques = pd.factorize(np.asarray(codes, dtype=object))
    order = np.argsort(labels, kind="stable").tolist()
    ends = np.cumsum(np.bincount(labels)).tolist()
    grouped, start = {}, 0
    for code, end in zip(uniques.tolist(), ends, strict=True):
        grouped[code] = [items[i] for i in order[start:end]]
        start = end
    return grouped


def consistency_rows(
    subjects: pd.DataFrame,
    events: pd.DataFrame,
    attributions: pd.DataFrame,
    doses: pd.DataFrame,
    labs: pd.DataFrame,
) -> pd.DataFrame:
    """The consistency checks across the forms (``ecrf.safety.consistency``) over the frames
    the summary loaded: what the cutoff knew, nothing entered in error. One row per finding:
    subject_id (the subject's study ID), check, detail.

    The automatic data queries run the same checks on what the database holds at each save
    (``ecrf.selectors.consistency``); at a cutoff after all the data the two agree.
    """
    event_codes = _texts(events["subject_code"])
    terms = _texts(events["term"])
    events_of = _by_subject(event_codes, list(map(
        c.EventFacts, _texts(events["event_id"]), terms, events["grade"].astype(int).tolist(),
        _dates(events["onset_on"]), _dates(events["resolved_on"]),
    )))  # fmt: skip
    # Each subject's results of the tests its events' lab terms are graded from: the only
    # results the grade check reads.
    needed = {(code, c.LAB_TERM_TESTS[term]) for code, term in zip(event_codes, terms, strict=True)
              if term in c.LAB_TERM_TESTS}  # fmt: skip
    # The attributions frame holds only the loaded events' rows.
    subject_of = dict(zip(events["event_id"].tolist(), event_codes, strict=True))
    known = attributions[attributions["event_id"].isin(subject_of)]
    assessment_events = _texts(known["event_id"])
    assessments_of = _by_subject([subject_of[e] for e in assessment_events], list(map(
        c.AssessmentFacts, [None] * len(known), assessment_events, _texts(known["agent"]),
        _texts(known["attribution"]), _texts(known["action_taken"]),
    )))  # fmt: skip
    doses_of = _by_subject(_texts(doses["subject_code"]), list(map(
        c.DoseFacts, _texts(doses["agent"]), _dates(doses["given_on"]),
        doses["planned_dose"].tolist(), doses["given_dose"].tolist(),
    )))  # fmt: skip
    read = labs[pd.MultiIndex.from_arrays([labs["subject_code"], labs["test"]]).isin(needed)]
    grades = [None if grade is None else int(grade) for grade in _numbers(read["grade"])]
    labs_of = _by_subject(_texts(read["subject_code"]), list(map(
        c.LabFacts, [None] * len(read), _texts(read["test"]), _texts(read["term"].fillna("")),
        grades, _numbers(read["value"]), _texts(read["unit"]), _numbers(read["lln"]),
        _numbers(read["uln"]), _dates(read["collected_on"]),
    )))  # fmt: skip
    found = []
    for subject in subjects.sort_values("subject_code").itertuples(index=False):
        code = subject.subject_code
        birth_year = None if pd.isna(subject.birth_year) else int(subject.birth_year)
        facts = c.SubjectFacts(code, code, subject.sex, birth_year)
        for finding in c.subject_findings(
            facts, events_of.get(code, []), assessments_of.get(code, []),
            doses_of.get(code, []), labs_of.get(code, []),
        ):  # fmt: skip
            found.append((code, finding.check, finding.detail))
    return pd.DataFrame(found, columns=list(CONSISTENCY_COLUMNS))
