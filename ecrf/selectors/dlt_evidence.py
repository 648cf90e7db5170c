"""The evidence an investigator reads before deciding on a potential DLT: the event and its
grade history, attribution and action per agent, the doses and lab results of the subject's
DLT window, and the rules' current flag. A fixed number of queries whatever the data size.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal
from uuid import UUID

from django.utils import timezone

from ..models import AdverseEvent, AdverseEventAgent, DoseAdministration, LabResult
from ..safety.days import study_day
from ..safety.dlt import DltFlag, window_end
from .dlt import DLT_OVERVIEW, dlt_attributions, dlt_flags, study_dlt_rules, study_dlt_settings
from .grade_history import Step, grade_history_of
from .memo import kept_already


@dataclass
class DoseRun:
    """Consecutive days on which one agent was given the same way (same planned and given dose,
    same reason): one row of the window's doses."""

    agent: str
    first_on: dt.date
    last_on: dt.date
    first_day: int
    last_day: int
    planned: Decimal
    given: Decimal
    unit: str
    reason: str
    days: int = 1

    @property
    def changed(self) -> bool:
        return self.given != self.planned


@dataclass
class DltEvidence:
    event: AdverseEvent
    flag: DltFlag | None
    grade_history: list[Step]
    agents: list[AdverseEventAgent]
    window_start: dt.date | None = None
    window_end: dt.date | None = None
    doses: list[DoseRun] = field(default_factory=list)
    abnormal_labs: list[LabResult] = field(default_factory=list)
    normal_labs: int = 0
    ungraded_labs: int = 0

    @property
    def onset_day(self) -> int | None:
        first = self.event.subject.first_dose_on
        return study_day(self.event.onset_on, first) if first else None


DOSE_COLUMNS = (
    "agent__code", "given_on", "planned_dose", "given_dose", "unit", "reason_category", "reason",
)  # fmt: skip


def _dose_runs(doses, first_dose_on: dt.date) -> list[DoseRun]:
    """The doses (rows of DOSE_COLUMNS, by agent, then date) as runs of consecutive identical
    days, by first day."""
    categories = dict(DoseAdministration._meta.get_field("reason_category").flatchoices)
    runs: list[DoseRun] = []
    last_of_agent: dict[str, DoseRun] = {}
    for agent, given_on, planned, given, unit, category, why in doses:
        reason = ": ".join(filter(None, (str(categories.get(category, category)), why)))
        run = last_of_agent.get(agent)
        if (
            run is not None
            and given_on == run.last_on + dt.timedelta(days=1)
            and (planned, given, unit, reason) == (run.planned, run.given, run.unit, run.reason)
        ):
            run.last_on, run.days = given_on, run.days + 1
            run.last_day = study_day(given_on, first_dose_on)
            continue
        day = study_day(given_on, first_dose_on)
        run = DoseRun(agent, given_on, given_on, day, day, planned, given, unit, reason)
        runs.append(run)
        last_of_agent[agent] = run
    return sorted(runs, key=lambda r: (r.first_on, r.agent))


def _kept_flag(event: AdverseEvent) -> tuple[bool, DltFlag | None]:
    """(found, flag): the event's flag in the study's DLT overview at today as the dashboard
    keeps it (`memo.kept_already`), when it is kept and the event is one of its candidates."""
    overview = kept_already(DLT_OVERVIEW, event.subject.study_id)
    for row in overview.subjects if overview is not None else []:
        if row.subject.pk == event.subject_id:
            for item in row.events:
                if item.event.pk == event.pk:
                    return True, item.flag
    return False, None


def _current_flag(event: AdverseEvent, cutoff: dt.date) -> DltFlag | None:
    """The rules' flag of the event today, as the DLT dashboard computes it (`dlt_flags`):
    taken from the kept overview when the event is one of its candidates, else computed over
    the subject's events."""
    if cutoff == timezone.localdate():
        found, flag = _kept_flag(event)
        if found:
            return flag
    return _computed_flag(event, cutoff)


def _computed_flag(event: AdverseEvent, cutoff: dt.date) -> DltFlag | None:
    """The rules' flag of the event at the cutoff, over the subject's events (`dlt_flags`)."""
    subject = event.subject
    study = subject.study
    subjects = [subject]
    flags = dlt_flags(
        subjects, dlt_attributions(subjects), cutoff, study_dlt_settings(study),
        study_dlt_rules(study).rules, also_event=event.pk,
    )  # fmt: skip
    # The keys are the database's text of the ids (without hyphens on SQLite).
    flag, _decision = {UUID(key): value for key, value in flags.items()}.get(event.pk, (None, ""))
    return flag


def dlt_evidence(event: AdverseEvent, cutoff: dt.date | None = None) -> DltEvidence:
    """What the decision page shows of `event` (its subject and study loaded with it)."""
    cutoff = cutoff or timezone.localdate()
    subject = event.subject
    evidence = DltEvidence(
        event,
        _current_flag(event, cutoff),
        grade_history_of(event),
        list(
            event.agent_assessments.filter(entered_in_error=False)
            .select_related("agent")
            .order_by("agent__code")
        ),
    )
    first = subject.first_dose_on
    if first is None:
        return evidence
    last = window_end(first, study_dlt_settings(subject.study))
    evidence.window_start, evidence.window_end = first, last
    doses = (
        DoseAdministration.objects.filter(
            subject=subject, entered_in_error=False, given_on__range=(first, last)
        )
        .order_by("agent__code", "given_on")
        .values_list(*DOSE_COLUMNS)
    )
    evidence.doses = _dose_runs(doses, first)
    for result in LabResult.objects.filter(
        subject=subject, entered_in_error=False, collected_at__date__range=(first, last)
    ).order_by("collected_at", "test_code"):
        if result.ctcae_grade is None:
            evidence.ungraded_labs += 1
        elif result.ctcae_grade == 0:
            evidence.normal_labs += 1
        else:
            result.study_day = study_day(timezone.localdate(result.collected_at), first)
            evidence.abnormal_labs.append(result)
    return evidence
