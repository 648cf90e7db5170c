"""The safety summary PDF of a study at a data cutoff (issue #6).

Three steps the benchmark can time apart: `load_safety_frames` runs one query per domain into
pandas frames (only data on or before the cutoff, nothing entered in error),
`build_safety_tables` computes every table with the pure functions of `ecrf.safety.tables`, and
`render_safety_report` lays them out with the shared PDF frame of `ecrf.reports.pdf`.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import time
from dataclasses import dataclass, fields
from typing import BinaryIO

import numpy as np
import pandas as pd
from django.db.models import CharField, FloatField
from django.db.models.functions import Cast
from django.utils import timezone
from reportlab.lib.units import mm
from reportlab.platypus import Flowable, KeepTogether, Paragraph, Spacer, Table, TableStyle

from ..models import (
    SERIOUSNESS_CRITERIA,
    AdverseEvent,
    AdverseEventAgent,
    DoseAdministration,
    LabResult,
    Outcome,
    Study,
    Subject,
    TreatmentEnd,
    Visit,
    VisitKind,
    VisitStatus,
)
from ..safety import tables as t
from ..selectors.dlt import dlt_overview
from . import pdf
from .dlt import dlt_report_data

TITLE = "Safety summary"
NO_SUBJECTS = "There are no subjects in this study yet (none consented on or before the cutoff)."
SECTIONS = (
    "1. Study and data snapshot",
    "2. Disposition",
    "3. Exposure",
    "4. Dose-limiting toxicities",
    "5. Adverse event overview",
    "6. Adverse events by system organ class and term",
    "7. Serious adverse events and deaths",
    "8. Laboratory shift tables",
    "9. Figures",
    "10. Consistency across the forms",
)
OUTCOMES = dict(Outcome.choices)
STATUS_LABELS = {
    "potential": "Potential DLT",
    "confirmed": "Confirmed DLT",
    "ruled_out": "Ruled out",
}


@dataclass
class SafetyFrames:
    """Everything the report shows, as plain values and frames (see `ecrf.safety.tables`)."""

    study_code: str
    study_title: str
    ctcae_version: str
    design: str
    cutoff: dt.date
    follow_up_days: int
    recommendation: str
    # The DLT report of the same overview, as `dlt_report --format json` gives it.
    dlt_report: dict
    levels: pd.DataFrame
    agents: pd.DataFrame
    subjects: pd.DataFrame
    doses: pd.DataFrame
    events: pd.DataFrame
    attributions: pd.DataFrame
    labs: pd.DataFrame
    dlt_levels: pd.DataFrame
    dlt_subjects: pd.DataFrame
    dlt_events: pd.DataFrame

    def snapshot_hash(self) -> str:
        """SHA-256 of the loaded data: the same rows give the same hash, in any order.

        Each frame contributes its name, its column names and the sorted 64-bit hashes of its
        rows, so the digest depends on the data and not on the order the database returned it.
        """
        digest = hashlib.sha256()
        for item in fields(self):
            value = getattr(self, item.name)
            digest.update(item.name.encode())
            if isinstance(value, pd.DataFrame):
                digest.update("\x1f".join(map(str, value.columns)).encode())
                rows = pd.util.hash_pandas_object(value, index=False).to_numpy()
                digest.update(np.sort(rows).tobytes())
            else:
                digest.update(str(value).encode())
        return digest.hexdigest()


def _frame(queryset, columns: dict[str, str | Cast]) -> pd.DataFrame:
    """One query: the named fields (or database expressions) of `queryset` as a frame."""
    expressions = {f"x_{name}": value for name, value in columns.items() if isinstance(value, Cast)}
    names = [f"x_{name}" if isinstance(value, Cast) else value for name, value in columns.items()]
    if expressions:
        queryset = queryset.annotate(**expressions)
    return pd.DataFrame.from_records(list(queryset.values_list(*names)), columns=list(columns))


def _dates(frame: pd.DataFrame, columns: list[str], cutoff: dt.date) -> None:
    """Turn date columns into datetime64; dates after the cutoff become NaT (not yet known)."""
    limit = pd.Timestamp(cutoff)
    for column in columns:
        values = pd.to_datetime(frame[column], format="ISO8601")
        frame[column] = values.where(values <= limit)


def _float(field: str) -> Cast:
    # Numbers are read as floats by the database itself: no Decimal per value in Python.
    return Cast(field, FloatField())


def _text(field: str) -> Cast:
    # Keys, dates and times are read as text, which pandas parses in bulk: no UUID, date or
    # datetime object per value in Python (most of the time of a large load otherwise).
    return Cast(field, CharField())


def load_safety_frames(study: Study, cutoff: dt.date) -> SafetyFrames:
    """One query per domain into a frame, then the DLT overview (a fixed number of queries).

    Only data on or before the cutoff, and no record marked entered in error (nor any record of
    a subject marked so).
    """
    levels = _frame(study.dose_levels.order_by("level"), {"level": "level", "label": "label"})
    agents = _frame(
        study.agents.order_by("code"), {"agent": "code", "name": "name", "unit": "unit"}
    )
    subjects = _frame(
        Subject.objects.filter(study=study, entered_in_error=False, consent_on__lte=cutoff),
        {"subject_code": "subject_code", "site": "site__code", "level": "dose_level__level",
         "status": "status", "sex": "sex", "birth_year": "birth_year",
         "consent_on": _text("consent_on"), "enrolled_on": _text("enrolled_on"),
         "first_dose_on": _text("first_dose_on"), "treatment_end_on": _text("treatment_end_on"),
         "treatment_end_reason": "treatment_end_reason", "off_study_on": _text("off_study_on"),
         "off_study_reason": "off_study_reason"},
    )  # fmt: skip
    _dates(subjects, ["consent_on", "enrolled_on", "treatment_end_on", "off_study_on"], cutoff)
    # Day 1 is the time base, known from enrolment: kept even when it lies after the cutoff.
    subjects["first_dose_on"] = pd.to_datetime(subjects["first_dose_on"], format="ISO8601")
    subjects["birth_year"] = subjects["birth_year"].astype(float)
    # Enrolment after the cutoff has not happened yet at the cutoff.
    subjects["level"] = subjects["level"].astype(float).where(subjects["enrolled_on"].notna())
    subjects.loc[subjects["off_study_on"].isna(), "off_study_reason"] = ""
    subjects.loc[subjects["treatment_end_on"].isna(), "treatment_end_reason"] = ""
    # At the cutoff, a status reached later is not known: a screen failure is a status only.
    planned_after = set(
        Visit.objects.filter(
            subject__study=study, subject__entered_in_error=False, entered_in_error=False,
            kind=VisitKind.CYCLE_DAY, status=VisitStatus.PLANNED, planned_on__gt=cutoff,
        ).values_list("subject__subject_code", flat=True)
    )  # fmt: skip
    subjects["dose_planned_after_cutoff"] = subjects["subject_code"].isin(planned_after)
    of_study = {"subject__study": study, "subject__entered_in_error": False,
                "subject__consent_on__lte": cutoff, "entered_in_error": False}  # fmt: skip
    doses = _frame(
        DoseAdministration.objects.filter(**of_study, given_on__lte=cutoff),
        {"subject_code": "subject__subject_code", "agent": "agent__code", "given_on": _text("given_on"),
         "cycle": "cycle", "planned_dose": _float("planned_dose"),
         "given_dose": _float("given_dose"), "adverse_event_id": _text("adverse_event_id")},
    )  # fmt: skip
    _dates(doses, ["given_on"], cutoff)
    doses[["planned_dose", "given_dose"]] = doses[["planned_dose", "given_dose"]].astype(float)
    given = doses[doses["given_dose"] > 0].groupby("subject_code")["given_on"]
    for column, day in (("first_dosed_on", given.min()), ("last_dosed_on", given.max())):
        subjects[column] = pd.to_datetime(subjects["subject_code"].map(day.to_dict()))
    events = _frame(
        AdverseEvent.objects.filter(**of_study, onset_on__lte=cutoff),
        {"event_id": _text("id"), "subject_code": "subject__subject_code", "term": "ctcae_term",
         "soc": "soc", "verbatim": "verbatim", "grade": "grade", "onset_on": _text("onset_on"),
         "resolved_on": _text("resolved_on"), "serious": "serious",
         **{name: name for name in SERIOUSNESS_CRITERIA}, "outcome": "outcome",
         "death_on": _text("death_on")},
    )  # fmt: skip
    _dates(events, ["onset_on", "resolved_on", "death_on"], cutoff)
    events["grade"] = events["grade"].astype(int)
    attributions = _frame(
        AdverseEventAgent.objects.filter(
            entered_in_error=False,
            adverse_event__subject__study=study,
            adverse_event__subject__entered_in_error=False,
            adverse_event__subject__consent_on__lte=cutoff,
            adverse_event__entered_in_error=False,
            adverse_event__onset_on__lte=cutoff,
        ),
        {"event_id": _text("adverse_event_id"), "agent": "agent__code",
         "attribution": "attribution", "action_taken": "action_taken"},
    )  # fmt: skip
    # A sample belongs to the cutoff day when it was collected before the next local midnight.
    day_after = timezone.make_aware(dt.datetime.combine(cutoff + dt.timedelta(days=1), dt.time()))
    labs = _frame(
        LabResult.objects.filter(**of_study, collected_at__lt=day_after),
        {"subject_code": "subject__subject_code", "test": "test_code", "unit": "unit",
         "value": _float("value"), "lln": _float("lln"), "uln": _float("uln"),
         "collected_at": _text("collected_at"), "term": "ctcae_term", "grade": "ctcae_grade"},
    )  # fmt: skip
    labs[["value", "lln", "uln", "grade"]] = labs[["value", "lln", "uln", "grade"]].astype(float)
    # Stored in UTC: SQLite gives "2026-03-02 07:00:00", PostgreSQL "2026-03-02 07:00:00+00".
    local = pd.to_datetime(labs["collected_at"], utc=True, format="ISO8601").dt.tz_convert(
        timezone.get_current_timezone_name()
    )
    labs["collected_at"] = local.dt.tz_localize(None)
    labs["collected_on"] = labs["collected_at"].dt.normalize()
    return SafetyFrames(
        study_code=study.code,
        study_title=study.title,
        ctcae_version=study.ctcae_version,
        design=study.get_design_method_display(),
        cutoff=cutoff,
        follow_up_days=study.follow_up_days,
        levels=levels,
        agents=agents,
        subjects=subjects,
        doses=doses,
        events=events,
        attributions=attributions,
        labs=labs,
        **_dlt_frames(study, cutoff),
    )


def _dlt_frames(study: Study, cutoff: dt.date) -> dict:
    """The DLT overview of the dashboard (same rules, same counts) as frames."""
    overview = dlt_overview(study, cutoff)
    dlt_levels = pd.DataFrame(
        [
            (
                row.level,
                row.label,
                row.summary.treated,
                row.summary.evaluable,
                row.summary.with_dlt,
                row.summary.replacements_needed,
            )
            for row in overview.levels
        ],
        columns=["level", "label", "treated", "evaluable", "with_dlt", "replacements_needed"],
    )
    dlt_subjects = pd.DataFrame(
        [
            (row.subject.subject_code, row.level, row.evaluability.evaluable,
             row.evaluability.reason, row.has_dlt)
            for row in overview.subjects
        ],
        columns=["subject_code", "level", "evaluable", "evaluable_reason", "has_dlt"],
    )  # fmt: skip
    dlt_events = pd.DataFrame(
        [
            (
                row.subject.subject_code,
                row.level,
                item.event.ctcae_term,
                item.event.grade,
                item.flag.onset_day if item.flag else None,
                item.flag.rule if item.flag else "",
                str(item.status),
                item.reason,
            )
            for row in overview.subjects
            for item in row.events
            if item.status != "not_dlt"
        ],
        columns=[
            "subject_code",
            "level",
            "term",
            "grade",
            "onset_day",
            "rule",
            "status",
            "reason",
        ],
    )
    dlt_events["onset_day"] = dlt_events["onset_day"].astype("Int64")
    return {
        # "Provisional: ..." while a potential DLT or a lab toxicity awaits a decision.
        "recommendation": overview.advice,
        "dlt_report": dlt_report_data(overview),
        "dlt_levels": dlt_levels,
        "dlt_subjects": dlt_subjects,
        "dlt_events": dlt_events,
    }


@dataclass
class SafetyTables:
    levels: list[int]
    level_names: dict
    treated_sizes: pd.Series
    enrolled_levels: list[int]
    enrolled_sizes: pd.Series
    course: pd.DataFrame
    disposition: pd.DataFrame
    demographics: pd.DataFrame
    outside_window: pd.DataFrame
    exposure: pd.DataFrame
    ae_overview: pd.DataFrame
    # The dose levels with a treated subject: the columns of the event and lab tables.
    shown_levels: list[int]
    # Long rows (t.AE_ROW_COLUMNS, t.SHIFT_ROW_COLUMNS): the JSON twin and the PDF read them.
    adverse_events: pd.DataFrame
    related_adverse_events: pd.DataFrame
    shift_tables: pd.DataFrame
    shift_units: dict
    sae: pd.DataFrame
    grade_3: pd.DataFrame
    discontinuations: pd.DataFrame
    deaths: pd.DataFrame
    swimmer_subjects: pd.DataFrame
    swimmer_markers: pd.DataFrame
    alt_course: pd.DataFrame
    neutrophil_course: pd.DataFrame
    # The consistency checks across the forms: subject_id, check, detail.
    consistency: pd.DataFrame


def build_safety_tables(frames: SafetyFrames) -> SafetyTables:
    """Every table of the report from the frames (pure pandas, no database)."""
    population = t.treated(frames.subjects)
    # Dose levels nobody was treated at take no column; the disposition shows every level
    # someone was enrolled at.
    every_level = t.level_keys(frames.levels)
    levels = [level for level in every_level if (population["level"] == level).any()]
    enrolled_levels = [
        level for level in every_level if (t.enrolled(frames.subjects)["level"] == level).any()
    ]
    # Only treatment-emergent events are counted in the tables; the others are listed.
    emergent = t.treatment_emergent(frames.events, frames.subjects, frames.follow_up_days)
    events = frames.events[emergent]
    course = t.subject_course(frames.subjects, frames.events)
    names = {int(r.level): f"DL{int(r.level)} {r.label}" for r in frames.levels.itertuples()}
    names[t.TOTAL] = t.TOTAL
    return SafetyTables(
        levels=levels,
        level_names=names,
        treated_sizes=t.column_sizes(population, levels),
        enrolled_levels=enrolled_levels,
        enrolled_sizes=t.column_sizes(t.enrolled(frames.subjects), enrolled_levels),
        course=course,
        disposition=t.disposition(
            frames.subjects,
            frames.dlt_subjects,
            course,
            enrolled_levels,
            dict(TreatmentEnd.choices),
        ),
        demographics=t.demographics(population, levels),
        outside_window=t.outside_window_listing(
            frames.events, population, emergent, frames.follow_up_days
        ),
        exposure=t.exposure(frames.doses, population, frames.agents, levels),
        ae_overview=t.ae_overview(events, frames.attributions, frames.doses, population, levels),
        **_event_and_lab_tables(frames, events, population, levels),
        **dict(
            zip(
                ("swimmer_subjects", "swimmer_markers"),
                t.swimmer_data(course, frames.dlt_events, frames.levels),
                strict=True,
            )
        ),
        alt_course=t.lab_course(frames.labs, population, frames.levels, "ALT", per_uln=True),
        neutrophil_course=t.lab_course(
            frames.labs, population, frames.levels, "NEUT", per_uln=False
        ),
        consistency=t.consistency_rows(
            frames.subjects, frames.events, frames.attributions, frames.doses, frames.labs
        ),
    )


def _event_and_lab_tables(
    frames: SafetyFrames, events: pd.DataFrame, population: pd.DataFrame, levels: list[int]
) -> dict:
    """The adverse event tables and listings of the treatment-emergent `events` (deaths: of
    every event), and the lab shift tables, over the dose levels with a treated subject (a
    level nobody received takes no column)."""
    sizes = t.column_sizes(population, levels)
    shown = [level for level in levels if sizes[level] > 0]
    related = events[events["event_id"].isin(t.related_event_ids(frames.attributions))]
    tests = (*t.HAEMATOLOGY_TESTS, *t.CHEMISTRY_TESTS)
    units = frames.labs[frames.labs["test"].isin(tests)].groupby("test")["unit"].unique()
    return {
        "shown_levels": shown,
        "adverse_events": t.ae_term_rows(t.worst_grade_by_term(events, population, shown)),
        "related_adverse_events": t.ae_term_rows(t.worst_grade_by_term(related, population, shown)),
        "shift_tables": t.lab_shift_rows(
            t.lab_shift_subjects(frames.labs, population, tests), shown
        ),
        "shift_units": {test: ", ".join(sorted(values)) for test, values in units.items()},
        "sae": t.sae_listing(events, frames.attributions, population),
        "grade_3": t.grade_3_listing(events, frames.attributions, population),
        "discontinuations": t.discontinuation_listing(
            events, frames.attributions, population, t.treatment_ended_for_ae(population)
        ),
        "deaths": t.deaths(frames.events, population, frames.doses, frames.attributions),
    }


@dataclass
class SafetyReport:
    study_code: str
    cutoff: dt.date
    generated_at: dt.datetime
    generated_by: str
    snapshot_hash: str
    frames: SafetyFrames
    tables: SafetyTables
    seconds_loading: float
    seconds_tables: float
    seconds_rendering: float


def prepare_safety_report(study: Study, *, cutoff: dt.date, generated_by: str) -> SafetyReport:
    """Load and compute the safety summary of `study` at `cutoff`: what the PDF and its JSON
    twin (`ecrf.reports.safety_data`) are both drawn from."""
    started = time.perf_counter()
    frames = load_safety_frames(study, cutoff)
    loaded = time.perf_counter()
    tables = build_safety_tables(frames)
    computed = time.perf_counter()
    return SafetyReport(
        study_code=study.code,
        cutoff=cutoff,
        generated_at=timezone.now().astimezone(dt.UTC).replace(microsecond=0),
        generated_by=generated_by,
        snapshot_hash=frames.snapshot_hash(),
        frames=frames,
        tables=tables,
        seconds_loading=loaded - started,
        seconds_tables=computed - loaded,
        seconds_rendering=0.0,
    )


def render_safety_report(
    study: Study, *, cutoff: dt.date, generated_by: str, out: str | BinaryIO
) -> SafetyReport:
    """Load, compute and render the safety summary of `study` at `cutoff` into `out`."""
    report = prepare_safety_report(study, cutoff=cutoff, generated_by=generated_by)
    started = time.perf_counter()
    info = pdf.DocumentInfo(
        title=TITLE,
        study=study.code,
        cutoff=cutoff.isoformat(),
        author=generated_by,
        subject=f"{TITLE} of {study.code} at {cutoff.isoformat()}",
    )
    pdf.build(out, _story(report), info)
    report.seconds_rendering = time.perf_counter() - started
    return report


# --- Layout -----------------------------------------------------------------------------------

LANDSCAPE_WIDTH = pdf.usable_width(pdf.LANDSCAPE)
PORTRAIT_WIDTH = pdf.usable_width(pdf.PORTRAIT)


def _note(value: str) -> Paragraph:
    return pdf.paragraph(value, "body")


def _gap(height: float = 3 * mm) -> Flowable:
    return Spacer(1, height)


def _column_header(tables: SafetyTables, sizes: pd.Series, column) -> str:
    return f"{tables.level_names[column]} (N={sizes[column]})"


def _cover(report: SafetyReport) -> list[Flowable]:
    frames = report.frames
    rows = [
        ("Study", f"{frames.study_code}: {frames.study_title}"),
        ("Data cutoff", frames.cutoff.isoformat()),
        ("Generated at (UTC)", report.generated_at.strftime("%Y-%m-%d %H:%M:%S")),
        ("Generated by", report.generated_by),
        ("CTCAE version", frames.ctcae_version),
        ("Escalation design", frames.design),
        ("DLT rules", _rules_cover(frames.dlt_report["dlt_rules"])),
        ("Data snapshot (SHA-256)", report.snapshot_hash),
    ]
    story: list[Flowable] = [
        pdf.paragraph(TITLE, "title"),
        pdf.heading(SECTIONS[0]),
        pdf.table(rows, ["Item", "Value"], col_widths=[45 * mm, PORTRAIT_WIDTH - 45 * mm]),
        _gap(),
        _note(
            "Data on or before the cutoff only: adverse events with onset, lab samples collected "
            "and doses given after the cutoff are left out, as is every record marked entered in "
            "error. The snapshot hash is computed over the data loaded for this report, the version "
            "of the DLT rules included: the same data gives the same hash."
        ),
    ]
    return story


def _counts_section(
    title: str, counts: pd.DataFrame, tables: SafetyTables, sizes: pd.Series, label: str, note: str
) -> list[Flowable]:
    shown = t.n_percent(counts, sizes)
    header = [label, *(_column_header(tables, sizes, c) for c in counts.columns)]
    rows = [
        [index, *values]
        for index, values in zip(counts.index, shown.to_numpy().tolist(), strict=True)
    ]
    return [pdf.heading(title), pdf.table(rows, header, numeric_from=1), _gap(), _note(note)]


DISPOSITION_NOTE = (
    "Screened: informed consent on or before the cutoff; screened and screen-failed subjects "
    "have no dose level, so only the Total column counts them. Other rows: percent of the "
    "subjects enrolled at the level. Treated: any dose of any agent by the cutoff, lead-in "
    "included (the safety population). On treatment: a dose still planned after the cutoff and "
    "no end of treatment, off-study date or death on record. Completed and discontinued "
    "treatment count the dated end of treatment recorded on the subject's form; 'End of "
    "treatment not recorded': no dose planned after the cutoff and no end of treatment on "
    "record. DLT-evaluable as on the DLT dashboard."
)


def _disposition(tables: SafetyTables) -> list[Flowable]:
    counts, sizes = tables.disposition, tables.enrolled_sizes
    shown = t.n_percent(counts, sizes)
    for row in t.SCREENING_ROWS:
        shown.loc[row] = ""
        shown.loc[row, t.TOTAL] = str(counts.loc[row, t.TOTAL])
    header = ["Subjects", *(_column_header(tables, sizes, c) for c in counts.columns)]
    rows = [
        [index, *values]
        for index, values in zip(counts.index, shown.to_numpy().tolist(), strict=True)
    ]
    demographics = tables.demographics
    demo_rows = [[index, *values] for index, values in zip(demographics.index,
                                                           demographics.to_numpy().tolist(), strict=True)]  # fmt: skip
    treated = tables.treated_sizes
    return [
        pdf.heading(SECTIONS[1]),
        pdf.table(rows, header, numeric_from=1),
        _gap(),
        _note(DISPOSITION_NOTE),
        _gap(),
        pdf.heading("Demographics of the treated subjects", 2),
        pdf.table(
            demo_rows,
            ["Characteristic", *(_column_header(tables, treated, c) for c in demographics.columns)],
            numeric_from=1,
        ),
        _gap(),
        _note("Age at informed consent in whole years (only the year of birth is recorded)."),
    ]


def _exposure(tables: SafetyTables) -> list[Flowable]:
    frame = tables.exposure
    sizes = tables.treated_sizes
    columns = [*tables.levels, t.TOTAL]
    header = ["Agent / measure", *(_column_header(tables, sizes, c) for c in columns)]
    rows, highlight = [], []
    for agent, measures in frame.groupby("agent", sort=False):
        highlight.append(len(rows))
        rows.append([agent, *([""] * len(columns))])
        rows += measures[["measure", *columns]].to_numpy().tolist()
    width = 52 * mm
    return [
        pdf.heading(SECTIONS[2]),
        pdf.table(
            rows,
            header,
            numeric_from=1,
            highlight_rows=highlight,
            col_widths=[width, *([(PORTRAIT_WIDTH - width) / len(columns)] * len(columns))],
        ),
        _gap(),
        _note(
            "Doses are administrations recorded on or before the cutoff: planned (planned dose "
            "above 0) and given (given dose above 0). Relative dose intensity: total dose given "
            "over total dose planned. A reduction is a dose given below plan; an interruption a "
            "planned dose not given. Percent of treated subjects."
        ),
    ]


def _dlts(frames: SafetyFrames, tables: SafetyTables) -> list[Flowable]:
    levels = frames.dlt_levels
    rows = [
        [f"DL{r.level} {r.label}", r.treated, r.evaluable, r.with_dlt, r.replacements_needed]
        for r in levels.itertuples()
    ]
    totals = levels[["treated", "evaluable", "with_dlt", "replacements_needed"]].sum()
    rows.append([t.TOTAL, *(int(v) for v in totals)])
    listing = frames.dlt_events.sort_values(["level", "subject_code", "onset_day"])
    rules = frames.dlt_report["dlt_rules"]
    texts = {rule["id"]: rule["text"] for rule in rules["rules"]}
    listing_rows = [
        [r.subject_code, f"DL{r.level}", r.term, r.grade, r.onset_day,
         r.rule or "investigator", STATUS_LABELS.get(r.status, r.status),
         short_reason(r.reason, r.rule, texts)]
        for r in listing.itertuples()
    ]  # fmt: skip
    story = [
        pdf.heading(SECTIONS[3]),
        pdf.paragraph(rules_version_line(rules)),
        _note(
            f"Every flag of this section comes from these rules; the {len(rules['rules'])} "
            "rules, in the order they are applied (the first that applies decides), are listed "
            "in the table 'DLT definition' at the end of the section."
        ),
        _gap(),
        pdf.table(
            rows,
            ["Dose level", "Treated", "DLT-evaluable", "With DLT", "Replacements needed"],
            numeric_from=1,
        ),
        _gap(),
        pdf.paragraph(f"Design ({frames.design}) recommendation: {frames.recommendation}"),
        _gap(),
        pdf.heading("DLT listing", 2),
    ]
    if listing_rows:
        story.append(
            pdf.table(
                listing_rows,
                [
                    "Subject",
                    "Dose level",
                    "Term",
                    "Grade",
                    "Onset day",
                    "Rule",
                    "Status",
                    "Investigator decision / reason",
                ],
                col_widths=[w * mm for w in (16, 13, 25, 12, 13, 40, 17, 44)],
            )
        )
    else:
        story.append(_note("No adverse event is a potential, confirmed or ruled-out DLT."))
    story += [
        _gap(),
        _note(
            "Every event the protocol's DLT rules flag or an investigator decided on. A potential "
            "DLT counts as a DLT until an investigator confirms or rules it out. Rule: the rule "
            "of the DLT definition that flagged the event (its text is in the table 'DLT "
            "definition'); investigator: declared by an investigator, no rule flagged it. "
            "Reason: the event as the rules read it, or the investigator's signed reason."
        ),
        *_pending(frames),
        *_evaluability(frames),
        *_definition(rules),
    ]
    return story


OUTCOME_LABELS = {"dlt": "DLT", "not_dlt": "not a DLT"}


def rules_version_line(rules: dict) -> str:
    """Which DLT definition a report used: "DLT rules version N, recorded YYYY-MM-DD by X:
    reason", or the default rule set when the study has no recorded version."""
    if rules["version"] is None:
        return "DLT rules: the default rule set (no version recorded for the study)."
    recorded = timezone.localtime(dt.datetime.fromisoformat(rules["recorded_at"])).date()
    return (
        f"DLT rules version {rules['version']}, recorded {recorded.isoformat()} by "
        f"{rules['recorded_by']}: {rules['reason']}"
    )


def _rules_cover(rules: dict) -> str:
    name = "default rule set" if rules["version"] is None else f"version {rules['version']}"
    return f"{name} (SHA-256 {rules['digest']})"


def short_reason(reason: str, rule: str, texts: dict[str, str]) -> str:
    """A flag's reason without its verdict by rule ("; DLT: rule <id>: <text>"), which the
    Status and Rule columns and the DLT definition table already give. A decision's reason,
    or a reason naming another rule or another text, stays as it is."""
    text = texts.get(rule)
    if text is None:
        return reason
    for verdict in ("DLT", "not a DLT"):
        ending = f"; {verdict}: rule {rule}: {text}"
        if reason.endswith(ending):
            return reason[: -len(ending)]
    return reason


def _definition(rules: dict) -> list[Flowable]:
    """The DLT definition the flags come from: every rule in order, with its outcome."""
    rows = [
        [number, rule["id"], OUTCOME_LABELS.get(rule["outcome"], rule["outcome"]), rule["text"]]
        for number, rule in enumerate(rules["rules"], start=1)
    ]
    return [
        _gap(),
        pdf.heading("DLT definition", 2),
        _note(rules_version_line(rules)),
        _gap(2 * mm),
        pdf.table(
            rows,
            ["#", "Rule", "Outcome", "Text"],
            col_widths=[w * mm for w in (8, 50, 18, PORTRAIT_WIDTH / mm - 76)],
        ),
        _gap(),
        _note(
            "The rules are applied in this order to each adverse event with onset in the DLT "
            "window and at least the study's attribution to a study agent: the first rule that "
            "applies decides whether the event is a DLT; an event no rule takes is not a DLT. "
            f"Digest of the rules (SHA-256): {rules['digest']}."
        ),
    ]


PENDING_KINDS = {"potential_dlt": "Potential DLT undecided", "unreconciled_lab": "Lab toxicity"}


def _pending(frames: SafetyFrames) -> list[Flowable]:
    """What makes the advice provisional, oldest first."""
    pending = frames.dlt_report["pending"]
    story: list[Flowable] = [_gap(), pdf.heading("Pending: what the advice waits on", 2)]
    if not pending:
        return [*story, _note("Nothing: every potential DLT is decided and no grade 3 or more "
                              "lab result in a DLT window lacks an adverse event.")]  # fmt: skip
    rows = [
        [item["subject_id"], PENDING_KINDS.get(item["kind"], item["kind"]), item["what"],
         item["days_pending"]]
        for item in pending
    ]  # fmt: skip
    return [
        *story,
        pdf.table(
            rows,
            ["Subject", "Pending", "What", "Days pending"],
            col_widths=[w * mm for w in (18, 38, 104, 20)],
            numeric_from=3,
        ),
        _gap(),
        _note(
            "Lab toxicity: a result of CTCAE grade 3 or more collected in the subject's DLT window "
            "with no adverse event of its term; it stays pending until an adverse event is "
            "recorded or an investigator signs that it is not a DLT. Days pending: since the "
            "onset, or since the sample was collected, to the cutoff."
        ),
    ]


def _evaluability(frames: SafetyFrames) -> list[Flowable]:
    """Each subject past day 1: dose level, exposure per agent in the DLT window, window end,
    evaluable or not and why, as the DLT dashboard gives them."""
    subjects = frames.dlt_report["subjects"]
    story: list[Flowable] = [_gap(), pdf.heading("DLT evaluability", 2)]
    if not subjects:
        return [*story, _note("No subject has reached day 1.")]
    rows = [
        [row["subject_id"], f"DL{row['dose_level']}",
         ", ".join(f"{agent} {pct:g}%" for agent, pct in sorted(row["exposure_pct"].items())),
         row["window_end"] or "", "yes" if row["evaluable"] else "no", row["evaluable_reason"]]
        for row in subjects
    ]  # fmt: skip
    return [
        *story,
        pdf.table(
            rows,
            [
                "Subject",
                "Dose level",
                "Exposure in the window",
                "Window ends",
                "Evaluable",
                "Reason",
            ],
            col_widths=[w * mm for w in (17, 14, 38, 20, 18, 73)],
        ),  # fmt: skip
        _gap(),
        _note(
            "Exposure: dose given over dose planned in the DLT window, per agent. A dose missed or "
            "reduced for an adverse event does not make the subject non-evaluable when the study "
            "says so (dlt.underdosing_for_toxicity_evaluable)."
        ),
    ]


def _ae_overview(frames: SafetyFrames, tables: SafetyTables) -> list[Flowable]:
    story = _counts_section(
        SECTIONS[4], tables.ae_overview, tables, tables.treated_sizes, "Subjects with",
        "Treatment-emergent adverse events (onset from the first dose of any agent, lead-in "
        f"included, to {frames.follow_up_days} days after the last dose) of the subjects treated "
        "by the cutoff, counted once per row; percent of treated subjects. Treatment-related: "
        "possibly, probably or definitely related to any study agent. Leading to a dose change: "
        "an agent's dose reduced, interrupted or withdrawn for it.",
    )  # fmt: skip
    story += [_gap(), pdf.heading("Adverse events outside the treatment-emergent window", 2)]
    outside = tables.outside_window
    if outside.empty:
        return [*story, _note("None: every adverse event of a treated subject is counted.")]
    rows = [
        [r.subject_code, f"DL{int(r.level)}", r.term, r.grade,
         f"{_date(r.onset_on)} (day {r.onset_day})", r.why]
        for r in outside.itertuples()
    ]  # fmt: skip
    return [
        *story,
        pdf.table(
            rows,
            ["Subject", "Dose level", "Term", "Grade", "Onset", "Not counted because"],
            col_widths=[w * mm for w in (18, 16, 45, 13, 32, 56)],
        ),
        _gap(),
        _note("Listed, not counted in the adverse event tables."),
    ]


def _course(tables: SafetyTables) -> list[Flowable]:
    """Each treated subject's first and last dose, end of treatment and status."""
    course = tables.course
    reasons = dict(TreatmentEnd.choices)

    def day(value) -> str:
        return "" if pd.isna(value) else f"day {int(value)}"

    rows = [
        [r.subject_code, f"DL{r.level}", day(r.first_dose_day), day(r.last_dose_day),
         " ".join(filter(None, [day(r.treatment_end_day), reasons.get(r.treatment_end_reason, "")])),
         day(r.off_study_day), day(r.death_day),
         t.STATUS_LABELS[r.status] + (" (ongoing)" if r.ongoing else "")]
        for r in course.itertuples()
    ]  # fmt: skip
    return [
        pdf.heading("Course of each treated subject", 2),
        pdf.table(
            rows,
            [
                "Subject",
                "Dose level",
                "First dose",
                "Last dose",
                "End of treatment",
                "Off study",
                "Death",
                "Status at the cutoff",
            ],
            col_widths=[w * mm for w in (17, 15, 18, 18, 38, 18, 16, 40)],
        ),  # fmt: skip
        _gap(),
        _note(
            "Study days: day 1 is the first dose of cycle 1; the lead-in counts back from day -1 "
            "(no day 0). First and last dose: of any agent, given by the cutoff."
        ),
    ]


def _groups_per_chunk(label_width: float, group_width: float) -> int:
    return max(1, int((LANDSCAPE_WIDTH - label_width) // group_width))


def _chunks(columns: list, size: int) -> list[list]:
    return [columns[i : i + size] for i in range(0, len(columns), size)]


def column_parts(levels: list, groups_per_part: int) -> list[list]:
    """The dose level columns of a wide table split into parts that fit the page, each part
    ending with the Total column: a reader never looks for the Total pages away."""
    per_part = max(1, groups_per_part - 1)
    return [[*chunk, t.TOTAL] for chunk in _chunks(list(levels), per_part)] or [[t.TOTAL]]


AE_LABEL_WIDTH, AE_CELL_WIDTH = 64 * mm, 16 * mm
AE_COLUMNS = (("all_grades", "All grades"), ("grade_3_plus", "Grade 3-5"))


def _grade_table(title: str, rows: pd.DataFrame, tables: SafetyTables) -> list[Flowable]:
    """Subjects by SOC and term, all grades and grade 3 or more per dose level: one table the
    width of a landscape page, or parts that each repeat the stub and the Total."""
    sizes = tables.treated_sizes
    story: list[Flowable] = [pdf.heading(title, 2)]
    order = rows.drop_duplicates(["soc", "term"])[["soc", "term"]]
    labels = [term if term else soc for soc, term in order.itertuples(index=False)]
    highlight = [i for i, term in enumerate(order["term"]) if term in ("", t.ANY_EVENT)]
    # A dict, not a MultiIndex lookup per cell: a 500-subject table has thousands of cells.
    cells = {
        (soc, term, level): {"all_grades": all_grades, "grade_3_plus": grade_3_plus}
        for soc, term, level, all_grades, grade_3_plus in rows[list(t.AE_ROW_COLUMNS)].itertuples(
            index=False, name=None
        )
    }
    parts = column_parts(
        tables.shown_levels, _groups_per_chunk(AE_LABEL_WIDTH, AE_CELL_WIDTH * len(AE_COLUMNS))
    )
    for number, group in enumerate(parts, start=1):
        if len(parts) > 1:
            story.append(_note(f"Dose level columns, part {number} of {len(parts)}"))
        body = []
        for label, (soc, term) in zip(labels, order.itertuples(index=False), strict=True):
            line = [label]
            for level in group:
                for column, _ in AE_COLUMNS:
                    count = int(cells[(soc, term, level)][column])
                    line.append(_n_pct(count, sizes[level]))
            body.append(line)
        story += [
            pdf.table(
                body,
                ["System organ class / term", *(head for _ in group for _, head in AE_COLUMNS)],
                col_widths=[AE_LABEL_WIDTH, *([AE_CELL_WIDTH] * (len(group) * len(AE_COLUMNS)))],
                numeric_from=1,
                group_header=[
                    ("", 1),
                    *((_column_header(tables, sizes, g), len(AE_COLUMNS)) for g in group),
                ],
                highlight_rows=highlight,
            ),
            _gap(),
        ]
    return story


def _n_pct(count: int, size: int, mark: str = "") -> str:
    """ "n (p%)" with p the percent of `size`, rounded half up; blank for 0."""
    return f"{count} ({t.percent(count, size)}%){mark}" if count else ""


def _adverse_events(tables: SafetyTables) -> list[Flowable]:
    return [
        pdf.heading(SECTIONS[5]),
        _note(
            "Subjects with the event: once per term, once per system organ class (shaded) and "
            "once in the first row; All grades: any CTCAE grade; Grade 3-5: a worst grade of 3 "
            "or more (CTCAE v5.0 severe, life-threatening or fatal). n (%), the percent of the "
            "column's treated subjects; blank is none. Dose levels nobody received have no "
            "column."
        ),
        *_grade_table("All adverse events", tables.adverse_events, tables),
        *_grade_table(
            "Treatment-related adverse events (possibly, probably or definitely related to any "
            "agent)",
            tables.related_adverse_events,
            tables,
        ),
    ]


def _date(value) -> str:
    return "" if pd.isna(value) else value.strftime("%Y-%m-%d")


def _level(value) -> str:
    return f"DL{int(value)}"


LISTING_ROWS = 150


def _listing(
    title: str, frame: pd.DataFrame, empty: str, columns, widths, *, first: bool = False
) -> list[Flowable]:
    """A listing under its heading: `columns` are (header, function of a row). The first
    listing of a section has no space above, which would part the heading from the section's."""
    story: list[Flowable] = [*([] if first else [_gap()]), pdf.heading(title, 2)]
    if frame.empty:
        return [*story, _note(empty)]
    rows = [[value(r) for _, value in columns] for r in frame.itertuples()]
    # reportlab splits a long table at each page by measuring what is left, so the time grows
    # with the square of its rows: a long listing is set as tables of LISTING_ROWS rows.
    for start in range(0, len(rows), LISTING_ROWS):
        story.append(
            pdf.table(
                rows[start : start + LISTING_ROWS],
                [head for head, _ in columns],
                col_widths=[w * mm for w in widths],
            )
        )
    return story


def _serious(tables: SafetyTables) -> list[Flowable]:
    story: list[Flowable] = [pdf.heading(SECTIONS[6])]
    story += _listing(
        "Serious adverse events", tables.sae, "No serious adverse event.",
        [("Subject", lambda r: r.subject_code), ("Dose level", lambda r: _level(r.level)),
         ("Term", lambda r: r.term), ("Verbatim", lambda r: r.verbatim),
         ("Grade", lambda r: r.grade),
         ("Onset", lambda r: f"{_date(r.onset_on)} (day {r.onset_day})"),
         ("Resolved", lambda r: _date(r.resolved_on)), ("Seriousness", lambda r: r.criteria),
         ("Outcome", lambda r: OUTCOMES.get(r.outcome, r.outcome)),
         ("Related to", lambda r: r.related)],
        (17, 14, 38, 38, 13, 27, 18, 34, 22, 46), first=True,
    )  # fmt: skip
    story += _listing(
        "Adverse events of grade 3 or more", tables.grade_3, "No adverse event of grade 3 or more.",
        [("Subject", lambda r: r.subject_code), ("Dose level", lambda r: _level(r.level)),
         ("Term", lambda r: r.term), ("Grade", lambda r: r.grade),
         ("Onset day", lambda r: r.onset_day), ("Resolved", lambda r: r.resolution),
         ("Related to", lambda r: r.related),
         ("Serious", lambda r: "yes" if r.serious else "no")],
        (20, 16, 70, 14, 16, 34, 80, 17),
    )  # fmt: skip
    story += _listing(
        "Adverse events leading to discontinuation", tables.discontinuations,
        "No adverse event led to discontinuation.",
        [("Subject", lambda r: r.subject_code), ("Dose level", lambda r: _level(r.level)),
         ("Term", lambda r: r.term), ("Grade", lambda r: r.grade),
         ("Onset day", lambda r: r.onset_day), ("Resolved", lambda r: r.resolution),
         ("Agents withdrawn", lambda r: r.withdrawn), ("Related to", lambda r: r.related)],
        (20, 16, 64, 14, 16, 34, 35, 68),
    )  # fmt: skip
    story += _listing(
        "Deaths", tables.deaths, "No deaths.",
        [("Subject", lambda r: r.subject_code), ("Dose level", lambda r: _level(r.level)),
         ("Date of death", lambda r: _date(r.death_on)),
         ("Study day", lambda r: "" if pd.isna(r.death_day) else r.death_day),
         ("Days since last dose", lambda r: "" if pd.isna(r.days_since_last_dose)
          else r.days_since_last_dose),
         ("Cause (term)", lambda r: r.term), ("Verbatim", lambda r: r.verbatim),
         ("Grade", lambda r: r.grade), ("Attribution of the fatal event", lambda r: r.attribution)],
        (18, 15, 22, 15, 18, 50, 45, 13, 71),
    )  # fmt: skip
    story += [
        _gap(),
        _note(
            "Days are study days: day 1 is the first dose of cycle 1, the day before it day -1. "
            "Related to: the agents an event is at least possibly related to. Leading to "
            "discontinuation: an agent withdrawn for the event, or the events ongoing when the "
            "subject's treatment ended for an adverse event (the reason recorded with the end of "
            "treatment). Days since last dose: "
            "from the last dose of any agent given on or before the day of death."
        ),
    ]
    return story


# Two blocks side by side on a landscape page: the low and high blocks of a test, or two tests.
SHIFT_LEVEL_WIDTH, SHIFT_BASELINE_WIDTH, SHIFT_CELL_WIDTH = 26 * mm, 16 * mm, 17.5 * mm
SHIFT_BLOCK_WIDTH = LANDSCAPE_WIDTH / 2
DIRECTION_WORDS = {t.LOW: "low", t.HIGH: "high"}


def _shift_title(tables: SafetyTables, test: str, direction: str, term: str) -> str:
    name = t.LAB_TESTS[test].name if test in t.LAB_TESTS else test
    unit = tables.shift_units.get(test, "")
    return (
        f"{name} ({unit}), {DIRECTION_WORDS[direction]}: {term}"
        if unit
        else (f"{name}, {DIRECTION_WORDS[direction]}: {term}")
    )


def _shift_block(tables: SafetyTables, block: pd.DataFrame) -> list[Flowable]:
    """One (test, direction) block: rows dose level x baseline grade, columns the worst grade."""
    first = block.iloc[0]
    baselines = [b for b in [*t.LAB_GRADES, t.MISSING] if b in set(block["baseline_grade"])]
    cells = {
        (level, baseline, worst): (subjects, marked)
        for level, baseline, worst, subjects, marked in block[
            ["level", "baseline_grade", "worst_grade", "subjects", "against_baseline"]
        ].itertuples(index=False, name=None)
    }
    rows = []
    for level in [*tables.shown_levels, t.TOTAL]:
        at_level = block[block["level"] == level]
        if at_level.empty:
            continue
        size = int(at_level["level_subjects"].iloc[0])
        name = t.TOTAL if level == t.TOTAL else _level(level)
        for number, baseline in enumerate(baselines):
            line = [f"{name} (n={size})" if number == 0 else "", str(baseline)]
            for worst in t.LAB_GRADES:
                count, marked = cells.get((level, baseline, worst), (0, 0))
                line.append(_n_pct(int(count), size, t.BASELINE_MARK if marked else ""))
            rows.append(line)
    table = pdf.table(
        rows,
        ["Dose level", "Baseline", *(str(grade) for grade in t.LAB_GRADES)],
        col_widths=[
            SHIFT_LEVEL_WIDTH,
            SHIFT_BASELINE_WIDTH,
            *([SHIFT_CELL_WIDTH] * len(t.LAB_GRADES)),
        ],  # fmt: skip
        numeric_from=2,
        group_header=[("", 2), ("Worst grade after the first dose", len(t.LAB_GRADES))],
    )
    title = _shift_title(tables, first["test"], first["direction"], first["term"])
    return [pdf.heading(title, 3), table, _gap(2 * mm)]


def _side_by_side(blocks: list[list[Flowable]], lead: list[Flowable]) -> Flowable:
    """One or two shift blocks next to each other, kept on one page with `lead` (a heading
    that must not be left at the foot of a page); `lead` is emptied."""
    cells = [*blocks, *([[]] * (2 - len(blocks)))]
    row = Table([cells], colWidths=[SHIFT_BLOCK_WIDTH] * 2, hAlign="LEFT")
    row.setStyle(
        TableStyle(
            [
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
                ("LEFTPADDING", (0, 0), (-1, -1), 0),
                ("RIGHTPADDING", (0, 0), (-1, -1), 0),
                ("TOPPADDING", (0, 0), (-1, -1), 0),
                ("BOTTOMPADDING", (0, 0), (-1, -1), 0),
            ]
        )
    )
    kept = KeepTogether([*lead, row])
    lead.clear()
    return kept


def _shift_panel(title: str, tables: SafetyTables, tests: tuple[str, ...]) -> list[Flowable]:
    rows = tables.shift_tables
    rows = rows[rows["test"].isin(tests)]
    heading = [pdf.heading(title, 2)]
    if rows.empty:
        return [*heading, _note("No graded post-baseline results.")]
    story: list[Flowable] = []
    quiet, pending = [], []
    for _test, of_test in rows.groupby("test", sort=False):
        shown = []
        for _direction, block in of_test.groupby("direction", sort=False):
            total = block[block["level"] == t.TOTAL]
            if ((total["baseline_grade"] == 0) & (total["worst_grade"] == 0)).all():
                first = block.iloc[0]
                quiet.append(f"{first['term']} (n={int(total['level_subjects'].iloc[0])})")
            else:
                shown.append(_shift_block(tables, block))
        # A test's low and high blocks share a row; a one-block test waits for the next one.
        if len(shown) == 2:
            if pending:
                story.append(_side_by_side(pending, heading))
                pending = []
            story.append(_side_by_side(shown, heading))
        elif shown:
            pending += shown
            if len(pending) == 2:
                story.append(_side_by_side(pending, heading))
                pending = []
    if pending:
        story.append(_side_by_side(pending, heading))
    story = [*heading, *story]
    if quiet:
        story.append(
            _note(
                "Grade 0 at baseline and after the first dose for every subject: "
                + "; ".join(quiet)
                + "."
            )
        )
    return story


def _labs(tables: SafetyTables) -> list[Flowable]:
    names = "; ".join(tables.level_names[level] for level in tables.shown_levels)
    return [
        pdf.heading(SECTIONS[7]),
        _note(f"Dose levels: {names}." if names else "No dose level has a treated subject."),
        _note(
            "Subjects by baseline CTCAE v5.0 grade (the last result on or before the first "
            "dose) and worst grade after the first dose, one block per test and direction: "
            "low for the decreased / hypo term, high for the increased / hyper term. In each "
            "block a result graded in the other direction, or normal, is grade 0. n (%), the "
            "percent of the block's subjects at that dose level (n=); subjects with at least one "
            "graded result after the first dose; Missing: no baseline result; baseline grades "
            f"no subject had are not shown. {t.BASELINE_MARK}: the cell holds a subject whose "
            "grade was decided by their baseline value (CTCAE v5.0 criteria in multiples of an "
            "abnormal baseline: ALT, AST, ALP, GGT, bilirubin, haemoglobin increased; "
            "creatinine x baseline)."
        ),
        *_shift_panel("Haematology", tables, t.HAEMATOLOGY_TESTS),
        *_shift_panel("Chemistry", tables, t.CHEMISTRY_TESTS),
    ]


LAB_FIGURES = (
    # title, frame attribute, axis title with unit, grade lines, graded downwards
    ("ALT by subject", "alt_course", "ALT / ULN (multiple of the upper limit of normal)",
     t.ALT_GRADE_LINES, False),
    ("Neutrophil count by subject", "neutrophil_course", "Neutrophils (10^9/L)",
     t.NEUTROPHIL_GRADE_LINES, True),
)  # fmt: skip


def _lab_caption(frame: pd.DataFrame, title: str) -> str:
    from .figures import MAX_SUBJECT_LINES, lab_figure_mode

    test = "ALT" if title.startswith("ALT") else "neutrophil count"
    modes = {lab_figure_mode(rows) for _, rows in frame.groupby("level")}
    lines = f"one line per subject through every {test} result on or before the cutoff"
    medians = (
        f"per study week, the median {test} (dot and line), the interquartile range (band), "
        "the lowest to highest result (whisker) and the number of results (n, above it)"
    )
    if modes == {"subjects"}:
        drawn = f"One panel per dose level: {lines}."
    elif modes == {"median"}:
        drawn = (
            f"One panel per dose level, each of more than {MAX_SUBJECT_LINES} subjects: {medians}."
        )
    else:
        drawn = (
            f"One panel per dose level: {lines}; in a level of more than {MAX_SUBJECT_LINES} "
            f"subjects, {medians}."
        )
    baseline = (
        " For a subject with an abnormal baseline, ALT grades are multiples of baseline instead."
        if test == "ALT"
        else ""
    )
    return (
        f"{drawn} {frame['subject_code'].nunique()} subjects, {len(frame)} results; the legend "
        "gives the subjects per level. Dashed red lines: CTCAE v5.0 grade thresholds in view, "
        f"and the next beyond the worst value.{baseline} The panels share one value axis that "
        "holds every result: none is cut off."
    )


def _figures(tables: SafetyTables) -> list[Flowable]:
    from . import figures

    story: list[Flowable] = [pdf.heading(SECTIONS[8]), pdf.heading("Swimmer plot", 2)]
    if tables.swimmer_subjects.empty:
        story.append(_note("No treated subjects."))
    else:
        story += figures.swimmer_plot(
            tables.swimmer_subjects, tables.swimmer_markers, width=PORTRAIT_WIDTH
        )
    for title, name, y_label, lines, low in LAB_FIGURES:
        story += _lab_panels(tables, getattr(tables, name), title, y_label, lines, low)
    return story


CHECK_LABELS = {
    "ae_grade_vs_lab": "Adverse event grade against the lab values of its term",
    "action_vs_dosing": "Action taken on the adverse event form against the dosing records",
    "attribution_before_first_dose": "Attribution to an agent before its first dose",
    "term_impossible_for_subject": "Term impossible for the subject's sex or age",
}


def _consistency(tables: SafetyTables) -> list[Flowable]:
    story: list[Flowable] = [
        pdf.heading(SECTIONS[9]),
        _note(
            "Each finding is also an automatic data query on the adverse event, which closes "
            "itself when the data no longer disagree. Findings at the cutoff:"
        ),
        _gap(),
    ]
    rows = tables.consistency.sort_values(["check", "subject_id"], kind="stable")
    if rows.empty:
        return [*story, _note("None: the forms agree on every check.")]
    listing = [
        [r.subject_id, CHECK_LABELS.get(r.check, r.check), r.detail] for r in rows.itertuples()
    ]
    return [
        *story,
        pdf.table(
            listing,
            ["Subject", "Check", "Finding"],
            col_widths=[w * mm for w in (18, 52, PORTRAIT_WIDTH / mm - 70)],
        ),
    ]


def _lab_panels(tables: SafetyTables, frame: pd.DataFrame, title: str, y_label: str,
                lines, low: bool) -> list[Flowable]:  # fmt: skip
    """One panel per dose level on a shared value axis (the same grade lines in each), then
    the caption."""
    from . import figures

    story: list[Flowable] = [_gap()]
    if frame.empty:
        return [*story, pdf.heading(title, 2), _note("No results.")]
    values = frame["value"].to_numpy(dtype=float)
    shown = figures.grade_lines_in_view(values, lines, low=low)
    span = (float(values.min()), float(values.max()))
    panels = []
    for level, rows in frame.groupby("level", sort=True):
        panels.append(
            figures.lab_time_course(
                rows,
                title=f"{title}: {tables.level_names[int(level)]}",
                y_label=y_label,
                width=PORTRAIT_WIDTH,
                height=62 * mm,
                grade_lines=shown,
                low=low,
                y_range=span,
            )  # fmt: skip
        )
        panels.append(_gap(2 * mm))
    return [*story, pdf.heading(title, 2), *panels, _note(_lab_caption(frame, title))]


def _story(report: SafetyReport) -> list[Flowable]:
    frames, tables = report.frames, report.tables
    story = _cover(report)
    if frames.subjects.empty:
        return [*story, _gap(), pdf.paragraph(NO_SUBJECTS)]
    story += [
        *pdf.portrait_pages(),
        *_disposition(tables),
        _gap(),
        *_course(tables),
        _gap(6 * mm),
        *_exposure(tables),
        *pdf.portrait_pages(),
        *_dlts(frames, tables),
        _gap(6 * mm),
        *_ae_overview(frames, tables),
        *pdf.landscape_pages(),
        *_adverse_events(tables),
        *pdf.landscape_pages(),
        *_serious(tables),
        *pdf.landscape_pages(),
        *_labs(tables),
        *pdf.portrait_pages(),
        *_figures(tables),
        *pdf.portrait_pages(),
        *_consistency(tables),
    ]
    return story
