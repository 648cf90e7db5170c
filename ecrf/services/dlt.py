"""Dose-limiting toxicities: keeping the rule flags current and investigator decisions with an
electronic signature. The per-dose-level overview is a read: `ecrf.selectors.dlt`."""

from __future__ import annotations

import datetime as dt
import json

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from ..models import (
    AdverseEvent,
    AdverseEventAgent,
    DltAssessment,
    DltDecision,
    LabResult,
    LabToxicityAssessment,
    LabToxicityDecision,
    Subject,
)
from ..safety.dlt import DltFlag, EventFacts, evaluate_event
from ..selectors.dlt import dlt_status, study_dlt_settings
from .audit import as_actor
from .errors import invalid
from .locking import ensure_not_locked
from .records import record_create, record_update
from .signatures import signature_check, signature_sign

MEANING_CONFIRM = "I confirm this adverse event is a dose-limiting toxicity."
MEANING_RULE_OUT = "I rule out this adverse event as a dose-limiting toxicity."
MEANING_DECLARE = "I declare this adverse event a dose-limiting toxicity."
DECISION_REASON_REQUIRED = "Give the reason for the decision."
CHOOSE_DECISION = "Choose confirm or rule out."
ALREADY_DECIDED = "An investigator has already decided on this event; it is {status}."
MEANING_LAB_RULE_OUT = (
    "I rule out this lab result, with no matching adverse event, as a dose-limiting toxicity."
)
LAB_ALREADY_RULED_OUT = "An investigator has already ruled out this lab result as a DLT."
LAB_NOT_A_CANDIDATE = "Only a current lab result of CTCAE grade 3 or more is ruled out as a DLT."
REEVALUATED = "DLT rules re-evaluated after a change to the event, its subject or the rules"


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
            record = DltAssessment(adverse_event=event, status=dlt_status(values["rule_flag"], ""),
                                   **values)  # fmt: skip
            return record_create(record=record, by=by)
        changes = {k: v for k, v in values.items() if getattr(existing, k) != v}
        if not changes:
            return existing
        if existing.decision and changes.get("rule_flag", existing.rule_flag) != existing.rule_flag:
            changes["needs_review"] = True
        changes["status"] = dlt_status(values["rule_flag"], existing.decision)
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


def _decision_checked(*, by, subject, target, reason: str, password: str, printed_name: str):
    """The checks every signed safety decision shares: a reason, then the one signature check
    (investigator of the subject's site, password, printed name). Returns (actor, reason,
    printed name), or raises with every problem named by its field."""
    actor = as_actor(by)
    reason = (reason or "").strip()
    errors = {}
    if not reason:
        errors["reason"] = ValidationError(DECISION_REASON_REQUIRED, code="reason_required")
    printed_name = signature_check(
        actor=actor,
        subject=subject,
        target=target,
        password=password,
        printed_name=printed_name,
        errors=errors,
    )
    return actor, reason, printed_name


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
    actor, reason, printed_name = _decision_checked(
        by=by, subject=assessment.adverse_event.subject, target=assessment, reason=reason,
        password=password, printed_name=printed_name,
    )  # fmt: skip
    now = timezone.now()
    with transaction.atomic():
        signature = signature_sign(
            actor=actor,
            target=assessment,
            meaning=meaning,
            content=_signed_content(assessment, decision, reason),
            printed_name=printed_name,
            signed_at=now,
        )
        return record_update(
            record=assessment,
            changes={
                "decision": decision,
                "decision_reason": reason,
                "decided_by": actor.user,
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
    A lock on the subject or on the adverse event's form refuses the decision (RecordLocked)
    before the password is checked, so it costs no password failure.
    """
    ensure_not_locked(assessment.adverse_event)
    if decision not in DltDecision.values:
        raise invalid("decision", CHOOSE_DECISION, "invalid_choice")
    if assessment.decision and not assessment.needs_review:
        raise ValidationError(
            ALREADY_DECIDED.format(status=assessment.get_status_display()), code="already_decided"
        )
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


def _lab_signed_content(result: LabResult, reason: str) -> str:
    data = {
        "lab_result": str(result.pk),
        "subject": result.subject.subject_code,
        "test": result.test_code,
        "value": str(result.value),
        "unit": result.unit,
        "collected_at": result.collected_at.isoformat(),
        "term": result.ctcae_term,
        "grade": result.ctcae_grade,
        "decision": LabToxicityDecision.NOT_DLT,
        "reason": reason,
    }
    return json.dumps(data, sort_keys=True, default=str)


def lab_toxicity_rule_out(
    *, lab_result: LabResult, reason: str, by, password: str, printed_name: str
) -> LabToxicityAssessment:
    """Sign that an unreconciled lab toxicity (grade 3 or more in the DLT window, no matching
    adverse event) is not a DLT: the same signature as a DLT decision (password re-entered,
    printed name, UTC time, meaning), by an investigator of the subject's site
    (access.Action.DECIDE_DLT, checked by `signature_check`). Signed once; a lock on the result
    refuses it before the password is checked."""
    ensure_not_locked(lab_result)
    if lab_result.entered_in_error or (lab_result.ctcae_grade or 0) < 3:
        raise invalid(None, LAB_NOT_A_CANDIDATE, "not_a_lab_toxicity")
    if LabToxicityAssessment.objects.filter(lab_result=lab_result).exists():
        raise ValidationError(LAB_ALREADY_RULED_OUT, code="already_decided")
    actor, reason, printed_name = _decision_checked(
        by=by, subject=lab_result.subject, target=lab_result, reason=reason, password=password,
        printed_name=printed_name,
    )  # fmt: skip
    now = timezone.now()
    with transaction.atomic():
        record = LabToxicityAssessment(
            lab_result=lab_result,
            decision=LabToxicityDecision.NOT_DLT,
            decision_reason=reason,
            decided_by=actor.user,
            decided_at=now,
        )
        # The signature names the assessment it signs, so the record's key comes first.
        record.signature = signature_sign(
            actor=actor,
            target=record,
            meaning=MEANING_LAB_RULE_OUT,
            content=_lab_signed_content(lab_result, reason),
            printed_name=printed_name,
            signed_at=now,
        )
        return record_create(record=record, by=actor, reason=reason)
