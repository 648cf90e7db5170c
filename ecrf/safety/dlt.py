"""Dose-limiting toxicity (DLT): which adverse events are DLTs and which subjects are evaluable.

Pure functions over plain values, no ORM: the rules can be run and tested without Django
configured. Which events are DLTs is the study's DLT definition, rules in the vocabulary of
``ecrf.safety.dlt_rules``; the window, the minimum attribution, the minimum exposure and
whether under-dosing for toxicity stays evaluable are study settings passed in as
``DltSettings``.

Term names are CTCAE v5.0 names, exactly as spelled by ``ecrf.ctcae.dictionary``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import ROUND_FLOOR, Decimal

from ecrf.ctcae.dictionary import check_grade, get_term
from ecrf.safety.days import study_day
from ecrf.safety.dlt_rules import (
    NO_CONTEXT,
    DltRuleSet,
    GradeStep,
    SubjectContext,
    course_of,
    decide,
    default_rules,
)
from ecrf.safety.reconciliation import EventSpan, LabFinding, unreconciled_findings

ATTRIBUTION_ORDER = ("unrelated", "unlikely", "possible", "probable", "definite")

ATTRIBUTION_ADVERBS = {
    "unrelated": "unrelated",
    "unlikely": "unlikely",
    "possible": "possibly",
    "probable": "probably",
    "definite": "definitely",
}
RELATION_PHRASE = "{adverb} related to {agents}"
# "unrelated related to" would be nonsense, so the lowest level has a phrase of its own.
UNRELATED_PHRASE = "unrelated to {agents}"
NO_ATTRIBUTION_PHRASE = "with no attribution recorded"

MIN_DLT_GRADE = 3

# --- Rule codes of the checks made before the study's rules, and of an event no rule takes --

RULE_OUTSIDE_WINDOW = "outside_window"
RULE_NOT_RELATED = "not_related"
RULE_NO_RULE = "no_rule"

# --- Message templates ---------------------------------------------------------------------

EVENT_DESCRIPTION = (
    "{term} grade {grade} for {duration}{ongoing}, {relation}, onset day {onset_day}"
)
ONGOING_SUFFIX = " (ongoing at cutoff)"
NOT_A_DLT = "{description}; not a DLT: {explanation}"
A_DLT = "{description}; DLT: {explanation}"
EXPLANATIONS = {
    RULE_OUTSIDE_WINDOW: "onset outside the DLT window (days 1 to {window_days})",
    RULE_NOT_RELATED: "not at least {min_adverb} related to a study agent",
    RULE_NO_RULE: "no rule of the DLT definition applies",
}
# A rule of the study's definition names itself: its id, then its text.
BY_RULE = "rule {rule_id}: {text}"

EVALUABLE_DLT = "Evaluable: DLT in the window ({dlts})"
DLT_SUMMARY = "{label}, day {onset_day}"
DLT_LABEL = "{term} grade {grade}"
DLT_LABEL_WITHOUT_TERM = "event {event_id}"
EVALUABLE_COMPLETED = "Evaluable: completed the {window_days}-day window with {exposures}"
EVALUABLE_COMPLETED_NO_DOSES = (
    "Evaluable: completed the {window_days}-day window; no planned doses recorded in it"
)
EXPOSURE = "{pct}% of planned {agent}"
EXPOSURE_TOXICITY = "{pct}% of planned {agent} (the shortfall for adverse events)"
TOXICITY_PROTOCOL = "; protocol: under-dosing for toxicity stays evaluable"
NOT_EVALUABLE_NO_FIRST_DOSE = "Not evaluable: no first dose"
NOT_EVALUABLE_WINDOW_OPEN = (
    "Not evaluable: the DLT window ends {window_end}, after the cutoff {cutoff}"
)
NOT_EVALUABLE_OFF_STUDY = (
    "Not evaluable: off study on {off_study_on}, before the end of the DLT window ({window_end})"
)
NOT_EVALUABLE_UNDERDOSED = (
    "Not evaluable: received {exposures} in the DLT window ({min_pct}% required)"
)
UNDERDOSE = "{pct}% of the planned {agent} dose"
UNDERDOSE_AFTER_TOXICITY = (
    "{pct}% of the planned {agent} dose ({counted}% leaving out the shortfall for adverse events)"
)

INVALID_ATTRIBUTION = "Unknown attribution {value!r}; expected one of {expected}."
INVALID_WINDOW = "The DLT window must be at least 1 day, not {value}."
INVALID_EXPOSURE = "The minimum exposure must be between 0 and 100%, not {value}."
RESOLVED_BEFORE_ONSET = "Event {event_id} resolved on {resolved_on}, before its onset {onset_on}."
DLT_NOT_EVALUABLE = "A subject with a DLT is always evaluable; got {evaluability!r}."


@dataclass(frozen=True)
class DltSettings:
    window_days: int = 21
    min_attribution: str = "possible"
    min_exposure_pct: int = 75
    # Protocol: a dose missed or reduced because of an adverse event does not count against
    # the minimum exposure (its planned dose is taken to be the dose given).
    underdosing_for_toxicity_evaluable: bool = True

    def __post_init__(self) -> None:
        _attribution_rank(self.min_attribution)
        if self.window_days < 1:
            raise ValueError(INVALID_WINDOW.format(value=self.window_days))
        if not 0 <= self.min_exposure_pct <= 100:
            raise ValueError(INVALID_EXPOSURE.format(value=self.min_exposure_pct))


@dataclass(frozen=True)
class EventFacts:
    event_id: object
    term: str
    # The worst grade.
    grade: int
    onset_on: dt.date
    resolved_on: dt.date | None
    # Agent code -> attribution, e.g. {"IL2": "possible"}.
    attributions: Mapping[str, str]
    # The grade history; empty when the event stayed at its grade throughout.
    grades: tuple[GradeStep, ...] = ()
    despite_supportive_care: bool = False


@dataclass(frozen=True)
class DltFlag:
    event_id: object
    is_dlt: bool
    rule: str
    reason: str
    onset_day: int
    duration_days: int
    # Term and grade let the evaluability reason name the DLT. They default to empty so that a
    # caller may build a flag of its own (an investigator's decision, say) without them.
    term: str = ""
    grade: int | None = None


# The kind of reason of a dose changed because of an adverse event (DoseChangeReason).
TOXICITY_REASON = "adverse_event"


@dataclass(frozen=True)
class DoseFacts:
    agent: str
    given_on: dt.date
    planned_dose: Decimal
    given_dose: Decimal
    # Why the dose differs from the plan: "adverse_event", "patient_decision", "logistics",
    # "other", or "" for a dose as planned.
    reason_category: str = ""
    # A loader may give identical doses as one: the same dose on this many days, the first on
    # given_on, all in the same DLT window.
    days: int = 1


@dataclass(frozen=True)
class Exposure:
    """One agent's doses in the DLT window: the totals given and planned, and the planned
    total that counts once the shortfall of doses changed for adverse events is left out."""

    given: Decimal
    planned: Decimal
    counted_planned: Decimal

    @property
    def pct(self) -> Decimal:
        return self.given * 100 / self.planned

    @property
    def toxicity_shortfall(self) -> bool:
        return self.counted_planned < self.planned


@dataclass(frozen=True)
class Evaluability:
    evaluable: bool
    reason: str


@dataclass(frozen=True)
class DoseLevelSummary:
    treated: int
    evaluable: int
    with_dlt: int
    replacements_needed: int


# --- Event rules -----------------------------------------------------------------------------


def _attribution_rank(value: str) -> int:
    try:
        return ATTRIBUTION_ORDER.index(value)
    except ValueError:
        raise ValueError(
            INVALID_ATTRIBUTION.format(value=value, expected=", ".join(ATTRIBUTION_ORDER))
        ) from None


def _days(count: int) -> str:
    return f"{count} day" if count == 1 else f"{count} days"


def _join(names: Sequence[str]) -> str:
    if len(names) == 1:
        return names[0]
    return f"{', '.join(names[:-1])} and {names[-1]}"


def _max_attribution(attributions: Mapping[str, str]) -> tuple[int | None, list[str]]:
    """The highest attribution rank over the agents and the agents that have it, sorted."""
    ranks = {agent: _attribution_rank(value) for agent, value in attributions.items()}
    if not ranks:
        return None, []
    top = max(ranks.values())
    return top, sorted(agent for agent, rank in ranks.items() if rank == top)


def _relation_phrase(rank: int | None, agents: Sequence[str]) -> str:
    if rank is None:
        return NO_ATTRIBUTION_PHRASE
    attribution = ATTRIBUTION_ORDER[rank]
    if attribution == "unrelated":
        return UNRELATED_PHRASE.format(agents=_join(agents))
    adverb = ATTRIBUTION_ADVERBS[attribution]
    return RELATION_PHRASE.format(adverb=adverb, agents=_join(agents))


def _duration_days(event: EventFacts, cutoff: dt.date) -> tuple[int, bool]:
    """Days from onset to resolution, or to the cutoff when unresolved, and whether ongoing."""
    if event.resolved_on is not None:
        if event.resolved_on < event.onset_on:
            raise ValueError(
                RESOLVED_BEFORE_ONSET.format(
                    event_id=event.event_id,
                    resolved_on=event.resolved_on,
                    onset_on=event.onset_on,
                )
            )
        return (event.resolved_on - event.onset_on).days, False
    # An unresolved event with onset after the cutoff had not begun by then, so it has lasted
    # no time yet. Refusing it instead would stop the caller from recording such an event at all.
    return max((cutoff - event.onset_on).days, 0), True


def _gate(onset_day: int, rank: int | None, settings: DltSettings) -> str | None:
    """The checks made before the study's rules: the DLT window, then the attribution."""
    if not 1 <= onset_day <= settings.window_days:
        return RULE_OUTSIDE_WINDOW
    if rank is None or rank < _attribution_rank(settings.min_attribution):
        return RULE_NOT_RELATED
    return None


def passes_gate(
    onset_on: dt.date,
    first_dose_on: dt.date,
    attributions: Mapping[str, str],
    settings: DltSettings,
) -> bool:
    """Whether an event gets past the checks made before the rules (window, attribution): one
    that does not is not a DLT whatever the rules say, so a caller counting candidates may skip
    it without evaluating it."""
    rank, _agents = _max_attribution(attributions)
    return _gate(study_day(onset_on, first_dose_on), rank, settings) is None


def evaluate_event(
    event: EventFacts,
    *,
    first_dose_on: dt.date,
    cutoff: dt.date,
    settings: DltSettings = DltSettings(),
    rules: DltRuleSet | None = None,
    context: SubjectContext = NO_CONTEXT,
) -> DltFlag:
    """Apply the DLT definition to one adverse event: an onset in the window and an attribution
    of at least the minimum, then the first of the study's rules (``rules``, default
    ``default_rules()``) that holds (``ecrf.safety.dlt_rules.decide``).

    The term must be a CTCAE v5.0 term (``UnknownTermError`` otherwise) with a grade it allows
    (``GradeNotAllowedError``); attributions must be values of ``ATTRIBUTION_ORDER``. An event
    resolved before its onset raises ValueError.
    """
    term = get_term(event.term).term
    check_grade(term, event.grade)
    onset_day = study_day(event.onset_on, first_dose_on)
    duration_days, ongoing = _duration_days(event, cutoff)
    rank, top_agents = _max_attribution(event.attributions)
    code = _gate(onset_day, rank, settings)
    rule = None
    if code is None:
        course = course_of(
            grade=event.grade,
            onset_on=event.onset_on,
            resolved_on=event.resolved_on,
            steps=event.grades,
            cutoff=cutoff,
        )
        rule = decide(
            rules or default_rules(),
            term=term,
            grade=event.grade,
            course=course,
            despite_supportive_care=event.despite_supportive_care,
            context=context,
            cutoff=cutoff,
        )
        code = rule.id if rule else RULE_NO_RULE

    description = EVENT_DESCRIPTION.format(
        term=term,
        grade=event.grade,
        duration=_days(duration_days),
        ongoing=ONGOING_SUFFIX if ongoing else "",
        relation=_relation_phrase(rank, top_agents),
        onset_day=onset_day,
    )
    is_dlt = bool(rule and rule.is_dlt)
    if rule is not None:
        explanation = BY_RULE.format(rule_id=rule.id, text=rule.text)
    else:
        explanation = EXPLANATIONS[code].format(
            window_days=settings.window_days,
            min_adverb=ATTRIBUTION_ADVERBS[settings.min_attribution],
        )
    template = A_DLT if is_dlt else NOT_A_DLT
    return DltFlag(
        event_id=event.event_id,
        is_dlt=is_dlt,
        rule=code,
        reason=template.format(description=description, explanation=explanation),
        onset_day=onset_day,
        duration_days=duration_days,
        term=term,
        grade=event.grade,
    )


# --- Subject evaluability --------------------------------------------------------------------


def _format_pct(pct: Decimal) -> str:
    # Rounded down, so that an exposure just under the minimum never reads as the minimum
    # itself ("74.9%", not "75%", for 74.96%).
    text = str(pct.quantize(Decimal("0.1"), rounding=ROUND_FLOOR))
    return text.removesuffix(".0")


def _dlt_label(flag: DltFlag) -> str:
    if flag.term:
        label = DLT_LABEL.format(term=flag.term, grade=flag.grade)
    else:
        label = DLT_LABEL_WITHOUT_TERM.format(event_id=flag.event_id)
    return DLT_SUMMARY.format(label=label, onset_day=flag.onset_day)


def window_end(first_dose_on: dt.date, settings: DltSettings = DltSettings()) -> dt.date:
    """The last day of the DLT window: study day ``window_days`` (day 1 is the first dose)."""
    return first_dose_on + dt.timedelta(days=settings.window_days - 1)


def window_exposure(
    doses: Iterable[DoseFacts],
    first_dose_on: dt.date,
    last_day: dt.date,
    *,
    excuse_toxicity: bool = True,
) -> dict[str, Exposure]:
    """Per agent, the exposure over the doses of window days 1..window_days, for the agents
    with a planned dose there, in the order the agents first appear in ``doses``.

    With ``excuse_toxicity``, a dose reduced or missed because of an adverse event counts as
    planned at the dose given, so its shortfall does not count against the minimum exposure.
    """
    totals: dict[str, tuple[Decimal, Decimal, Decimal]] = {}
    for dose in doses:
        if first_dose_on <= dose.given_on <= last_day:
            given, planned, counted = totals.get(dose.agent, (Decimal(0),) * 3)
            excused = (
                excuse_toxicity
                and dose.reason_category == TOXICITY_REASON
                and dose.given_dose < dose.planned_dose
            )
            days = dose.days
            totals[dose.agent] = (
                given + dose.given_dose * days,
                planned + dose.planned_dose * days,
                counted + (dose.given_dose if excused else dose.planned_dose) * days,
            )
    return {
        agent: Exposure(given, planned, counted)
        for agent, (given, planned, counted) in totals.items()
        if planned > 0
    }


def exposure_percentages(
    doses: Iterable[DoseFacts], first_dose_on: dt.date, settings: DltSettings = DltSettings()
) -> dict[str, float]:
    """Per agent, the raw share of the planned dose given in the DLT window, in percent to one
    decimal, rounded down as in the evaluability reason (74.96% is 74.9, never 75.0)."""
    end = window_end(first_dose_on, settings)
    return {
        agent: float(exposure.pct.quantize(Decimal("0.1"), rounding=ROUND_FLOOR))
        for agent, exposure in window_exposure(doses, first_dose_on, end).items()
    }


def evaluate_subject(
    *,
    first_dose_on: dt.date | None,
    off_study_on: dt.date | None,
    doses: Sequence[DoseFacts],
    dlt_flags: Sequence[DltFlag],
    cutoff: dt.date,
    settings: DltSettings = DltSettings(),
) -> Evaluability:
    """Whether a treated subject counts for the dose-escalation decision.

    A DLT makes the subject evaluable at once. Otherwise the subject must have completed the
    window by the cutoff, stayed on study to its last day and received at least the minimum
    share of the planned dose of every agent planned in the window; with the setting
    ``underdosing_for_toxicity_evaluable`` (the protocol's default), the shortfall of doses
    missed or reduced because of an adverse event is left out of that share.
    """
    if first_dose_on is None:
        return Evaluability(False, NOT_EVALUABLE_NO_FIRST_DOSE)

    dlts = sorted((flag for flag in dlt_flags if flag.is_dlt), key=lambda flag: flag.onset_day)
    if dlts:
        return Evaluability(True, EVALUABLE_DLT.format(dlts="; ".join(map(_dlt_label, dlts))))

    end = window_end(first_dose_on, settings)
    # Leaving the study is final while an open window may still complete, so it is reported
    # first when both apply: it tells the reader the subject must be replaced.
    if off_study_on is not None and off_study_on < end:
        return Evaluability(
            False, NOT_EVALUABLE_OFF_STUDY.format(off_study_on=off_study_on, window_end=end)
        )
    if end > cutoff:
        return Evaluability(False, NOT_EVALUABLE_WINDOW_OPEN.format(window_end=end, cutoff=cutoff))

    min_pct = settings.min_exposure_pct
    exposures = []
    underdosed = []
    excused = False
    window = window_exposure(
        doses, first_dose_on, end, excuse_toxicity=settings.underdosing_for_toxicity_evaluable
    )
    for agent, exposure in window.items():
        pct = _format_pct(exposure.pct)
        given, counted = exposure.given, exposure.counted_planned
        # Compared without division, so that exactly the minimum passes whatever the rounding.
        if given * 100 < counted * min_pct:
            if exposure.toxicity_shortfall:
                counted_pct = _format_pct(given * 100 / counted)
                underdosed.append(
                    UNDERDOSE_AFTER_TOXICITY.format(pct=pct, agent=agent, counted=counted_pct)
                )
            else:
                underdosed.append(UNDERDOSE.format(pct=pct, agent=agent))
        if exposure.toxicity_shortfall and exposure.given < exposure.planned * min_pct / 100:
            # The shortfall for adverse events is what keeps the subject evaluable: say so.
            excused = True
            exposures.append(EXPOSURE_TOXICITY.format(pct=pct, agent=agent))
        else:
            exposures.append(EXPOSURE.format(pct=pct, agent=agent))
    if underdosed:
        return Evaluability(
            False, NOT_EVALUABLE_UNDERDOSED.format(exposures=_join(underdosed), min_pct=min_pct)
        )
    if not exposures:
        return Evaluability(
            True, EVALUABLE_COMPLETED_NO_DOSES.format(window_days=settings.window_days)
        )
    reason = EVALUABLE_COMPLETED.format(
        window_days=settings.window_days, exposures=", ".join(exposures)
    )
    return Evaluability(True, reason + (TOXICITY_PROTOCOL if excused else ""))


def summarise_dose_level(subjects: Sequence[tuple[Evaluability, bool]]) -> DoseLevelSummary:
    """Counts for one dose level from (evaluability, has_dlt) of each treated subject.

    Every treated subject who is not evaluable must be replaced. A subject with a DLT who is
    not evaluable contradicts the evaluability rule, so it raises ValueError rather than
    letting the counts disagree.
    """
    treated = evaluable = with_dlt = 0
    for evaluability, has_dlt in subjects:
        if has_dlt and not evaluability.evaluable:
            raise ValueError(DLT_NOT_EVALUABLE.format(evaluability=evaluability))
        treated += 1
        evaluable += evaluability.evaluable
        with_dlt += has_dlt
    return DoseLevelSummary(
        treated=treated,
        evaluable=evaluable,
        with_dlt=with_dlt,
        replacements_needed=treated - evaluable,
    )


# --- Unreconciled lab toxicity -----------------------------------------------------------------


def unreconciled_lab_toxicities(
    findings: Iterable[LabFinding],
    events: Iterable[EventSpan],
    *,
    first_dose_on: dt.date,
    cutoff: dt.date,
    settings: DltSettings = DltSettings(),
) -> list[LabFinding]:
    """One subject's unreconciled potential DLTs (issue #12): lab results of CTCAE grade 3 or
    more collected in the DLT window (study days 1 to ``window_days``) by the cutoff, that no
    adverse event of the same term explains (the lab-AE matching of
    ``ecrf.safety.reconciliation``: onset within 7 days of the sample, or ongoing then).
    The caller leaves out the results an investigator has signed off as not DLTs."""
    last_day = window_end(first_dose_on, settings)
    in_window = [
        finding
        for finding in findings
        if first_dose_on <= finding.collected_on <= min(last_day, cutoff)
    ]
    return unreconciled_findings(in_window, events, min_grade=MIN_DLT_GRADE)
