"""Recording study-drug administration."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import transaction

from ..models import AdverseEvent, Agent, DoseAdministration, DoseLevelDose, Subject, Visit
from .queries import queries_sync_automatic
from .records import record_create

NOT_ON_TREATMENT = "The subject has no dose level or first dose date yet."
NO_PLANNED_DOSE = "Dose level {level} plans no dose of {agent}."


def level_dose(subject: Subject, agent: Agent) -> Decimal:
    """The dose of `agent` that the subject's dose level plans."""
    if subject.dose_level_id is None:
        raise ValidationError({"subject": NOT_ON_TREATMENT})
    dose = DoseLevelDose.objects.filter(dose_level_id=subject.dose_level_id, agent=agent).first()
    if dose is None:
        raise ValidationError(
            {"agent": NO_PLANNED_DOSE.format(level=subject.dose_level.level, agent=agent.code)}
        )
    return dose.dose


def cycle_and_day(subject: Subject, given_on: dt.date) -> tuple[int, int]:
    """Cycle and day of a date; dates before the first dose are cycle 1, negative days."""
    if subject.first_dose_on is None:
        raise ValidationError({"subject": NOT_ON_TREATMENT})
    offset = (given_on - subject.first_dose_on).days
    if offset < 0:
        return 1, offset
    cycle_days = subject.study.cycle_days
    return offset // cycle_days + 1, offset % cycle_days + 1


def dose_record(
    *,
    subject: Subject,
    agent: Agent,
    given_on: dt.date,
    given_dose: Decimal,
    by,
    reason: str = "",
    adverse_event: AdverseEvent | None = None,
    visit: Visit | None = None,
    planned_dose: Decimal | None = None,
    audit_reason: str = "",
) -> DoseAdministration:
    """Record one administration; a dose other than planned (or missed) needs a reason.

    The planned dose is the subject's dose level's unless given (an import states its own).
    `reason` is the clinical reason for a changed dose; `audit_reason` goes to the audit trail
    (for example the reason a nurse saved despite a warning).
    """
    cycle, day = cycle_and_day(subject, given_on)
    administration = DoseAdministration(
        subject=subject,
        agent=agent,
        visit=visit,
        given_on=given_on,
        cycle=cycle,
        day=day,
        planned_dose=planned_dose if planned_dose is not None else level_dose(subject, agent),
        given_dose=given_dose,
        unit=agent.unit,
        reason=reason.strip(),
        adverse_event=adverse_event,
    )
    with transaction.atomic():
        record_create(record=administration, by=by, reason=audit_reason)
        queries_sync_automatic(subject=administration.subject)
    return administration
