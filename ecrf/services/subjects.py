"""Screening, enrolment and the visit schedule of a subject."""

from __future__ import annotations

import datetime as dt

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from ..models import (
    DoseLevel,
    Site,
    Study,
    Subject,
    SubjectStatus,
    TreatmentEnd,
    Visit,
    VisitKind,
    VisitStatus,
)
from ..selectors.enrolment import enrolment_dose_levels
from .dlt import dlt_evaluate_subject
from .errors import invalid
from .queries import queries_sync_automatic
from .records import record_create, record_update

# The subject's fields that the consistency checks read (sex and age against the CTCAE term,
# the first dose against attributions).
CONSISTENCY_FIELDS = frozenset({"sex", "birth_year", "first_dose_on"})

DOSE_LEVEL_CLOSED = "Dose level {level} is not open: {why}. Design recommendation: {advice}"
NOT_SCREENING = "Only a subject in screening can be enrolled."
DATE_IN_FUTURE = "The {what} ({date}) cannot be in the future: today is {today}."
# The dates of screening and enrolment that say something happened, by field, as the message
# names them. The first dose may be planned ahead.
PAST_DATES = {
    "consent_on": "informed consent date",
    "eligibility_confirmed_on": "eligibility date",
    "enrolled_on": "enrolment date",
}


def _future_date_errors(**dates: dt.date | None) -> dict[str, ValidationError]:
    """An error for each date after today (the site's local date), by field."""
    today = timezone.localdate()
    return {
        field: ValidationError(
            DATE_IN_FUTURE.format(what=PAST_DATES[field], date=value, today=today),
            code="date_in_future",
        )
        for field, value in dates.items()
        if value is not None and value > today
    }


def study_day_date(first_dose_on: dt.date, cycle: int, day: int, cycle_days: int) -> dt.date:
    """The calendar date of cycle `cycle`, day `day`; day 1 of cycle 1 is the first dose.

    Negative days count back from day 1 with no day 0, so day -21 is three weeks before day 1.
    """
    if day < 0:
        return first_dose_on + dt.timedelta(days=day)
    return first_dose_on + dt.timedelta(days=(cycle - 1) * cycle_days + day - 1)


SUBJECT_ID_PATTERN_BROKEN = "The study's subject ID pattern {pattern!r} cannot be used: {error}."


def next_subject_code(study: Study, site: Site) -> str:
    """The next subject ID from the study's pattern, e.g. "A-004" for "{site}-{number:03d}".

    The number is one more than the count of subjects ever registered in the study (entered in
    error included, so an ID is never given twice).
    """
    number = study.subjects.count() + 1
    while True:
        try:
            code = study.subject_id_pattern.format(site=site.code, number=number, study=study.code)
        except (KeyError, ValueError, IndexError) as exc:
            raise invalid(
                None,
                SUBJECT_ID_PATTERN_BROKEN.format(pattern=study.subject_id_pattern, error=exc),
                "subject_id_pattern_broken",
            ) from exc
        if not study.subjects.filter(subject_code=code).exists():
            return code
        number += 1


def subject_screen(
    *,
    study: Study,
    site: Site,
    consent_on: dt.date,
    by,
    subject_code: str | None = None,
    sex: str = "U",
    birth_year: int | None = None,
) -> Subject:
    """Register a consented subject in screening, with the next subject ID unless one is given.

    The ID is allocated inside the transaction that saves the subject, with the study's row
    locked, so that two registrations at the same moment never get the same number. An import
    passes the IDs its file states. Not durable: the imports and the demo screen subjects
    inside their own transaction. The consent date cannot be after today.
    """
    errors = _future_date_errors(consent_on=consent_on)
    if errors:
        raise ValidationError(errors)
    with transaction.atomic():
        if subject_code is None:
            # The lock serialises registrations in the study until this one commits.
            Study.objects.select_for_update().filter(pk=study.pk).values_list("pk").first()
            subject_code = next_subject_code(study, site)
        subject = Subject(
            study=study,
            site=site,
            subject_code=subject_code,
            consent_on=consent_on,
            sex=sex,
            birth_year=birth_year,
            status=SubjectStatus.SCREENING,
        )
        return record_create(record=subject, by=by)


def subject_enrol(
    *,
    subject: Subject,
    dose_level: DoseLevel,
    enrolled_on: dt.date,
    first_dose_on: dt.date | None,
    by,
    eligibility_confirmed_on: dt.date | None = None,
) -> Subject:
    """Enrol a screened subject at a dose level open today and plan their visits.

    A dose level is open when the escalation design allows it now, from the DLT data entered
    so far (`ecrf.selectors.enrolment`, the dashboard's recommendation), and the study settings
    have not closed it. The eligibility and enrolment dates cannot be after today. Data entry
    requires the eligibility date; an import of historical data may not have it. Not durable:
    the imports and the demo enrol inside their own transaction.
    """
    if subject.status != SubjectStatus.SCREENING:
        raise invalid("status", NOT_SCREENING, "not_screening")
    errors = _future_date_errors(
        eligibility_confirmed_on=eligibility_confirmed_on, enrolled_on=enrolled_on
    )
    if dose_level.study_id == subject.study_id:
        levels = enrolment_dose_levels(subject.study)
        why = levels.why_closed(dose_level)
        if why:
            message = DOSE_LEVEL_CLOSED.format(
                level=dose_level.level, why=why, advice=levels.advice
            )
            errors["dose_level"] = ValidationError(message, code="dose_level_closed")
    if errors:
        raise ValidationError(errors)
    with transaction.atomic():
        subject = record_update(
            record=subject,
            changes={
                "status": SubjectStatus.ON_TREATMENT,
                "dose_level": dose_level,
                "enrolled_on": enrolled_on,
                "first_dose_on": first_dose_on,
                "eligibility_confirmed_on": eligibility_confirmed_on,
            },
            reason="Enrolment",
            by=by,
            action="ecrf.subject.enrolled",
        )
        if first_dose_on is not None:
            visits_schedule(subject=subject, by=by)
    return subject


def visits_schedule(*, subject: Subject, by) -> list[Visit]:
    """Create the planned visits the study schedule gives, skipping any that already exist.

    A building block of subject_enrol, inside its transaction.
    """
    study = subject.study
    existing = set(subject.visits.values_list("label", flat=True))
    first = subject.first_dose_on
    planned: list[Visit] = [
        Visit(
            subject=subject,
            kind=VisitKind.SCREENING,
            label="Screening",
            planned_on=subject.consent_on,
            window_after=study.screening_days,
        )
    ]
    for cycle in range(1, study.planned_cycles + 1):
        for scheduled in study.schedule.all():
            planned.append(
                Visit(
                    subject=subject,
                    kind=VisitKind.CYCLE_DAY,
                    label=f"C{cycle}D{scheduled.day}",
                    cycle=cycle,
                    day=scheduled.day,
                    planned_on=study_day_date(first, cycle, scheduled.day, study.cycle_days),
                    window_before=scheduled.window_before,
                    window_after=scheduled.window_after,
                )
            )
    end_of_treatment = study_day_date(first, study.planned_cycles + 1, 1, study.cycle_days)
    planned.append(
        Visit(
            subject=subject,
            kind=VisitKind.END_OF_TREATMENT,
            label="EOT",
            planned_on=end_of_treatment,
            window_after=7,
        )
    )
    planned.append(
        Visit(
            subject=subject,
            kind=VisitKind.FOLLOW_UP,
            label="Follow-up",
            planned_on=end_of_treatment + dt.timedelta(days=study.follow_up_days),
            window_before=7,
            window_after=7,
        )
    )
    created = []
    with transaction.atomic():
        for visit in planned:
            if visit.label not in existing:
                created.append(record_create(record=visit, by=by, action="ecrf.visit.planned"))
    return created


def subject_correct(
    *,
    subject: Subject,
    changes: dict,
    reason: str,
    by,
    expected_version: int | None = None,
) -> Subject:
    """Correct a subject's data; a new first dose date moves every event's DLT window.

    Not durable: the trial import and the demo correct subjects inside their own transaction.
    """
    with transaction.atomic():
        saved = record_update(
            record=subject, changes=changes, reason=reason, by=by, expected_version=expected_version
        )
        if "first_dose_on" in changes:
            dlt_evaluate_subject(subject=saved, by=by)
        if CONSISTENCY_FIELDS & set(changes):
            queries_sync_automatic(subject=saved)
    return saved


TREATMENT_NOT_STARTED = "Treatment has not started: the subject has no first dose date."
TREATMENT_END_BEFORE_START = (
    "The end of treatment ({ended_on}) is before the first dose ({first_dose_on})."
)
TREATMENT_ALREADY_ENDED = "Treatment already ended on {ended_on}; correct that date instead."
TREATMENT_END_REASON = "Choose why treatment ended."


def subject_end_treatment(
    *,
    subject: Subject,
    ended_on: dt.date,
    reason: str,
    detail: str = "",
    by,
) -> Subject:
    """Record the end of study treatment: the date of the last dose and why it ended.

    Treatment can end in the lead-in, so the date is checked against the first dose given of
    any agent (the consent date when none is recorded, which the model enforces). A subject on treatment moves to
    "off treatment (follow-up)"; one already off study keeps that status. The audit line
    gives the reason and the nurse's detail. Not durable: the demo records it inside its own
    transaction.
    """
    if reason not in TreatmentEnd.values:
        raise invalid("treatment_end_reason", TREATMENT_END_REASON, "invalid_choice")
    if subject.first_dose_on is None:
        raise invalid("treatment_end_on", TREATMENT_NOT_STARTED, "not_on_treatment")
    if subject.treatment_end_on is not None:
        raise invalid(
            "treatment_end_on",
            TREATMENT_ALREADY_ENDED.format(ended_on=subject.treatment_end_on.isoformat()),
            "already_ended",
        )
    first_dose_on = (
        subject.doses.filter(entered_in_error=False, given_dose__gt=0)
        .order_by("given_on")
        .values_list("given_on", flat=True)
        .first()
    )
    if first_dose_on is not None and ended_on < first_dose_on:
        raise invalid(
            "treatment_end_on",
            TREATMENT_END_BEFORE_START.format(
                ended_on=ended_on.isoformat(), first_dose_on=first_dose_on.isoformat()
            ),
            "before_first_dose",
        )
    changes: dict = {"treatment_end_on": ended_on, "treatment_end_reason": reason}
    if subject.status == SubjectStatus.ON_TREATMENT:
        changes["status"] = SubjectStatus.OFF_TREATMENT
    label = TreatmentEnd(reason).label
    audit_reason = f"End of treatment: {label}" + (f": {detail.strip()}" if detail.strip() else "")
    with transaction.atomic():
        return record_update(
            record=subject,
            changes=changes,
            reason=audit_reason,
            by=by,
            action="ecrf.subject.treatment_ended",
        )


CYCLE_NOT_PLANNED = "Cycle {cycle} has no planned visits left to move."
DELAY_REASON_REQUIRED = "Give the reason for the delay."


def cycle_delay(*, subject: Subject, cycle: int, days: int, reason: str, by) -> list[Visit]:
    """Move the planned visits of a cycle, and of every cycle after it, by `days` days.

    The delay and its reason are written on each moved visit in the audit trail. Durable: the
    page's one save.
    """
    if not (reason or "").strip():
        raise invalid("reason", DELAY_REASON_REQUIRED, "reason_required")
    visits = list(
        subject.visits.filter(
            status=VisitStatus.PLANNED, entered_in_error=False, planned_on__isnull=False
        ).filter(
            Q(cycle__gte=cycle) | Q(kind__in=[VisitKind.END_OF_TREATMENT, VisitKind.FOLLOW_UP])
        )
    )
    if not any(v.cycle == cycle for v in visits):
        raise invalid("cycle", CYCLE_NOT_PLANNED.format(cycle=cycle), "cycle_not_planned")
    audit_reason = f"Cycle {cycle} delayed by {days} days: {reason.strip()}"
    with transaction.atomic(durable=True):
        return [
            record_update(
                record=visit,
                changes={"planned_on": visit.planned_on + dt.timedelta(days=days)},
                reason=audit_reason,
                by=by,
                action="ecrf.visit.cycle_delayed",
            )
            for visit in visits
        ]


def visit_unscheduled(
    *, subject: Subject, label: str, done_on: dt.date, by, reason: str = ""
) -> Visit:
    """Record a visit outside the schedule (it took place on `done_on`); durable, the page's save."""
    visit = Visit(
        subject=subject,
        kind=VisitKind.UNSCHEDULED,
        label=label.strip(),
        planned_on=done_on,
        status=VisitStatus.DONE,
        done_on=done_on,
    )
    with transaction.atomic(durable=True):
        return record_create(record=visit, by=by, reason=reason)
