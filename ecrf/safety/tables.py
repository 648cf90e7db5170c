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
- ``labs``: subject_code, test, unit, value, lln, uln, collected_at, collected_on, grade
  (float, NaN for tests CTCAE does not grade)
- ``dlt_subjects``: subject_code, level, evaluable, has_dlt;
  ``dlt_events``: subject_code, level, term, grade, onset_day, rule, status, reason
"""

from __future__ import annotations

import numpy as np
import pandas as pd

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


def grade_table_text(table: pd.DataFrame, sizes: pd.Series) -> pd.DataFrame:
    """A worst-grade table as text: "n (p)", p the percent of the column's subjects (the
    header says "n (%)", which keeps five grade columns per dose level narrow); blank for 0."""
    shown = pd.DataFrame(index=table.index)
    for column in table.columns:
        count = table[column]
        pct = percent(count, sizes[column[0]])
        shown[column] = np.where(count == 0, "", count.astype(str) + " (" + pct.astype(str) + ")")
    shown.columns = table.columns
    return shown


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


def deaths(events: pd.DataFrame, population: pd.DataFrame) -> pd.DataFrame:
    """Subjects who died (an event with a date of death, grade 5 or a fatal outcome): the first
    such event per subject, with the date and study day of death."""
    fatal = events[
        events["death_on"].notna() | (events["grade"] == 5) | (events["outcome"] == "fatal")
    ].merge(population[["subject_code", "level", "first_dose_on"]], on="subject_code")
    fatal = fatal.sort_values(["subject_code", "death_on", "onset_on"]).drop_duplicates(
        "subject_code"
    )
    return fatal.assign(death_day=study_day(fatal["death_on"], fatal["first_dose_on"])).reset_index(
        drop=True
    )


# --- Lab shifts -----------------------------------------------------------------------------


def lab_shift(
    labs: pd.DataFrame, population: pd.DataFrame, levels: list[int], tests: tuple[str, ...]
) -> pd.DataFrame:
    """Baseline CTCAE grade against worst post-baseline grade, per test: subjects.

    Baseline is the last graded result on or before the first dose date (as the grading rules
    define it, docs/ctcae.md); post-baseline results are those after the first dose date. The
    population of a test is the treated subjects with a post-baseline graded result; a subject
    with none before is counted on the MISSING baseline row. The grade is the result's CTCAE
    grade in whichever direction the test was graded (e.g. hypo- or hyperkalemia).

    Indexed by (test, baseline grade as text: "0".."4" or MISSING); columns a MultiIndex
    (dose level or TOTAL, worst post-baseline grade 0-4) of int counts. Every test of `tests`
    with a post-baseline result has rows for baseline grades 0 to 4, plus MISSING when any.
    """
    columns = pd.MultiIndex.from_product([[*levels, TOTAL], LAB_GRADES])
    graded = labs[labs["test"].isin(tests) & labs["grade"].notna()].merge(
        population[["subject_code", "level", "first_dose_on"]], on="subject_code"
    )
    after = graded["collected_on"] > graded["first_dose_on"]
    post = graded[after].groupby(["subject_code", "level", "test"], as_index=False)["grade"].max()
    if post.empty:
        return pd.DataFrame(
            0, index=pd.MultiIndex.from_tuples([], names=["test", "baseline"]), columns=columns
        )
    base = (
        graded[~after]
        .sort_values("collected_at")
        .drop_duplicates(["subject_code", "test"], keep="last")[["subject_code", "test", "grade"]]
        .rename(columns={"grade": "baseline_grade"})
    )
    shift = post.merge(base, on=["subject_code", "test"], how="left")
    shift["baseline"] = (
        shift["baseline_grade"].fillna(-1).astype(int).astype(str).replace("-1", MISSING)
    )
    shift["worst"] = shift["grade"].astype(int)
    counts = count_subjects(shift, ["test", "baseline", "worst"], levels)
    table = counts.unstack("worst", fill_value=0)
    table = table.reindex(columns=columns, fill_value=0)
    present = [t for t in tests if t in set(shift["test"])]
    with_missing = set(shift.loc[shift["baseline"] == MISSING, "test"])
    index = [
        (test, baseline)
        for test in present
        for baseline in [
            *(str(g) for g in LAB_GRADES),
            *([MISSING] if test in with_missing else []),
        ]
    ]
    table = table.reindex(
        pd.MultiIndex.from_tuples(index, names=["test", "baseline"]), fill_value=0
    )
    return table.fillna(0).astype(int)


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


# Conversions to 10^9/L of the count units CTCAE accepts.
COUNT_UNITS_PER_1E9_L = {"10^9/L": 1.0, "/mm3": 1000.0, "cells/uL": 1000.0, "cells/µL": 1000.0}


def lab_course(
    labs: pd.DataFrame, population: pd.DataFrame, levels: pd.DataFrame, test: str, *, per_uln: bool
) -> pd.DataFrame:
    """One test's results of the treated subjects by study day and dose level, for
    ``lab_time_course``: the value as a multiple of ULN (`per_uln`), or a count in 10^9/L."""
    frame = labs[labs["test"] == test].merge(
        population[["subject_code", "level", "first_dose_on"]], on="subject_code"
    )
    if per_uln:
        frame = frame[frame["uln"] > 0]
        value = frame["value"] / frame["uln"]
    else:
        factor = frame["unit"].map(COUNT_UNITS_PER_1E9_L)
        frame, value = frame[factor.notna()], (frame["value"] / factor)[factor.notna()]
    labels = dict(zip(levels["level"].astype(int), levels["label"], strict=True))
    return pd.DataFrame(
        {
            "level": frame["level"].astype(int),
            "level_label": frame["level"].astype(int).map(labels),
            "study_day": study_day(frame["collected_on"], frame["first_dose_on"]).astype(int),
            "value": value.astype(float),
        }
    ).reset_index(drop=True)
