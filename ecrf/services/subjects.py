"""Screening, enrolment and the visit schedule of a subject."""

from __future__ import annotations

import datetime as dt

from django.core.exceptions import ValidationError
from django.db import transaction

from ..models import DoseLevel, Site, Study, Subject, SubjectStatus, Visit, VisitKind
from .dlt import dlt_evaluate_subject
from .records import record_create, record_update

DOSE_LEVEL_CLOSED = "Dose level {level} is not open for enrolment."
ALREADY_ENROLLED = "This subject is already enrolled."
NOT_SCREENING = "Only a subject in screening can be enrolled."


def study_day_date(first_dose_on: dt.date, cycle: int, day: int, cycle_days: int) -> dt.date:
    """The calendar date of cycle `cycle`, day `day`; day 1 of cycle 1 is the first dose.

    Negative days count back from day 1 with no day 0, so day -21 is three weeks before day 1.
    """
    if day < 0:
        return first_dose_on + dt.timedelta(days=day)
    return first_dose_on + dt.timedelta(days=(cycle - 1) * cycle_days + day - 1)


def subject_screen(
    *,
    study: Study,
    site: Site,
    subject_code: str,
    consent_on: dt.date,
    by,
    sex: str = "U",
    birth_year: int | None = None,
) -> Subject:
    """Register a consented subject in screening."""
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
) -> Subject:
    """Enrol a screened subject at a dose level open for enrolment and plan their visits."""
    if subject.status != SubjectStatus.SCREENING:
        raise ValidationError({"status": NOT_SCREENING})
    if dose_level.study_id == subject.study_id and not dose_level.open_for_enrolment:
        raise ValidationError({"dose_level": DOSE_LEVEL_CLOSED.format(level=dose_level.level)})
    with transaction.atomic():
        subject = record_update(
            record=subject,
            changes={
                "status": SubjectStatus.ON_TREATMENT,
                "dose_level": dose_level,
                "enrolled_on": enrolled_on,
                "first_dose_on": first_dose_on,
            },
            reason="Enrolment",
            by=by,
            action="ecrf.subject.enrolled",
        )
        if first_dose_on is not None:
            visits_schedule(subject=subject, by=by)
    return subject


def visits_schedule(*, subject: Subject, by) -> list[Visit]:
    """Create the planned visits the study schedule gives, skipping any that already exist."""
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
    planned.append(
        Visit(
            subject=subject,
            kind=VisitKind.END_OF_TREATMENT,
            label="EOT",
            planned_on=study_day_date(first, study.planned_cycles + 1, 1, study.cycle_days),
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
    """Correct a subject's data; a new first dose date moves every event's DLT window."""
    with transaction.atomic():
        saved = record_update(
            record=subject, changes=changes, reason=reason, by=by, expected_version=expected_version
        )
        if "first_dose_on" in changes:
            dlt_evaluate_subject(subject=saved, by=by)
    return saved
