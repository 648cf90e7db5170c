"""Dose-limiting toxicities: keeping the rule flags current, investigator decisions with an
electronic signature, and the per-dose-level overview with the design's recommendation."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections import defaultdict
from dataclasses import dataclass, field
from uuid import UUID

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import CharField, DateField, ExpressionWrapper, F
from django.db.models.functions import Cast
from django.utils import timezone

from .. import access
from ..escalation import Recommendation, recommend
from ..models import (
    COUNTING_STATUSES,
    AdverseEvent,
    AdverseEventAgent,
    DltAssessment,
    DltDecision,
    DltStatus,
    DoseAdministration,
    Signature,
    Study,
    Subject,
)
from ..safety.dlt import (
    DltFlag,
    DltSettings,
    DoseFacts,
    DoseLevelSummary,
    Evaluability,
    EventFacts,
    evaluate_event,
    evaluate_subject,
    summarise_dose_level,
)
from .audit import as_actor
from .records import record_create, record_update

MEANING_CONFIRM = "I confirm this adverse event is a dose-limiting toxicity."
MEANING_RULE_OUT = "I rule out this adverse event as a dose-limiting toxicity."
MEANING_DECLARE = "I declare this adverse event a dose-limiting toxicity."
ONLY_SITE_INVESTIGATOR = "Only an investigator of the subject's site can decide on a DLT."
WRONG_PASSWORD = "The password is not correct; the decision was not signed."  # noqa: S105
PRINTED_NAME_REQUIRED = "Type your full name as it is to appear on the signature."
DECISION_REASON_REQUIRED = "Give the reason for the decision."
ALREADY_DECIDED = "An investigator has already decided on this event; it is {status}."
REEVALUATED = "DLT rules re-evaluated after a change to the event, its subject or the rules"


def study_dlt_settings(study: Study) -> DltSettings:
    return DltSettings(
        window_days=study.dlt_window_days,
        min_attribution=study.dlt_min_attribution,
        min_exposure_pct=study.dlt_min_exposure_pct,
    )


def _event_facts(event: AdverseEvent, attributions: dict[str, str]) -> EventFacts:
    return EventFacts(
        event_id=event.pk,
        term=event.ctcae_term,
        grade=event.grade,
        onset_on=event.onset_on,
        resolved_on=event.resolved_on,
        attributions=attributions,
    )


def _flag_for(event: AdverseEvent, attributions: dict[str, str], cutoff: dt.date) -> DltFlag | None:
    subject = event.subject
    if event.entered_in_error or subject.first_dose_on is None:
        return None
    return evaluate_event(
        _event_facts(event, attributions),
        first_dose_on=subject.first_dose_on,
        cutoff=cutoff,
        settings=study_dlt_settings(subject.study),
    )


def _status(rule_flag: bool, decision: str) -> str:
    if decision:
        return decision
    return DltStatus.POTENTIAL if rule_flag else DltStatus.NOT_DLT


def dlt_evaluate_event(*, event: AdverseEvent, by, cutoff: dt.date | None = None) -> DltAssessment:
    """Apply the protocol's DLT rules to one event and store the flag; audit any change.

    A change of flag after an investigator's decision keeps the decision and marks it for review.
    """
    cutoff = cutoff or timezone.localdate()
    attributions = dict(
        AdverseEventAgent.objects.filter(adverse_event=event, entered_in_error=False).values_list(
            "agent__code", "attribution"
        )
    )
    flag = _flag_for(event, attributions, cutoff)
    values = {
        "rule_flag": bool(flag and flag.is_dlt),
        "rule": flag.rule if flag else "not_evaluated",
        "rule_reason": (flag.reason if flag else "No first dose, or entered in error")[:300],
        "onset_day": flag.onset_day if flag else None,
    }
    with transaction.atomic():
        existing = DltAssessment.objects.filter(adverse_event=event).first()
        if existing is None:
            record = DltAssessment(adverse_event=event, status=_status(values["rule_flag"], ""),
                                   **values)  # fmt: skip
            return record_create(record=record, by=by)
        changes = {k: v for k, v in values.items() if getattr(existing, k) != v}
        if not changes:
            return existing
        if existing.decision and changes.get("rule_flag", existing.rule_flag) != existing.rule_flag:
            changes["needs_review"] = True
        changes["status"] = _status(values["rule_flag"], existing.decision)
        return record_update(record=existing, changes=changes, reason=REEVALUATED, by=by)


def dlt_evaluate_subject(*, subject: Subject, by, cutoff: dt.date | None = None) -> None:
    for event in subject.adverse_events.select_related("subject__study"):
        dlt_evaluate_event(event=event, by=by, cutoff=cutoff)


def _signed_content(assessment: DltAssessment, decision: str, reason: str) -> str:
    event = assessment.adverse_event
    data = {
        "adverse_event": str(event.pk),
        "subject": event.subject.subject_code,
        "term": event.ctcae_term,
        "grade": event.grade,
        "onset_on": event.onset_on.isoformat(),
        "resolved_on": event.resolved_on.isoformat() if event.resolved_on else None,
        "attributions": sorted(event.agent_assessments.values_list("agent__code", "attribution")),
        "rule": assessment.rule,
        "rule_flag": assessment.rule_flag,
        "decision": decision,
        "reason": reason,
    }
    return json.dumps(data, sort_keys=True, default=str)


def _sign_decision(
    *,
    assessment: DltAssessment,
    decision: str,
    reason: str,
    meaning: str,
    by,
    password: str,
    printed_name: str,
) -> DltAssessment:
    actor = as_actor(by)
    user = actor.user
    subject = assessment.adverse_event.subject
    if not access.is_site_investigator(user, subject.site):
        raise PermissionDenied(ONLY_SITE_INVESTIGATOR)
    errors = {}
    reason = (reason or "").strip()
    printed_name = (printed_name or "").strip()
    if not reason:
        errors["reason"] = DECISION_REASON_REQUIRED
    if not printed_name:
        errors["printed_name"] = PRINTED_NAME_REQUIRED
    if not user.check_password(password or ""):
        errors["password"] = WRONG_PASSWORD
    if errors:
        raise ValidationError(errors)
    now = timezone.now()
    with transaction.atomic():
        content = _signed_content(assessment, decision, reason)
        signature = Signature.objects.create(
            signer=user,
            printed_name=printed_name,
            role=actor.role,
            signed_at=now,
            meaning=meaning,
            model=assessment._meta.label,
            object_id=str(assessment.pk),
            content_hash=hashlib.sha256(content.encode()).hexdigest(),
        )
        return record_update(
            record=assessment,
            changes={
                "decision": decision,
                "decision_reason": reason,
                "decided_by": user,
                "decided_at": now,
                "signature": signature,
                "needs_review": False,
                "status": decision,
            },
            reason=reason,
            by=actor,
            action=f"ecrf.dltassessment.{decision}",
        )


def dlt_decide(
    *,
    assessment: DltAssessment,
    decision: str,
    reason: str,
    by,
    password: str,
    printed_name: str,
) -> DltAssessment:
    """Confirm or rule out a DLT, signed: password re-entered, printed name, UTC time, meaning.

    A decision already taken can be taken again (signed anew) only when it is marked for review.
    """
    if decision not in DltDecision.values:
        raise ValidationError({"decision": "Choose confirm or rule out."})
    if assessment.decision and not assessment.needs_review:
        raise ValidationError(ALREADY_DECIDED.format(status=assessment.get_status_display()))
    if decision == DltDecision.CONFIRMED:
        meaning = MEANING_CONFIRM if assessment.rule_flag else MEANING_DECLARE
    else:
        meaning = MEANING_RULE_OUT
    return _sign_decision(
        assessment=assessment,
        decision=decision,
        reason=reason,
        meaning=meaning,
        by=by,
        password=password,
        printed_name=printed_name,
    )


# Reading: the per-dose-level overview, computed with the pure rules at a cutoff date.


@dataclass
class EventDlt:
    event: AdverseEvent
    flag: DltFlag | None
    assessment: DltAssessment | None

    @property
    def status(self) -> str:
        decision = self.assessment.decision if self.assessment else ""
        return _status(bool(self.flag and self.flag.is_dlt), decision)

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
    investigator decided on (events that are not DLTs are left out)."""

    subject: Subject
    level: int | None
    evaluability: Evaluability
    events: list[EventDlt] = field(default_factory=list)

    @property
    def has_dlt(self) -> bool:
        return any(e.counts for e in self.events)


@dataclass
class LevelRow:
    level: int
    label: str
    summary: DoseLevelSummary


@dataclass
class DltOverview:
    study: Study
    cutoff: dt.date
    subjects: list[SubjectDlt]
    levels: list[LevelRow]
    recommendation: Recommendation
    outcomes: str

    @property
    def queue(self) -> list[EventDlt]:
        """Potential DLTs awaiting an investigator's decision, oldest first."""
        pending = [e for s in self.subjects for e in s.events if e.status == DltStatus.POTENTIAL]
        return sorted(pending, key=lambda e: (e.event.onset_on, e.event.created_at))


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


def dlt_overview(study: Study, cutoff: dt.date | None = None) -> DltOverview:
    """Every subject's DLTs and evaluability, per-dose-level counts and the design's advice.

    Runs a fixed number of queries whatever the size of the study.
    """
    cutoff = cutoff or timezone.localdate()
    settings = study_dlt_settings(study)
    levels = list(study.dose_levels.order_by("level"))
    level_index = {level.level: i for i, level in enumerate(levels, start=1)}
    subjects = list(
        study.subjects.filter(entered_in_error=False, dose_level__isnull=False)
        .select_related("dose_level", "site", "study")
        .order_by("subject_code")
    )
    subject_by_id = {subject.pk: subject for subject in subjects}
    # Events are matched to their attributions by the text of their key: turning tens of
    # thousands of keys into UUID objects would take most of the time.
    as_text = CharField()
    attributions: dict = defaultdict(dict)
    for event_key, code, attribution in (
        AdverseEventAgent.objects.filter(
            adverse_event__subject__in=subjects, entered_in_error=False
        )
        .annotate(event_key=Cast("adverse_event_id", as_text))
        .values_list("event_key", "agent__code", "attribution")
    ):
        attributions[event_key][code] = attribution
    # Only the doses of the DLT window count for exposure (ecrf.safety.dlt._window_exposure).
    first_dose = F("subject__first_dose_on")
    window_end = ExpressionWrapper(
        first_dose + dt.timedelta(days=settings.window_days - 1), output_field=DateField()
    )
    doses: dict = defaultdict(list)
    for subject_id, code, given_on, planned, given in (
        DoseAdministration.objects.filter(
            subject__in=subjects, entered_in_error=False, given_on__gte=first_dose
        )
        .filter(given_on__lte=window_end)
        .values_list("subject_id", "agent__code", "given_on", "planned_dose", "given_dose")
    ):
        doses[subject_id].append(DoseFacts(code, given_on, planned, given))
    # The rules run on plain values for every event; only the events that are, or were decided
    # to be, DLT candidates are loaded as records for the listings.
    candidates: dict = {}
    for event_key, first_dose_on, term, grade, onset_on, resolved_on, decision in (
        AdverseEvent.objects.filter(
            subject__in=subjects, entered_in_error=False, onset_on__lte=cutoff
        )
        .annotate(event_key=Cast("pk", as_text))
        .values_list(
            "event_key", "subject__first_dose_on", "ctcae_term", "grade", "onset_on",
            "resolved_on", "dlt_assessment__decision",
        )
    ):  # fmt: skip
        flag = None
        if first_dose_on:
            event_id = UUID(event_key)
            facts = EventFacts(
                event_id, term, grade, onset_on, resolved_on, attributions[event_key]
            )
            flag = evaluate_event(
                facts, first_dose_on=first_dose_on, cutoff=cutoff, settings=settings
            )
        if _status(bool(flag and flag.is_dlt), decision or "") != DltStatus.NOT_DLT:
            candidates[UUID(event_key)] = flag
    by_subject: dict = defaultdict(list)
    for event in (
        AdverseEvent.objects.filter(pk__in=list(candidates))
        .select_related("dlt_assessment")
        .order_by("onset_on", "created_at")
    ):
        event.subject = subject_by_id[event.subject_id]
        assessment = getattr(event, "dlt_assessment", None)
        by_subject[event.subject_id].append(EventDlt(event, candidates[event.pk], assessment))
    rows = []
    for subject in subjects:
        if subject.first_dose_on is None or subject.first_dose_on > cutoff:
            continue
        items = by_subject[subject.pk]
        evaluability = evaluate_subject(
            first_dose_on=subject.first_dose_on,
            off_study_on=subject.off_study_on,
            doses=doses[subject.pk],
            dlt_flags=[_decided_flag(item) for item in items if item.counts],
            cutoff=cutoff,
            settings=settings,
        )
        rows.append(SubjectDlt(subject, subject.dose_level.level, evaluability, items))
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
