"""Recording study-drug administration."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q

from ..models import (
    AdverseEvent,
    Agent,
    AgentSchedule,
    DoseAdministration,
    DoseChangeReason,
    DoseLevelDose,
    Subject,
    Visit,
    VisitStatus,
)
from ..safety.dose_plan import DoseAbovePlan, dose_above_plan
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

DOSE_ABOVE_PLAN_UNCONFIRMED = (
    "{agent}: {dose} is more than {limit} % of the planned dose. Correct the dose, or confirm "
    "that this dose was given."
)
DOSE_ABOVE_PLAN_CONFIRMED = "Dose above plan confirmed: {agent} {dose}"


def planned_dose_exceeded(
    *, subject: Subject, agent: Agent, planned: Decimal, given: Decimal
) -> DoseAbovePlan | None:
    """The dose as a `DoseAbovePlan` when it is above the limit of the subject's study."""
    return dose_above_plan(
        given=given, planned=planned, unit=agent.unit, limit_pct=subject.study.dose_above_plan_pct
    )


def _confirmed_above_plan(
    *, subject: Subject, agent: Agent, planned: Decimal, given: Decimal, confirmed: bool
) -> str:
    """The audit line of a confirmed dose above the plan ("" for a dose within it), or
    ValidationError on `confirm_above_plan` when such a dose is not confirmed."""
    above = planned_dose_exceeded(subject=subject, agent=agent, planned=planned, given=given)
    if above is None:
        return ""
    if not confirmed:
        raise invalid(
            "confirm_above_plan",
            DOSE_ABOVE_PLAN_UNCONFIRMED.format(
                agent=agent.code, dose=above.describe(), limit=subject.study.dose_above_plan_pct
            ),
            "dose_above_plan_unconfirmed",
        )
    return DOSE_ABOVE_PLAN_CONFIRMED.format(agent=agent.code, dose=above.describe())


def _with_line(reason: str, line: str) -> str:
    return " | ".join(part for part in (reason.strip(), line) if part)


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


def dosing_days(schedule: AgentSchedule, cycle: int) -> tuple[int, int]:
    """The first and last dosing day of an agent in a cycle; a lead-in counts in cycle 1 only."""
    if cycle == 1:
        return schedule.first_day, schedule.last_day
    return max(schedule.first_day, 1), schedule.last_day


def describe_dosing_days(schedule: AgentSchedule) -> str:
    """e.g. 'days 1 to 14 of each cycle', or the lead-in and the later cycles told apart."""
    if schedule.first_day < 1:
        return (
            f"days {schedule.first_day} to {schedule.last_day} in cycle 1, "
            f"days 1 to {schedule.last_day} from cycle 2"
        )
    return f"days {schedule.first_day} to {schedule.last_day} of each cycle"


def is_dosing_day(schedule: AgentSchedule, cycle: int, day: int) -> bool:
    first, last = dosing_days(schedule, cycle)
    return first <= day <= last


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
    confirm_above_plan: bool = False,
) -> DoseAdministration:
    """Record one administration; a dose other than planned (or missed) needs a reason and
    a kind of reason (`reason_category`, a `DoseChangeReason`; see `dose_reason_category`).
    A dose above the study's limit of the planned dose (ecrf.safety.dose_plan) is refused on
    `confirm_above_plan` unless confirmed; a confirmed one is saved with the confirmation in
    the audit trail and opens a data query (`queries_sync_automatic`).

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
    try:
        confirmation = _confirmed_above_plan(
            subject=subject,
            agent=agent,
            planned=planned_dose,
            given=given_dose,
            confirmed=confirm_above_plan,
        )
    except ValidationError as unconfirmed:
        refusal = unconfirmed
    else:
        refusal = None
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
    if refusal is not None:
        # Every problem of the dose in one answer: the record's own checks with the refusal.
        errors = dict(refusal.error_dict)
        try:
            administration.full_clean()
        except ValidationError as invalid_record:
            for name, messages in invalid_record.error_dict.items():
                errors[name] = [*errors.get(name, []), *messages]
        raise ValidationError(errors)
    with transaction.atomic():
        # Nothing here goes on after a refusal: this transaction takes every write back.
        record_create(
            record=administration,
            by=by,
            reason=_with_line(audit_reason, confirmation),
            savepoint=False,
        )
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
    confirm_above_plan: bool = False,
) -> DoseAdministration:
    """Correct a recorded administration, with a reason.

    A correction that changes the agent, the planned or the given dose to a dose above the
    study's limit needs `confirm_above_plan`, as a new dose does (`dose_record`); a correction
    of anything else of a dose saved above the plan does not ask again.

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
    planned = changes.get("planned_dose", dose.planned_dose)
    given = changes.get("given_dose", dose.given_dose)
    confirmation = ""
    if (agent.pk, planned, given) != (dose.agent_id, dose.planned_dose, dose.given_dose):
        confirmation = _confirmed_above_plan(
            subject=subject,
            agent=agent,
            planned=planned,
            given=given,
            confirmed=confirm_above_plan,
        )
    with transaction.atomic(durable=True):
        saved = record_update(
            record=dose,
            changes=changes,
            reason=_with_line(reason, confirmation),
            by=by,
            expected_version=expected_version,
        )
        dlt_refresh_subject(subject=saved.subject, by=by, cycles=[dose.cycle, saved.cycle])
        queries_sync_automatic(subject=saved.subject)
    return saved


# A date range given as planned, with its exceptions

RANGE_MAX_DAYS = 63
RANGE_BACKWARDS = "The last day ({last}) comes before the first day ({first})."
RANGE_TOO_LONG = "A range is at most {limit} days; {first} to {last} is {days}."
RANGE_DAY_OUTSIDE = (
    "{date} (cycle {cycle} day {day}) is outside the dosing days of {agent} ({days})."
)
RANGE_DAY_RECORDED = "{date}: a dose of {agent} is already recorded on that day."
EXCEPTION_OUTSIDE_RANGE = "Exception {date}: not a day of the range {first} to {last}."
EXCEPTION_TWICE = "Exception {date}: the day is listed twice."
EXCEPTION_NOT_LESS = (
    "Exception {date}: {dose} {unit} is not less than the planned {planned} {unit}; an "
    "exception is a missed or reduced dose (record a higher dose on its own)."
)
RANGE_AUDIT = "Entered as {agent} {first} to {last} given as planned, with {count} exception{s}"
RANGE_DAY_PROBLEM = "{date} (cycle {cycle} day {day}), {field}: {message}"
FIELD_WORDS = {
    "given_on": "date",
    "given_dose": "dose given",
    "reason": "reason",
    "reason_category": "kind of reason",
    "adverse_event": "adverse event",
    "agent": "agent",
    "subject": "subject",
    "confirm_above_plan": "dose given",
}


@dataclass(frozen=True)
class DoseException:
    """A day of a range not given as planned: missed (0) or reduced, with its reason."""

    given_on: dt.date
    given_dose: Decimal
    reason: str = ""
    reason_category: str = ""


def _range_problems(
    subject: Subject,
    agent: Agent,
    first_on: dt.date,
    last_on: dt.date,
    exceptions: Sequence[DoseException],
    planned: Decimal,
) -> dict[str, list[str]]:
    """What refuses a range before any day is written, by the field it concerns."""
    problems: dict[str, list[str]] = defaultdict(list)
    days = (last_on - first_on).days + 1
    if days < 1:
        problems["last_on"].append(RANGE_BACKWARDS.format(first=first_on, last=last_on))
        return problems
    if days > RANGE_MAX_DAYS:
        problems["last_on"].append(
            RANGE_TOO_LONG.format(limit=RANGE_MAX_DAYS, first=first_on, last=last_on, days=days)
        )
        return problems
    seen = set()
    for exception in exceptions:
        day = exception.given_on
        if not first_on <= day <= last_on:
            problems["exceptions"].append(
                EXCEPTION_OUTSIDE_RANGE.format(date=day, first=first_on, last=last_on)
            )
        elif day in seen:
            problems["exceptions"].append(EXCEPTION_TWICE.format(date=day))
        elif exception.given_dose >= planned:
            problems["exceptions"].append(
                EXCEPTION_NOT_LESS.format(
                    date=day,
                    dose=format(exception.given_dose.normalize(), "f"),
                    planned=format(planned.normalize(), "f"),
                    unit=agent.unit,
                )
            )
        seen.add(day)
    schedule = AgentSchedule.objects.filter(agent=agent).first()
    recorded = set(
        subject.doses.filter(
            agent=agent, entered_in_error=False, given_on__range=(first_on, last_on)
        ).values_list("given_on", flat=True)
    )
    for offset in range(days):
        day = first_on + dt.timedelta(days=offset)
        cycle, cycle_day = cycle_and_day(subject, day)
        if schedule is not None and not is_dosing_day(schedule, cycle, cycle_day):
            problems["days"].append(
                RANGE_DAY_OUTSIDE.format(
                    date=day, cycle=cycle, day=cycle_day, agent=agent.code,
                    days=describe_dosing_days(schedule),
                )
            )  # fmt: skip
        if day in recorded:
            problems["days"].append(RANGE_DAY_RECORDED.format(date=day, agent=agent.code))
    return problems


def dose_record_range(
    *,
    subject: Subject,
    agent: Agent,
    first_on: dt.date,
    last_on: dt.date,
    exceptions: Sequence[DoseException] = (),
    by,
    audit_reason: str = "",
) -> list[DoseAdministration]:
    """Record one administration per day from `first_on` to `last_on`, each as planned unless
    it is one of `exceptions` (a missed or reduced day with its reason), through `dose_record`.

    All or nothing: a problem with the range (order, length, a day outside the agent's dosing
    days or already recorded, an exception outside the range, twice or not below the plan) or
    with any day refuses the whole range, each problem naming its day and field, and nothing is
    written. Each dose is audited as a single entry is, with the range in its reason. Durable:
    only the dose pages enter a range.
    """
    planned = level_dose(subject, agent)
    problems = _range_problems(subject, agent, first_on, last_on, exceptions, planned)
    if problems:
        raise ValidationError(dict(problems))
    by_day = {exception.given_on: exception for exception in exceptions}
    line = RANGE_AUDIT.format(
        agent=agent.code, first=first_on, last=last_on,
        count=len(by_day), s="" if len(by_day) == 1 else "s",
    )  # fmt: skip
    reason = _with_line(audit_reason, line)
    saved = []
    with transaction.atomic(durable=True):
        for offset in range((last_on - first_on).days + 1):
            day = first_on + dt.timedelta(days=offset)
            exception = by_day.get(day)
            try:
                # Each day in its own savepoint, so that every bad day is named, not only the
                # first; any of them then rolls back the whole range.
                with transaction.atomic():
                    saved.append(
                        dose_record(
                            subject=subject,
                            agent=agent,
                            given_on=day,
                            given_dose=exception.given_dose if exception else planned,
                            reason=exception.reason if exception else "",
                            reason_category=exception.reason_category if exception else "",
                            visit=visit_on(subject, day),
                            audit_reason=reason,
                            by=by,
                        )
                    )
            except ValidationError as refused:
                cycle, cycle_day = cycle_and_day(subject, day)
                named = (
                    refused.message_dict.items()
                    if hasattr(refused, "error_dict")
                    else [("", refused.messages)]  # a lock, say: the day as a whole
                )
                for name, messages in named:
                    problems["days"].extend(
                        RANGE_DAY_PROBLEM.format(
                            date=day, cycle=cycle, day=cycle_day,
                            field=FIELD_WORDS.get(name, "dose"), message=message,
                        )
                        for message in messages
                    )  # fmt: skip
        if problems:
            # Raised inside the transaction: the days already written roll back with it.
            raise ValidationError(dict(problems))
    return saved
