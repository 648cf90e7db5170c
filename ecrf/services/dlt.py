"""Dose-limiting toxicities: keeping the rule flags current and investigator decisions with an
electronic signature. The per-dose-level overview is a read: `ecrf.selectors.dlt`."""

from __future__ import annotations

import datetime as dt
import json
from uuid import UUID

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from ..models import (
    AdverseEvent,
    DltAssessment,
    DltDecision,
    LabResult,
    LabToxicityAssessment,
    LabToxicityDecision,
    Study,
    Subject,
)
from ..models import DltRuleSet as DltRuleSetVersion
from ..safety.dlt import DltFlag
from ..safety.dlt_rules import AMINOTRANSFERASE_TESTS, BILIRUBIN_TEST, DltRuleSet
from ..selectors.dlt import (
    StudyRules,
    dlt_attributions,
    dlt_flags,
    dlt_status,
    dlt_subjects,
    study_dlt_rules,
    study_dlt_settings,
)
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
NOT_EVALUATED = "No first dose, or entered in error"
RULES_REASON_REQUIRED = "Give the reason for the change of the DLT rules (e.g. the amendment)."
HYS_LAW_TESTS = (*AMINOTRANSFERASE_TESTS, BILIRUBIN_TEST)
RULE_REASON_LENGTH = DltAssessment._meta.get_field("rule_reason").max_length


def _assessment_values(flag: DltFlag | None, rules: StudyRules) -> dict:
    return {
        "rule_flag": bool(flag and flag.is_dlt),
        "rule": flag.rule if flag else "not_evaluated",
        "rule_reason": (flag.reason if flag else NOT_EVALUATED)[:RULE_REASON_LENGTH],
        "onset_day": flag.onset_day if flag else None,
        "rule_set": rules.version,
    }


def _differing(existing: DltAssessment, values: dict) -> dict:
    """The rules' values that differ from the stored assessment's; its rule set is compared by
    key, so that reading a subject's assessments loads no rule set."""
    differing = {}
    for name, value in values.items():
        if name == "rule_set":
            same = existing.rule_set_id == (value.pk if value is not None else None)
        else:
            same = getattr(existing, name) == value
        if not same:
            differing[name] = value
    return differing


def _store_flag(
    *, event: AdverseEvent | None, existing: DltAssessment | None, values: dict, reason: str, by
) -> DltAssessment:
    """Create or update the event's assessment with the rules' values; audit any change. A
    change of flag after an investigator's decision keeps the decision and marks it for review.
    Only `_reevaluate` calls it, inside its transaction, which goes on after no refusal."""
    if existing is None:
        record = DltAssessment(
            adverse_event=event, status=dlt_status(values["rule_flag"], ""), **values
        )
        return record_create(record=record, by=by, savepoint=False)
    changes = _differing(existing, values)
    if not changes:
        return existing
    if existing.decision and changes.get("rule_flag", existing.rule_flag) != existing.rule_flag:
        changes["needs_review"] = True
    changes["status"] = dlt_status(values["rule_flag"], existing.decision)
    return record_update(record=existing, changes=changes, reason=reason, by=by, savepoint=False)


def _reevaluate(
    *,
    study: Study,
    subjects: list[Subject],
    by,
    reason: str,
    cutoff: dt.date,
    event=None,
    rules: StudyRules | None = None,
    stored: dict | None = None,
) -> int:
    """Store the current rules' flag of every event of `subjects` with onset by the cutoff (and
    of `event`, whatever its onset) whose stored assessment differs or is missing; returns the
    number of assessments created or changed. The flags are computed at once (``dlt_flags``),
    so only the changes cost a write. `rules`: the study's rules when the caller has read them;
    `stored` is given `event`'s assessment as it now stands."""
    rules = rules or study_dlt_rules(study)
    flags = dlt_flags(
        subjects, dlt_attributions(subjects), cutoff, study_dlt_settings(study), rules.rules,
        also_event=event.pk if event is not None else None,
    )  # fmt: skip
    flags = {UUID(key): value for key, value in flags.items()}
    if event is not None and event.entered_in_error:
        flags[event.pk] = (None, "")
    assessments = {
        a.adverse_event_id: a
        for a in DltAssessment.objects.filter(adverse_event__subject__in=subjects)
    }
    events = {event.pk: event} if event is not None else {}
    missing = [pk for pk in flags if pk not in assessments and pk not in events]
    events.update(
        (e.pk, e) for e in AdverseEvent.objects.filter(pk__in=missing).select_related("subject")
    )
    changed = 0
    # All the flags or none; no caller goes on after a refusal, so no savepoint is needed.
    with transaction.atomic(savepoint=False):
        for event_id, (flag, _decision) in flags.items():
            existing = assessments.get(event_id)
            values = _assessment_values(flag, rules)
            if existing is not None and not _differing(existing, values):
                continue
            # A stored assessment is updated through its own row, which record_update reads
            # with its event; only a new one needs the event here.
            target = events[event_id] if existing is None else None
            assessments[event_id] = _store_flag(
                event=target, existing=existing, values=values, reason=reason, by=by
            )
            changed += 1
    if event is not None and stored is not None:
        stored[event.pk] = assessments.get(event.pk)
    return changed


def dlt_evaluate_event(*, event: AdverseEvent, by, cutoff: dt.date | None = None) -> DltAssessment:
    """Apply the study's DLT rules after a change to one event and store its flag; audit any
    change. The other events of its subject are re-evaluated with it, since some rules look at
    them (a bleeding event makes a grade 3 thrombocytopenia a DLT).

    A change of flag after an investigator's decision keeps the decision and marks it for review.
    """
    subject = event.subject
    stored = {}
    _reevaluate(
        study=subject.study, subjects=[subject], by=by, reason=REEVALUATED,
        cutoff=cutoff or timezone.localdate(), event=event, stored=stored,
    )  # fmt: skip
    if stored[event.pk] is None:
        raise DltAssessment.DoesNotExist(f"No DLT assessment of {event!r}.")
    return stored[event.pk]


def dlt_evaluate_subject(*, subject: Subject, by, cutoff: dt.date | None = None) -> int:
    """Re-apply the study's DLT rules to every event of the subject (after a change to its
    doses, labs or dates); returns the number of assessments changed."""
    return _reevaluate(
        study=subject.study, subjects=[subject], by=by, reason=REEVALUATED,
        cutoff=cutoff or timezone.localdate(),
    )  # fmt: skip


def dlt_refresh_subject(*, subject: Subject, by, lab_tests=(), cycles=()) -> None:
    """After lab results or doses are written: re-apply the DLT rules to the subject's events
    when the study's rules look at them: Hy's law at aminotransferase and bilirubin results, a
    cycle delay at the doses of cycle 2."""
    study_rules = study_dlt_rules(subject.study)
    rules = study_rules.rules
    if (rules.needs_labs and set(lab_tests) & set(HYS_LAW_TESTS)) or (
        rules.needs_next_cycle and 2 in set(cycles)
    ):
        _reevaluate(
            study=subject.study, subjects=[subject], by=by, reason=REEVALUATED,
            cutoff=timezone.localdate(), rules=study_rules,
        )  # fmt: skip


def dlt_reevaluate_study(*, study: Study, by, reason: str, cutoff: dt.date | None = None) -> int:
    """Re-apply the study's current DLT rules to every event of every subject with a dose level
    and store each changed flag with `reason` in the audit trail; a signed decision whose flag
    changed is marked for review. Returns the number of assessments changed."""
    return _reevaluate(
        study=study, subjects=dlt_subjects(study), by=by, reason=reason,
        cutoff=cutoff or timezone.localdate(),
    )  # fmt: skip


RULES_CHANGED = "DLT rules version {number} ({source}): {reason}"


def dlt_rules_record(
    *, study: Study, rules: DltRuleSet, by, source: str, reason: str
) -> tuple[DltRuleSetVersion, bool]:
    """Record the study's DLT definition as a new version when it differs from the current
    one, and then re-apply the rules to every event (``dlt_reevaluate_study``). Returns the
    current version and whether it is new. Not durable: the study loader records the rules in
    its own transaction."""
    actor = as_actor(by)
    reason = (reason or "").strip()
    with transaction.atomic():
        current = study.dlt_rule_sets.select_for_update().order_by("-number").first()
        if current is not None and current.digest == rules.digest:
            return current, False
        if not reason:
            raise invalid("reason", RULES_REASON_REQUIRED, "reason_required")
        version = record_create(
            record=DltRuleSetVersion(
                study=study,
                number=(current.number + 1) if current else 1,
                rules=list(rules.data),
                digest=rules.digest,
                source=source[:300],
                reason=reason[:300],
                recorded_by=actor.name[:150],
            ),
            by=actor,
            reason=reason,
        )
        dlt_reevaluate_study(
            study=study,
            by=actor,
            reason=RULES_CHANGED.format(number=version.number, source=source, reason=reason)[:300],
        )
    return version, True


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


def _decision_checked(*, by, subject, target, reason: str, password: str):
    """The checks every signed safety decision shares: a reason, then the one signature check
    (investigator of the subject's site, an account with a full name, password). Returns
    (actor, reason, printed name), or raises with every problem named by its field."""
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
) -> DltAssessment:
    actor, reason, printed_name = _decision_checked(
        by=by, subject=assessment.adverse_event.subject, target=assessment, reason=reason,
        password=password,
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
) -> DltAssessment:
    """Confirm or rule out a DLT, signed: password re-entered, the account's printed name, UTC
    time, meaning.

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
    *, lab_result: LabResult, reason: str, by, password: str
) -> LabToxicityAssessment:
    """Sign that an unreconciled lab toxicity (grade 3 or more in the DLT window, no matching
    adverse event) is not a DLT: the same signature as a DLT decision (password re-entered,
    the account's printed name, UTC time, meaning), by an investigator of the subject's site
    (access.Action.DECIDE_DLT, checked by `signature_check`). Signed once; a lock on the result
    refuses it before the password is checked."""
    ensure_not_locked(lab_result)
    if lab_result.entered_in_error or (lab_result.ctcae_grade or 0) < 3:
        raise invalid(None, LAB_NOT_A_CANDIDATE, "not_a_lab_toxicity")
    if LabToxicityAssessment.objects.filter(lab_result=lab_result).exists():
        raise ValidationError(LAB_ALREADY_RULED_OUT, code="already_decided")
    actor, reason, printed_name = _decision_checked(
        by=by, subject=lab_result.subject, target=lab_result, reason=reason, password=password,
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
