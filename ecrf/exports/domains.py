"""The long analysis tables of a study: one pandas frame per CRF domain.

One row per record (subject, visit, dose, adverse event, agent assessment, step of an adverse
event's grade history, lab result, DLT assessment), each frame built from one query
(`values_list` straight into pandas), never from a loop over model instances. The audit trail,
the longest table by far, is read in chunks instead (`ecrf.exports.audit`). Coded values come with their labels (`status` and
`status_label`). Records marked entered-in-error are kept, with `entered_in_error` and its
reason, so that nothing is silently dropped; the SDTM datasets (`ecrf.exports.sdtm`) leave them
out. The data model holds no direct identifier beyond subject ID, sex and birth year, and these
tables add none.
"""

from __future__ import annotations

from itertools import islice

import numpy as np
import pandas as pd
from django.db.models import F, FloatField, Q, QuerySet
from django.db.models.functions import Cast

from ..models import (
    ActionTaken,
    AdverseEvent,
    AdverseEventAgent,
    AdverseEventGrade,
    Attribution,
    DltAssessment,
    DltDecision,
    DltStatus,
    DoseAdministration,
    LabResult,
    LabTest,
    Outcome,
    Sex,
    Study,
    Subject,
    SubjectStatus,
    Visit,
    VisitKind,
    VisitStatus,
)

# The clinical tables in the order they are written (file names, workbook sheets); the audit
# trail (`ecrf.exports.audit`) comes after them.
DOMAINS = (
    "subjects",
    "visits",
    "doses",
    "adverse_events",
    "adverse_event_agents",
    "adverse_event_grade_history",
    "labs",
    "dlt_assessments",
)

FRAME_CHUNK_ROWS = 20_000  # rows read into a frame at a time

# Worst first is the highest rank: the attribution that counts for a DLT is the strongest.
ATTRIBUTION_RANK = {value: rank for rank, value in enumerate(Attribution.values)}

DOSE_CHANGES = {
    "as_planned": "As planned",
    "reduced": "Reduced",
    "increased": "Increased",
    "missed": "Missed",
}


def _number(field: str) -> Cast:
    # Decimals come out as floats: one C conversion in the database instead of one Decimal per
    # cell, and pandas keeps a float column.
    return Cast(field, FloatField())


def _frame(queryset: QuerySet, columns: dict[str, object]) -> pd.DataFrame:
    """Run one query for `columns` (name -> field path or expression) into a frame.

    The rows are read FRAME_CHUNK_ROWS at a time and each chunk becomes typed columns before
    the next is read, so that a long table never holds all its rows as Python objects at
    once (they take several times the memory of the frame). A column that two chunks type
    differently (empty throughout one of them) is typed again over all its values, as one
    reading of every row would have typed it.
    """
    names = list(columns)
    rows = queryset.values_list(*columns.values()).iterator(chunk_size=FRAME_CHUNK_ROWS)
    parts = []
    while chunk := list(islice(rows, FRAME_CHUNK_ROWS)):
        parts.append(pd.DataFrame.from_records(chunk, columns=names, coerce_float=False))
        del chunk
    if len(parts) <= 1:
        return parts[0] if parts else pd.DataFrame.from_records([], columns=names)
    frame = pd.concat(parts, ignore_index=True)
    for name in names:
        if any(part[name].dtype != parts[0][name].dtype for part in parts):
            values = np.concatenate([part[name].to_numpy(dtype=object) for part in parts])
            frame[name] = pd.DataFrame.from_records(
                list(zip(values)), columns=[name], coerce_float=False
            )[name]
    return frame


def _label(frame: pd.DataFrame, column: str, choices, *, after: str | None = None) -> None:
    """Insert `<column>_label` right after `column` (or `after`), from the choices' labels."""
    labels = frame[column].map(dict(choices)).astype(object)
    position = frame.columns.get_loc(after or column) + 1
    frame.insert(position, f"{column}_label", labels)


def _text_ids(frame: pd.DataFrame, *columns: str) -> None:
    for column in columns:
        frame[column] = frame[column].map(str, na_action="ignore").astype(object)


def _utc(frame: pd.DataFrame, *columns: str) -> None:
    for column in columns:
        frame[column] = pd.to_datetime(frame[column], utc=True)


def _subject_filter(study: Study, subjects: QuerySet | None, path: str = "subject") -> Q:
    condition = Q(**{f"{path}__study": study})
    if subjects is not None:
        condition &= Q(**{f"{path}__in": subjects})
    return condition


def subjects_frame(study: Study, subjects: QuerySet | None = None) -> pd.DataFrame:
    queryset = Subject.objects.filter(study=study)
    if subjects is not None:
        queryset = queryset.filter(pk__in=subjects)
    frame = _frame(
        queryset.order_by("subject_code"),
        {
            "study": "study__code",
            "subject_id": "subject_code",
            "site": "site__code",
            "sex": "sex",
            "birth_year": "birth_year",
            "status": "status",
            "consent_on": "consent_on",
            "eligibility_confirmed_on": "eligibility_confirmed_on",
            "enrolled_on": "enrolled_on",
            "dose_level": "dose_level__level",
            "dose_level_label": "dose_level__label",
            "first_dose_on": "first_dose_on",
            "off_study_on": "off_study_on",
            "off_study_reason": "off_study_reason",
            "entered_in_error": "entered_in_error",
            "entered_in_error_reason": "entered_in_error_reason",
            "record_id": "id",
        },
    )
    frame["dose_level"] = frame["dose_level"].astype("Int64")
    frame["birth_year"] = frame["birth_year"].astype("Int64")
    _label(frame, "sex", Sex.choices)
    _label(frame, "status", SubjectStatus.choices)
    _text_ids(frame, "record_id")
    return frame


def visits_frame(study: Study, subjects: QuerySet | None = None) -> pd.DataFrame:
    frame = _frame(
        Visit.objects.filter(_subject_filter(study, subjects)).order_by(
            "subject__subject_code", F("planned_on").asc(nulls_last=True), "label"
        ),
        {
            "study": "subject__study__code",
            "subject_id": "subject__subject_code",
            "site": "subject__site__code",
            "visit": "label",
            "kind": "kind",
            "cycle": "cycle",
            "day": "day",
            "planned_on": "planned_on",
            "window_before": "window_before",
            "window_after": "window_after",
            "status": "status",
            "done_on": "done_on",
            "missed_reason": "missed_reason",
            "entered_in_error": "entered_in_error",
            "entered_in_error_reason": "entered_in_error_reason",
            "record_id": "id",
        },
    )
    frame["cycle"] = frame["cycle"].astype("Int64")
    frame["day"] = frame["day"].astype("Int64")
    _label(frame, "kind", VisitKind.choices)
    _label(frame, "status", VisitStatus.choices)
    _text_ids(frame, "record_id")
    return frame


def dose_change(planned: pd.Series, given: pd.Series) -> pd.Series:
    """as_planned, reduced, increased or missed (nothing given of a planned dose)."""
    change = pd.Series("as_planned", index=planned.index, dtype=object)
    change[given < planned] = "reduced"
    change[given > planned] = "increased"
    change[(given == 0) & (planned > 0)] = "missed"
    return change


def doses_frame(study: Study, subjects: QuerySet | None = None) -> pd.DataFrame:
    frame = _frame(
        DoseAdministration.objects.filter(_subject_filter(study, subjects)).order_by(
            "subject__subject_code", "given_on", "agent__code"
        ),
        {
            "study": "subject__study__code",
            "subject_id": "subject__subject_code",
            "site": "subject__site__code",
            "dose_level": "subject__dose_level__level",
            "agent": "agent__code",
            "agent_name": "agent__name",
            "given_on": "given_on",
            "cycle": "cycle",
            "day": "day",
            "visit": "visit__label",
            "planned_dose": _number("planned_dose"),
            "given_dose": _number("given_dose"),
            "unit": "unit",
            "reason": "reason",
            "adverse_event_id": "adverse_event_id",
            "entered_in_error": "entered_in_error",
            "entered_in_error_reason": "entered_in_error_reason",
            "record_id": "id",
        },
    )
    frame["dose_level"] = frame["dose_level"].astype("Int64")
    frame.insert(
        frame.columns.get_loc("unit") + 1,
        "dose_change",
        dose_change(frame["planned_dose"], frame["given_dose"]),
    )
    _label(frame, "dose_change", DOSE_CHANGES.items())
    _text_ids(frame, "adverse_event_id", "record_id")
    return frame


SERIOUSNESS_COLUMNS = (
    "sae_death",
    "sae_life_threatening",
    "sae_hospitalisation",
    "sae_disability",
    "sae_congenital_anomaly",
    "sae_important_medical_event",
)


def adverse_event_agents_frame(study: Study, subjects: QuerySet | None = None) -> pd.DataFrame:
    """One row per adverse event and study agent: attribution and action taken."""
    frame = _frame(
        AdverseEventAgent.objects.filter(
            _subject_filter(study, subjects, "adverse_event__subject")
        ).order_by(
            "adverse_event__subject__subject_code",
            "adverse_event__onset_on",
            "adverse_event__ctcae_term",
            "adverse_event_id",
            "agent__code",
        ),
        {
            "study": "adverse_event__subject__study__code",
            "subject_id": "adverse_event__subject__subject_code",
            "adverse_event_id": "adverse_event_id",
            "ctcae_term": "adverse_event__ctcae_term",
            "onset_on": "adverse_event__onset_on",
            "agent": "agent__code",
            "agent_name": "agent__name",
            "attribution": "attribution",
            "action_taken": "action_taken",
            "adverse_event_entered_in_error": "adverse_event__entered_in_error",
            "entered_in_error": "entered_in_error",
            "entered_in_error_reason": "entered_in_error_reason",
            "record_id": "id",
        },
    )
    _label(frame, "attribution", Attribution.choices)
    _label(frame, "action_taken", ActionTaken.choices)
    _text_ids(frame, "adverse_event_id", "record_id")
    return frame


def adverse_events_frame(
    study: Study, subjects: QuerySet | None = None, agents: pd.DataFrame | None = None
) -> pd.DataFrame:
    """One row per adverse event, with the worst attribution over its agents and DLT status.

    `agents` is the adverse_event_agents frame when the caller has it already.
    """
    frame = _frame(
        AdverseEvent.objects.filter(_subject_filter(study, subjects)).order_by(
            "subject__subject_code", "onset_on", "ctcae_term", "id"
        ),
        {
            "study": "subject__study__code",
            "subject_id": "subject__subject_code",
            "site": "subject__site__code",
            "dose_level": "subject__dose_level__level",
            "ctcae_version": "ctcae_version",
            "ctcae_term": "ctcae_term",
            "meddra_code": "meddra_code",
            "soc": "soc",
            "verbatim": "verbatim",
            "grade": "grade",
            "onset_on": "onset_on",
            "resolved_on": "resolved_on",
            "serious": "serious",
            **{name: name for name in SERIOUSNESS_COLUMNS},
            "outcome": "outcome",
            "death_on": "death_on",
            "despite_supportive_care": "despite_supportive_care",
            "dlt_status": "dlt_assessment__status",
            "entered_in_error": "entered_in_error",
            "entered_in_error_reason": "entered_in_error_reason",
            "record_id": "id",
        },
    )
    frame["dose_level"] = frame["dose_level"].astype("Int64")
    _text_ids(frame, "record_id")
    if agents is None:
        agents = adverse_event_agents_frame(study, subjects)
    # The worst attribution of the agents still in force: the one the DLT rules use.
    valid = agents[~agents["entered_in_error"].astype(bool)]
    ranks = valid["attribution"].map(ATTRIBUTION_RANK)
    worst_rank = ranks.groupby(valid["adverse_event_id"]).max()
    worst = frame["record_id"].map(worst_rank).map(dict(enumerate(Attribution.values)))
    frame.insert(frame.columns.get_loc("death_on") + 1, "worst_attribution", worst.astype(object))
    _label(frame, "outcome", Outcome.choices)
    _label(frame, "worst_attribution", Attribution.choices)
    _label(frame, "dlt_status", DltStatus.choices)
    return frame


def adverse_event_grade_history_frame(
    study: Study, subjects: QuerySet | None = None
) -> pd.DataFrame:
    """One row per step of an adverse event's grade history: the event is at `grade` from
    `from_on` to `to_on`, the next step's date or else the event's resolution date (empty while
    it is ongoing).

    `to_on` is worked out among the steps in force; a step entered in error keeps its row,
    flagged, with no `to_on`. An event with no steps was at its grade (`adverse_events`) from
    onset to resolution and has no row here.
    """
    frame = _frame(
        AdverseEventGrade.objects.filter(
            _subject_filter(study, subjects, "adverse_event__subject")
        ).order_by(
            "adverse_event__subject__subject_code",
            "adverse_event__onset_on",
            "adverse_event__ctcae_term",
            "adverse_event_id",
            "from_on",
            "entered_in_error",
            "id",
        ),
        {
            "study": "adverse_event__subject__study__code",
            "subject_id": "adverse_event__subject__subject_code",
            "site": "adverse_event__subject__site__code",
            "adverse_event_id": "adverse_event_id",
            "ctcae_term": "adverse_event__ctcae_term",
            "grade": "grade",
            "from_on": "from_on",
            "resolved_on": "adverse_event__resolved_on",
            "adverse_event_entered_in_error": "adverse_event__entered_in_error",
            "entered_in_error": "entered_in_error",
            "entered_in_error_reason": "entered_in_error_reason",
            "record_id": "id",
        },
    )
    in_force = ~frame["entered_in_error"].astype(bool)
    steps = frame[in_force]
    following = steps.groupby("adverse_event_id")["from_on"].shift(-1)
    to_on = following.where(following.notna(), steps["resolved_on"])
    frame.insert(
        frame.columns.get_loc("from_on") + 1,
        "to_on",
        to_on.reindex(frame.index).astype(object).where(lambda v: v.notna(), None),
    )
    frame = frame.drop(columns="resolved_on")
    _text_ids(frame, "adverse_event_id", "record_id")
    return frame


def labs_frame(study: Study, subjects: QuerySet | None = None) -> pd.DataFrame:
    frame = _frame(
        LabResult.objects.filter(_subject_filter(study, subjects)).order_by(
            "subject__subject_code", "collected_at", "test_code"
        ),
        {
            "study": "subject__study__code",
            "subject_id": "subject__subject_code",
            "site": "subject__site__code",
            "visit": "visit__label",
            "collected_at": "collected_at",
            "test_code": "test_code",
            "value": _number("value"),
            "unit": "unit",
            "lln": _number("lln"),
            "uln": _number("uln"),
            "ctcae_version": "ctcae_version",
            "ctcae_term": "ctcae_term",
            "ctcae_grade": "ctcae_grade",
            "entered_in_error": "entered_in_error",
            "entered_in_error_reason": "entered_in_error_reason",
            "record_id": "id",
        },
    )
    frame["ctcae_grade"] = frame["ctcae_grade"].astype("Int64")
    _utc(frame, "collected_at")
    _label(frame, "test_code", LabTest.choices)
    _text_ids(frame, "record_id")
    return frame


def dlt_assessments_frame(study: Study, subjects: QuerySet | None = None) -> pd.DataFrame:
    frame = _frame(
        DltAssessment.objects.filter(
            _subject_filter(study, subjects, "adverse_event__subject")
        ).order_by("adverse_event__subject__subject_code", "adverse_event__onset_on", "id"),
        {
            "study": "adverse_event__subject__study__code",
            "subject_id": "adverse_event__subject__subject_code",
            "adverse_event_id": "adverse_event_id",
            "ctcae_term": "adverse_event__ctcae_term",
            "grade": "adverse_event__grade",
            "onset_on": "adverse_event__onset_on",
            "onset_day": "onset_day",
            "rule_flag": "rule_flag",
            "rule": "rule",
            "rule_reason": "rule_reason",
            "decision": "decision",
            "decision_reason": "decision_reason",
            "decided_by": "decided_by__username",
            "decided_at": "decided_at",
            "needs_review": "needs_review",
            "status": "status",
            "adverse_event_entered_in_error": "adverse_event__entered_in_error",
            "record_id": "id",
        },
    )
    frame["onset_day"] = frame["onset_day"].astype("Int64")
    _utc(frame, "decided_at")
    _label(frame, "decision", DltDecision.choices)
    _label(frame, "status", DltStatus.choices)
    _text_ids(frame, "adverse_event_id", "record_id")
    return frame


def domain_frames(study: Study, subjects: QuerySet | None = None) -> dict[str, pd.DataFrame]:
    """Every long table of the study, keyed by DOMAINS.

    `subjects` restricts the tables to those subjects (a user's visible subjects, from
    `ecrf.access.subjects_for_user`). The audit trail is not among them: it is read in chunks
    as it is written (`ecrf.exports.audit`).
    """
    agents = adverse_event_agents_frame(study, subjects)
    frames = {
        "subjects": subjects_frame(study, subjects),
        "visits": visits_frame(study, subjects),
        "doses": doses_frame(study, subjects),
        "adverse_events": adverse_events_frame(study, subjects, agents),
        "adverse_event_agents": agents,
        "adverse_event_grade_history": adverse_event_grade_history_frame(study, subjects),
        "labs": labs_frame(study, subjects),
        "dlt_assessments": dlt_assessments_frame(study, subjects),
    }
    return {name: frames[name] for name in DOMAINS}
