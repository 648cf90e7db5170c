"""The DLT overview of a study at a cutoff: every treated subject's DLT candidates and
evaluability, the per-dose-level counts and the escalation design's recommendation.

Loaders read plain values in a fixed number of queries whatever the size of the study
(DESIGN.md, rule 3); the pure rules (`ecrf.safety.dlt`, `ecrf.escalation`) do the rest.
"""

from __future__ import annotations

import copy
import datetime as dt
import json
from collections import defaultdict
from dataclasses import dataclass, field
from functools import cache
from uuid import UUID

from django.db.models import CharField, Count, F, Min, Q
from django.db.models.functions import Cast
from django.utils import timezone

from ..escalation import Recommendation, recommend
from ..models import (
    COUNTING_STATUSES,
    AdverseEvent,
    AdverseEventAgent,
    AdverseEventGrade,
    DltAssessment,
    DltStatus,
    DoseAdministration,
    LabResult,
    Study,
    Subject,
    TreatmentEnd,
)
from ..models import DltRuleSet as DltRuleSetVersion
from ..safety.dlt import (
    MIN_DLT_GRADE,
    DltFlag,
    DltSettings,
    DoseFacts,
    DoseLevelSummary,
    Evaluability,
    EventFacts,
    evaluate_event,
    evaluate_subject,
    exposure_percentages,
    passes_gate,
    summarise_dose_level,
    unreconciled_lab_toxicities,
    window_end,
)
from ..safety.dlt_rules import (
    AMINOTRANSFERASE_TESTS,
    BILIRUBIN_TEST,
    BLEEDING_MIN_GRADE,
    GROUP_BLEEDING,
    DltRuleSet,
    GradeStep,
    LabValue,
    NextCycle,
    OtherEvent,
    SubjectContext,
    default_rules,
    group_terms,
    parse_rules,
)
from ..safety.reconciliation import EventSpan, LabFinding
from .expressions import AddDays
from .memo import kept

# Events are matched to their attributions by the text of their key: turning tens of
# thousands of keys into UUID objects would take most of the time.
AS_TEXT = CharField()


def study_dlt_settings(study: Study) -> DltSettings:
    """The protocol's DLT rules of a study, as the pure rules take them."""
    return DltSettings(
        window_days=study.dlt_window_days,
        min_attribution=study.dlt_min_attribution,
        min_exposure_pct=study.dlt_min_exposure_pct,
        underdosing_for_toxicity_evaluable=study.dlt_underdosing_for_toxicity_evaluable,
    )


def dlt_status(rule_flag: bool, decision: str) -> str:
    """An investigator's decision overrides the rules' flag."""
    if decision:
        return decision
    return DltStatus.POTENTIAL if rule_flag else DltStatus.NOT_DLT


@dataclass
class EventDlt:
    event: AdverseEvent
    flag: DltFlag | None
    assessment: DltAssessment | None

    @property
    def status(self) -> str:
        decision = self.assessment.decision if self.assessment else ""
        return dlt_status(bool(self.flag and self.flag.is_dlt), decision)

    @property
    def counts(self) -> bool:
        return self.status in COUNTING_STATUSES

    @property
    def reason(self) -> str:
        if self.assessment and self.assessment.decision:
            return self.assessment.decision_reason
        return self.flag.reason if self.flag else ""


@dataclass
class SubjectDlt:
    """A treated subject's evaluability and DLT candidates: the events the rules flag or an
    investigator decided on (events that are not DLTs are left out), with what the committee
    checks evaluability against: the window's last day and, per agent code, the percentage of
    the planned dose given in the window (raw given/planned, one decimal, rounded down)."""

    subject: Subject
    level: int | None
    evaluability: Evaluability
    events: list[EventDlt] = field(default_factory=list)
    window_end: dt.date | None = None
    exposure_pct: dict[str, float] = field(default_factory=dict)

    @property
    def has_dlt(self) -> bool:
        return any(e.counts for e in self.events)


@dataclass
class LevelRow:
    level: int
    label: str
    summary: DoseLevelSummary


@dataclass
class UnreconciledLab:
    """A lab result of grade 3 or more in a treated subject's DLT window with no matching
    adverse event and no investigator's signed "not a DLT": an unreconciled potential DLT."""

    subject: Subject
    result: LabResult
    test: str
    term: str
    grade: int
    collected_on: dt.date
    days_pending: int


KIND_POTENTIAL_DLT = "potential_dlt"
KIND_UNRECONCILED_LAB = "unreconciled_lab"
PROVISIONAL = "Provisional: {count} pending ({parts}). {reason}"


def _count(n: int, one: str, many: str) -> str:
    return f"{n} {one if n == 1 else many}"


@dataclass
class DltOverview:
    study: Study
    cutoff: dt.date
    subjects: list[SubjectDlt]
    levels: list[LevelRow]
    recommendation: Recommendation
    outcomes: str
    unreconciled_labs: list[UnreconciledLab] = field(default_factory=list)
    # The DLT definition the flags come from.
    rules: StudyRules | None = None

    @property
    def queue(self) -> list[EventDlt]:
        """Potential DLTs awaiting an investigator's decision, oldest first."""
        pending = [e for s in self.subjects for e in s.events if e.status == DltStatus.POTENTIAL]
        return sorted(pending, key=lambda e: (e.event.onset_on, e.event.created_at))

    @property
    def pending(self) -> list[dict]:
        """What the advice waits on: undecided potential DLTs (days since onset) and
        unreconciled lab toxicities (days since collection), oldest first."""
        items = [
            {
                "kind": KIND_POTENTIAL_DLT,
                "subject_id": e.event.subject.subject_code,
                "what": f"{e.event.ctcae_term} grade {e.event.grade}, onset "
                f"{e.event.onset_on.isoformat()}",
                "days_pending": (self.cutoff - e.event.onset_on).days,
            }
            for e in self.queue
        ] + [
            {
                "kind": KIND_UNRECONCILED_LAB,
                "subject_id": lab.subject.subject_code,
                "what": f"{lab.test} {lab.term} grade {lab.grade}, collected "
                f"{lab.collected_on.isoformat()}, no adverse event",
                "days_pending": lab.days_pending,
            }
            for lab in self.unreconciled_labs
        ]
        return sorted(items, key=lambda item: -item["days_pending"])

    @property
    def provisional(self) -> bool:
        """True while any potential DLT is undecided or any lab toxicity unreconciled."""
        return bool(self.queue or self.unreconciled_labs)

    @property
    def advice(self) -> str:
        """The design's recommendation, marked provisional with what is pending."""
        reason = self.recommendation.reason
        if not self.provisional:
            return reason
        dlts, labs = len(self.queue), len(self.unreconciled_labs)
        parts = []
        if dlts:
            parts.append(_count(dlts, "potential DLT undecided", "potential DLTs undecided"))
        if labs:
            parts.append(_count(labs, "unreconciled lab toxicity", "unreconciled lab toxicities"))
        count = _count(dlts + labs, "item", "items")
        return PROVISIONAL.format(count=count, parts=", ".join(parts), reason=reason)


# Loaders: one query each.


def dlt_subjects(study: Study) -> list[Subject]:
    """The study's current subjects with a dose level, by subject code."""
    return list(
        study.subjects.filter(entered_in_error=False, dose_level__isnull=False)
        .select_related("dose_level", "site", "study")
        .order_by("subject_code")
    )


def _in_window(window_days: int) -> Q:
    """Events with onset on window days 1..window_days of their subject, and events an
    investigator decided on: the only ones that can be DLT candidates (`passes_gate` decides;
    this only spares reading the others)."""
    first_dose = F("subject__first_dose_on")
    last_day = AddDays(first_dose, window_days - 1)
    return Q(onset_on__gte=first_dose, onset_on__lte=last_day) | Q(dlt_assessment__decision__gt="")


def dlt_attributions(
    subjects: list[Subject], window_days: int | None = None
) -> dict[str, dict[str, str]]:
    """Per event key (the event id as text), each agent's attribution; with `window_days`,
    only of the events that can be DLT candidates (`_in_window`)."""
    attributions: dict = defaultdict(dict)
    rows = AdverseEventAgent.objects.filter(entered_in_error=False)
    if window_days is None:
        rows = rows.filter(adverse_event__subject__in=subjects)
    else:
        # The events first, then their attributions: cheaper than filtering the joined rows.
        events = AdverseEvent.objects.filter(subject__in=subjects).filter(_in_window(window_days))
        rows = rows.filter(adverse_event__in=events.order_by().values("pk"))
    for event_key, code, attribution in (
        rows.annotate(event_key=Cast("adverse_event_id", AS_TEXT))
        .order_by()  # the model's ordering would join and sort by subject
        .values_list("event_key", "agent__code", "attribution")
    ):
        attributions[event_key][code] = attribution
    return attributions


def dlt_window_doses(subjects: list[Subject], window_days: int) -> dict[UUID, list[DoseFacts]]:
    """Per subject id, the doses given in the DLT window: only they count for exposure
    (ecrf.safety.dlt.window_exposure). Identical doses of an agent (same planned and given
    dose, same kind of reason) come as one run with its number of days, the first day as its
    date, in the order the agents were first given."""
    first_dose = F("subject__first_dose_on")
    last_day = AddDays(first_dose, window_days - 1)
    doses: dict = defaultdict(list)
    for subject_id, code, planned, given, category, first_on, days in (
        DoseAdministration.objects.filter(
            subject__in=subjects, entered_in_error=False, given_on__gte=first_dose
        )
        .filter(given_on__lte=last_day)
        .values("subject_id", "agent__code", "planned_dose", "given_dose", "reason_category")
        .annotate(first_on=Min("given_on"), days=Count("pk"))
        # Without this the model's ordering would join the study and split the groups.
        .order_by("first_on", "agent__code")
        .values_list(
            "subject_id", "agent__code", "planned_dose", "given_dose", "reason_category",
            "first_on", "days",
        )
    ):  # fmt: skip
        doses[subject_id].append(DoseFacts(code, first_on, planned, given, category, days))
    return doses


@cache
def _parsed_rules(digest: str, data: str) -> DltRuleSet:
    return parse_rules(json.loads(data))


@dataclass(frozen=True)
class StudyRules:
    """A study's DLT definition: its current recorded version (None before any is recorded:
    the default rule set applies) and the rules as the pure functions take them."""

    version: DltRuleSetVersion | None
    rules: DltRuleSet

    @property
    def number(self) -> int | None:
        return self.version.number if self.version else None


def study_dlt_rules(study: Study) -> StudyRules:
    """The study's current DLT rules: its latest recorded version. One query."""
    version = study.dlt_rule_sets.order_by("-number").first()
    if version is None:
        return StudyRules(None, default_rules())
    return StudyRules(version, _parsed_rules(version.digest, json.dumps(version.rules)))


def dlt_grade_steps(subjects: list[Subject], cutoff: dt.date) -> dict[str, tuple[GradeStep, ...]]:
    """Per event key, the current grade history known by the cutoff, in date order."""
    steps: dict = defaultdict(list)
    for event_key, from_on, grade in (
        AdverseEventGrade.objects.filter(
            adverse_event__subject__in=subjects, entered_in_error=False, from_on__lte=cutoff
        )
        .annotate(event_key=Cast("adverse_event_id", AS_TEXT))
        .order_by("from_on")
        .values_list("event_key", "from_on", "grade")
    ):
        steps[event_key].append(GradeStep(from_on, grade))
    return {key: tuple(items) for key, items in steps.items()}


def dlt_hys_law_labs(subject_keys: set[str], cutoff: dt.date) -> dict[str, list[LabValue]]:
    """Per subject key, the aminotransferase and bilirubin results collected by the cutoff."""
    labs: dict = defaultdict(list)
    zone = timezone.get_current_timezone()
    # The keys are the database's text of the ids (without hyphens on SQLite).
    key_of = {UUID(key): key for key in subject_keys}
    for subject_id, test, value, uln, collected_at in (
        LabResult.objects.filter(
            subject_id__in=list(key_of),
            entered_in_error=False,
            test_code__in=(*AMINOTRANSFERASE_TESTS, BILIRUBIN_TEST),
        )
        .order_by()
        .values_list("subject_id", "test_code", "value", "uln", "collected_at")
    ):
        collected_on = collected_at.astimezone(zone).date()
        if collected_on <= cutoff:
            labs[key_of[subject_id]].append(LabValue(test, value, uln, collected_on))
    return labs


def dlt_next_cycles(subject_keys: set[str], subjects: list[Subject], cutoff: dt.date):
    """Per key of a treated subject (of `subject_keys`, the database's text of the ids), cycle 2: planned day 1, the first dose given in it by the cutoff,
    and whether treatment ended before it for a reason other than an adverse event."""
    key_of = {UUID(key): key for key in subject_keys}
    subjects = [subject for subject in subjects if subject.pk in key_of]
    started = dict(
        DoseAdministration.objects.filter(
            subject__in=subjects, entered_in_error=False, cycle=2, given_dose__gt=0,
            given_on__lte=cutoff,
        )
        .values("subject_id")
        .annotate(first=Min("given_on"))
        .values_list("subject_id", "first")
    )  # fmt: skip
    cycles = {}
    for subject in subjects:
        if subject.first_dose_on is None:
            continue
        planned_on = subject.first_dose_on + dt.timedelta(days=subject.study.cycle_days)
        ended = subject.treatment_end_on
        cycles[key_of[subject.pk]] = NextCycle(
            planned_on,
            started.get(subject.pk),
            ended is not None
            and ended <= cutoff
            and subject.treatment_end_reason != TreatmentEnd.ADVERSE_EVENT,
        )
    return cycles


def _bleeding_events(rows: list[tuple], cutoff: dt.date) -> dict[str, list[OtherEvent]]:
    """Per subject key, the bleeding events that a ``requires: bleeding`` rule may count."""
    bleeding = group_terms(GROUP_BLEEDING)
    found: dict = defaultdict(list)
    for _key, subject_key, _first, term, grade, onset_on, resolved_on, *_rest in rows:
        if term in bleeding and grade >= BLEEDING_MIN_GRADE and onset_on <= cutoff:
            found[subject_key].append(OtherEvent(term, grade, onset_on, resolved_on))
    return found


def dlt_flags(
    subjects: list[Subject],
    attributions: dict,
    cutoff: dt.date,
    settings: DltSettings,
    rules: DltRuleSet,
    *,
    also_event: UUID | None = None,
    candidates_only: bool = False,
) -> dict[str, tuple[DltFlag | None, str]]:
    """Per event key (the event id as text), for every current event with onset by the cutoff
    (and `also_event`, whatever its onset): the rules' flag (None when its subject has no first
    dose) and the investigator's decision ("" when none). The rules run on plain values; the
    facts some rules need beyond the event (bleeding events, labs, cycle 2) are read only when
    the rule set has such a rule. With `candidates_only`, an undecided event outside the window
    or not related enough is left out without being evaluated, and mostly without being read
    (it cannot be a candidate). At most five queries whatever the size of the study."""
    also = str(also_event) if also_event else None
    events = AdverseEvent.objects.filter(subject__in=subjects, entered_in_error=False)
    if candidates_only:
        wanted_events = _in_window(settings.window_days)
        if rules.needs_other_events:
            wanted_events |= Q(
                ctcae_term__in=group_terms(GROUP_BLEEDING), grade__gte=BLEEDING_MIN_GRADE
            )
        if also_event:
            wanted_events |= Q(pk=also_event)
        events = events.filter(wanted_events)
    rows = list(
        events.annotate(event_key=Cast("pk", AS_TEXT), subject_key=Cast("subject_id", AS_TEXT))
        .order_by("onset_on", "ctcae_term", "pk")
        .values_list(
            "event_key", "subject_key", "subject__first_dose_on", "ctcae_term", "grade",
            "onset_on", "resolved_on", "despite_supportive_care", "dlt_assessment__decision",
        )
    )  # fmt: skip
    steps = dlt_grade_steps(subjects, cutoff)
    bleeding = _bleeding_events(rows, cutoff) if rules.needs_other_events else {}
    wanted = [row for row in rows if row[5] <= cutoff or row[0] == also]
    treated = {row[1] for row in wanted if row[2]}
    labs = dlt_hys_law_labs(treated, cutoff) if rules.needs_labs else {}
    cycles = dlt_next_cycles(treated, subjects, cutoff) if rules.needs_next_cycle else {}
    contexts: dict[str, SubjectContext] = {}
    flags: dict = {}
    for key, subject_key, first_dose_on, term, grade, onset, resolved, care, decision in wanted:
        flag = None
        if (
            candidates_only
            and not decision
            and not (
                first_dose_on and passes_gate(onset, first_dose_on, attributions[key], settings)
            )
        ):
            continue
        if first_dose_on:
            context = contexts.get(subject_key)
            if context is None:
                context = contexts[subject_key] = SubjectContext(
                    tuple(bleeding.get(subject_key, ())),
                    tuple(labs.get(subject_key, ())),
                    cycles.get(subject_key),
                )
            facts = EventFacts(
                key, term, grade, onset, resolved, attributions[key], steps.get(key, ()), care
            )
            flag = evaluate_event(
                facts, first_dose_on=first_dose_on, cutoff=cutoff, settings=settings,
                rules=rules, context=context,
            )  # fmt: skip
        flags[key] = (flag, decision or "")
    return flags


def dlt_candidates(
    subjects: list[Subject],
    attributions: dict,
    cutoff: dt.date,
    settings: DltSettings,
    rules: DltRuleSet,
) -> dict[UUID, DltFlag | None]:
    """Per event id, the rules' flag of every event that is, or was decided to be, a DLT
    candidate, over the events with onset by the cutoff (`dlt_flags`); `attributions` need
    only be those of the events that can be candidates (`dlt_attributions` with the window)."""
    return {
        UUID(event_key): flag
        for event_key, (flag, decision) in dlt_flags(
            subjects, attributions, cutoff, settings, rules, candidates_only=True
        ).items()
        if dlt_status(bool(flag and flag.is_dlt), decision) != DltStatus.NOT_DLT
    }


def dlt_candidate_events(
    candidates: dict[UUID, DltFlag | None], subjects: list[Subject]
) -> dict[UUID, list[EventDlt]]:
    """Per subject id, the candidate events as records with their assessments, oldest first."""
    subject_by_id = {subject.pk: subject for subject in subjects}
    by_subject: dict = defaultdict(list)
    for event in (
        AdverseEvent.objects.filter(pk__in=list(candidates))
        .select_related("dlt_assessment")
        .order_by("onset_on", "created_at")
    ):
        event.subject = subject_by_id[event.subject_id]
        assessment = getattr(event, "dlt_assessment", None)
        by_subject[event.subject_id].append(EventDlt(event, candidates[event.pk], assessment))
    return by_subject


def dlt_unreconciled_labs(
    subjects: list[Subject], cutoff: dt.date, settings: DltSettings
) -> list[UnreconciledLab]:
    """The treated subjects' unreconciled potential DLTs (ecrf.safety.dlt
    .unreconciled_lab_toxicities), oldest first; results an investigator signed off as not a
    DLT are left out. Two queries."""
    treated = {s.pk: s for s in subjects if s.first_dose_on and s.first_dose_on <= cutoff}
    results = list(
        LabResult.objects.filter(
            subject_id__in=list(treated),
            entered_in_error=False,
            ctcae_grade__gte=MIN_DLT_GRADE,
            toxicity_assessment__isnull=True,
        ).order_by("collected_at", "test_code")
    )
    spans: dict = defaultdict(list)
    if results:
        for subject_id, term, onset, resolved in AdverseEvent.objects.filter(
            subject_id__in={r.subject_id for r in results}, entered_in_error=False
        ).values_list("subject_id", "ctcae_term", "onset_on", "resolved_on"):
            spans[subject_id].append(EventSpan(term, onset, resolved))
    by_subject: dict = defaultdict(list)
    for result in results:
        by_subject[result.subject_id].append(result)
    found = []
    for subject_id, items in by_subject.items():
        subject = treated[subject_id]
        findings = [
            LabFinding(r.pk, r.test_code, r.ctcae_term, r.ctcae_grade, r.collected_at.date())
            for r in items
        ]
        unexplained = {
            f.result_id
            for f in unreconciled_lab_toxicities(
                findings, spans[subject_id], first_dose_on=subject.first_dose_on,
                cutoff=cutoff, settings=settings,
            )
        }  # fmt: skip
        for result in items:
            if result.pk in unexplained:
                result.subject = subject
                collected_on = result.collected_at.date()
                found.append(
                    UnreconciledLab(
                        subject, result, result.test_code, result.ctcae_term,
                        result.ctcae_grade, collected_on, (cutoff - collected_on).days,
                    )
                )  # fmt: skip
    return sorted(found, key=lambda lab: (lab.collected_on, lab.subject.subject_code, lab.test))


# Assembly: pure, over what the loaders read.


def _decided_flag(item: EventDlt) -> DltFlag:
    """The flag an evaluability check should see, once the decision has overridden the rules."""
    base = item.flag
    return DltFlag(
        event_id=item.event.pk,
        is_dlt=item.counts,
        rule=base.rule if base else "investigator",
        reason=item.reason,
        onset_day=base.onset_day if base else 0,
        duration_days=base.duration_days if base else 0,
        term=item.event.ctcae_term,
        grade=item.event.grade,
    )


def _outcomes(rows: list[SubjectDlt], level_index: dict[int, int]) -> str:
    """Cohorts in order of first dose, e.g. "1NNN 2NTN", from the evaluable subjects."""
    cohorts: list[list] = []
    ordered = sorted(
        (r for r in rows if r.evaluability.evaluable and r.level is not None),
        key=lambda r: (r.subject.first_dose_on, r.subject.subject_code),
    )
    for row in ordered:
        index = level_index[row.level]
        letter = "T" if row.has_dlt else "N"
        if cohorts and cohorts[-1][0] == index:
            cohorts[-1][1] += letter
        else:
            cohorts.append([index, letter])
    return " ".join(f"{index}{letters}" for index, letters in cohorts)


def subject_rows(
    subjects: list[Subject],
    events: dict[UUID, list[EventDlt]],
    doses: dict[UUID, list[DoseFacts]],
    cutoff: dt.date,
    settings: DltSettings,
) -> list[SubjectDlt]:
    """Each subject treated by the cutoff with its evaluability and DLT candidates."""
    rows = []
    for subject in subjects:
        if subject.first_dose_on is None or subject.first_dose_on > cutoff:
            continue
        items = events.get(subject.pk, [])
        subject_doses = doses.get(subject.pk, [])
        evaluability = evaluate_subject(
            first_dose_on=subject.first_dose_on,
            off_study_on=subject.off_study_on,
            doses=subject_doses,
            dlt_flags=[_decided_flag(item) for item in items if item.counts],
            cutoff=cutoff,
            settings=settings,
        )
        rows.append(
            SubjectDlt(
                subject,
                subject.dose_level.level,
                evaluability,
                items,
                window_end=window_end(subject.first_dose_on, settings),
                exposure_pct=exposure_percentages(subject_doses, subject.first_dose_on, settings),
            )
        )
    return rows


def assemble_overview(
    study: Study, cutoff: dt.date, levels: list, rows: list[SubjectDlt]
) -> DltOverview:
    """Per-dose-level counts and the design's recommendation from the subjects' rows."""
    level_index = {level.level: i for i, level in enumerate(levels, start=1)}
    level_rows = [
        LevelRow(
            level.level,
            level.label,
            summarise_dose_level(
                [(r.evaluability, r.has_dlt) for r in rows if r.level == level.level]
            ),
        )
        for level in levels
    ]
    outcomes = _outcomes(rows, level_index)
    recommendation = recommend(
        study.design_method,
        outcomes,
        max(len(levels), 1),
        target=float(study.design_target) if study.design_target else None,
        allow_deescalate=study.allow_deescalate,
    )
    return DltOverview(study, cutoff, rows, level_rows, recommendation, outcomes)


def dlt_overview(study: Study, cutoff: dt.date | None = None) -> DltOverview:
    """Every subject's DLTs and evaluability, per-dose-level counts and the design's advice.

    Runs a fixed number of queries whatever the size of the study.
    """
    cutoff = cutoff or timezone.localdate()
    settings = study_dlt_settings(study)
    rules = study_dlt_rules(study)
    levels = list(study.dose_levels.order_by("level"))
    subjects = dlt_subjects(study)
    attributions = dlt_attributions(subjects, settings.window_days)
    doses = dlt_window_doses(subjects, settings.window_days)
    candidates = dlt_candidates(subjects, attributions, cutoff, settings, rules.rules)
    events = dlt_candidate_events(candidates, subjects)
    rows = subject_rows(subjects, events, doses, cutoff, settings)
    overview = assemble_overview(study, cutoff, levels, rows)
    overview.rules = rules
    overview.unreconciled_labs = dlt_unreconciled_labs(subjects, cutoff, settings)
    return overview


# The name the overview at today is kept under (`memo.kept`).
DLT_OVERVIEW = "dlt_overview"


def dlt_overview_today(study: Study) -> DltOverview:
    """`dlt_overview(study)` at today, computed again only when the data changed or the day did
    (`memo.kept`).

    For the pages that show it on every visit (the DLT dashboard, the investigator's home): a
    few small queries while nothing changed, instead of the whole overview. The caller gets a
    shallow copy and may set the copy's attributes (its own subjects, say); the rows are shared,
    so what a caller sets on a row must follow from the data alone, the same for every user.
    """
    return copy.copy(kept(DLT_OVERVIEW, study.pk, lambda: dlt_overview(study)))


def dlt_event_statuses(study: Study, cutoff: dt.date | None = None) -> dict[UUID, str]:
    """Each current adverse event's DLT status at the cutoff (default today), computed at read
    time by the same rules and decisions as `dlt_overview`: an ongoing event's duration grows
    every day, so the status stored with its assessment may be a day old, this never is.

    Events that are no DLT candidate and undecided (including those with onset after the
    cutoff or of a subject with no first dose) are "not_dlt". A fixed number of queries.
    """
    cutoff = cutoff or timezone.localdate()
    settings = study_dlt_settings(study)
    subjects = dlt_subjects(study)
    rules = study_dlt_rules(study).rules
    attributions = dlt_attributions(subjects, settings.window_days)
    candidates = dlt_candidates(subjects, attributions, cutoff, settings, rules)
    statuses = dict.fromkeys(
        AdverseEvent.objects.filter(subject__study=study, entered_in_error=False).values_list(
            "pk", flat=True
        ),
        DltStatus.NOT_DLT,
    )
    # An investigator's decision stands wherever the rules do not run (a subject with no dose
    # level, say); where they do, dlt_status lets it override the flag.
    decisions = dict(
        DltAssessment.objects.filter(
            adverse_event_id__in=list(statuses), decision__gt=""
        ).values_list("adverse_event_id", "decision")
    )
    statuses.update(decisions)
    for event_id, flag in candidates.items():
        statuses[event_id] = dlt_status(bool(flag and flag.is_dlt), decisions.get(event_id, ""))
    return statuses


def study_unreconciled_labs(study: Study, cutoff: dt.date | None = None) -> list[UnreconciledLab]:
    """The study's unreconciled potential DLTs at the cutoff (default today), without the rest
    of the overview: for the admin review queue. Three queries."""
    cutoff = cutoff or timezone.localdate()
    return dlt_unreconciled_labs(dlt_subjects(study), cutoff, study_dlt_settings(study))
