"""Recording study-drug administration."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from django.db import transaction
from django.db.models import Q

from ..models import (
    AdverseEvent,
    Agent,
    DoseAdministration,
    DoseChangeReason,
    DoseLevelDose,
    Subject,
    Visit,
    VisitStatus,
)
from .dlt import dlt_refresh_subject
from .errors import invalid
from .queries import queries_sync_automatic
from .records import record_create, record_update

NOT_ON_TREATMENT = "The subject has no dose level or first dose date yet."
NO_PLANNED_DOSE = "Dose level {level} plans no dose of {agent}."
UNKNOWN_REASON_CATEGORY = "{value!r} is not a kind of reason; expected one of {expected}."
CATEGORY_CONTRADICTS_EVENT = (
    "This dose cites an adverse event, so its kind of reason is adverse event, not {category}."
)


def dose_reason_category(*, category: str, adverse_event_id, changed: bool, reason: str) -> str:
    """The kind of reason a dose is saved with, or ValidationError on the field
    `reason_category`.

    A dose that cites an adverse event is of kind adverse event (another kind contradicts it);
    a changed dose whose caller states only words (older callers, an import without the
    column) is of kind other. A dose as planned with no reason in words has no kind.
    """
    category = (category or "").strip()
    if category and category not in DoseChangeReason.values:
        raise invalid(
            "reason_category",
            UNKNOWN_REASON_CATEGORY.format(
                value=category, expected=", ".join(DoseChangeReason.values)
            ),
            "invalid_choice",
        )
    if adverse_event_id is not None:
        if category and category != DoseChangeReason.ADVERSE_EVENT:
            raise invalid(
                "reason_category",
                CATEGORY_CONTRADICTS_EVENT.format(category=DoseChangeReason(category).label),
                "reason_category_contradicts_event",
            )
        return DoseChangeReason.ADVERSE_EVENT
    if not changed and not reason:
        return ""
    return category or DoseChangeReason.OTHER


def level_dose(subject: Subject, agent: Agent) -> Decimal:
    """The dose of `agent` that the subject's dose level plans."""
    if subject.dose_level_id is None:
        raise invalid("subject", NOT_ON_TREATMENT, "not_on_treatment")
    dose = DoseLevelDose.objects.filter(dose_level_id=subject.dose_level_id, agent=agent).first()
    if dose is None:
        raise invalid(
            "agent",
            NO_PLANNED_DOSE.format(level=subject.dose_level.level, agent=agent.code),
            "no_planned_dose",
        )
    return dose.dose


def cycle_and_day(subject: Subject, given_on: dt.date) -> tuple[int, int]:
    """Cycle and day of a date; dates before the first dose are cycle 1, negative days."""
    if subject.first_dose_on is None:
        raise invalid("subject", NOT_ON_TREATMENT, "not_on_treatment")
    offset = (given_on - subject.first_dose_on).days
    if offset < 0:
        return 1, offset
    cycle_days = subject.study.cycle_days
    return offset // cycle_days + 1, offset % cycle_days + 1


def visit_on(subject: Subject, day: dt.date) -> Visit | None:
    """The subject's visit on a dose date, if one took place (or is planned) that day."""
    return (
        subject.visits.filter(entered_in_error=False)
        .exclude(status=VisitStatus.MISSED)
        .filter(Q(done_on=day) | Q(done_on__isnull=True, planned_on=day))
        .order_by("planned_on", "label")
        .first()
    )


def dose_record(
    *,
    subject: Subject,
    agent: Agent,
    given_on: dt.date,
    given_dose: Decimal,
    by,
    reason: str = "",
    reason_category: str = "",
    adverse_event: AdverseEvent | None = None,
    visit: Visit | None = None,
    planned_dose: Decimal | None = None,
    audit_reason: str = "",
) -> DoseAdministration:
    """Record one administration; a dose other than planned (or missed) needs a reason and
    a kind of reason (`reason_category`, a `DoseChangeReason`; see `dose_reason_category`).

    The planned dose is the subject's dose level's unless given (an import states its own).
    `reason` is the clinical reason for a changed dose; `audit_reason` goes to the audit trail
    (for example the reason a nurse saved despite a warning). Not durable: the imports and the
    demo record doses inside their own transaction.
    """
    cycle, day = cycle_and_day(subject, given_on)
    planned_dose = planned_dose if planned_dose is not None else level_dose(subject, agent)
    reason = reason.strip()
    category = dose_reason_category(
        category=reason_category,
        adverse_event_id=adverse_event.pk if adverse_event is not None else None,
        changed=given_dose != planned_dose,
        reason=reason,
    )
    administration = DoseAdministration(
        subject=subject,
        agent=agent,
        visit=visit,
        given_on=given_on,
        cycle=cycle,
        day=day,
        planned_dose=planned_dose,
        given_dose=given_dose,
        unit=agent.unit,
        reason=reason,
        reason_category=category,
        adverse_event=adverse_event,
    )
    with transaction.atomic():
        record_create(record=administration, by=by, reason=audit_reason)
        dlt_refresh_subject(subject=administration.subject, by=by, cycles=[administration.cycle])
        queries_sync_automatic(subject=administration.subject)
    return administration


def dose_correct(
    *,
    dose: DoseAdministration,
    changes: Mapping[str, Any],
    reason: str,
    by,
    expected_version: int | None = None,
) -> DoseAdministration:
    """Correct a recorded administration, with a reason.

    `changes` holds what the user changed (agent, given_on, given_dose, reason,
    reason_category, adverse_event); the fields that follow from them are set here: cycle and
    day from the date, the visit of the new date, the unit and the planned dose of a new agent,
    the kind of reason (`dose_reason_category`). Durable: only the pages and
    the admin correct a dose, each save its own transaction.
    """
    changes = dict(changes)
    subject = dose.subject
    given_on = changes.get("given_on", dose.given_on)
    if given_on != dose.given_on:
        changes["cycle"], changes["day"] = cycle_and_day(subject, given_on)
        changes["visit"] = visit_on(subject, given_on)
    agent = changes.get("agent", dose.agent)
    if agent.pk != dose.agent_id:
        changes["unit"] = agent.unit
        changes.setdefault("planned_dose", level_dose(subject, agent))
    adverse_event = changes.get("adverse_event", dose.adverse_event)
    # A newly cited adverse event replaces a kind the caller did not restate.
    kept = "" if "adverse_event" in changes else dose.reason_category
    category = dose_reason_category(
        category=changes.get("reason_category", kept),
        adverse_event_id=adverse_event.pk if adverse_event is not None else None,
        changed=changes.get("given_dose", dose.given_dose)
        != changes.get("planned_dose", dose.planned_dose),
        reason=(changes.get("reason", dose.reason) or "").strip(),
    )
    if category != dose.reason_category:
        changes["reason_category"] = category
    else:
        changes.pop("reason_category", None)
    with transaction.atomic(durable=True):
        saved = record_update(
            record=dose, changes=changes, reason=reason, by=by, expected_version=expected_version
        )
        dlt_refresh_subject(subject=saved.subject, by=by, cycles=[dose.cycle, saved.cycle])
        queries_sync_automatic(subject=saved.subject)
    return saved
