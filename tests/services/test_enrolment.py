"""Screening and enrolment refuse what the trial does not allow today, whatever the caller (page,
admin, import): a dose level the escalation design has not opened, and dates of consent,
eligibility and enrolment after today (issue #21 item 3).

The test trial is a 3+3 design with two dose levels (Storer 1989: escalate after 0 DLT in 3
evaluable patients; 2 DLTs at a dose exceed the MTD). A subject enrolled by default has its
first dose on 2026-03-02 and no dose recorded: evaluable once its 21-day window is complete.
"""

import datetime as dt

import pytest
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command
from django.utils import timezone

from ecrf.models import AuditEvent, Subject, SubjectStatus
from ecrf.services import record_update, subject_enrol, subject_screen, system_actor
from ecrf.services.subjects import DATE_IN_FUTURE
from tests.factories import fatigue_grade_3, subject_enrolled


def _screened(study, site, by, code="A-050"):
    return subject_screen(
        study=study, site=site, subject_code=code, consent_on=dt.date(2026, 9, 1), by=by
    )


def _enrol(subject, level, *, by, **dates):
    dates.setdefault("enrolled_on", dt.date(2026, 9, 5))
    dates.setdefault("eligibility_confirmed_on", dt.date(2026, 9, 4))
    return subject_enrol(
        subject=subject,
        dose_level=subject.study.dose_levels.get(level=level),
        first_dose_on=dt.date(2026, 9, 7),
        by=by,
        **dates,
    )


def _refusal(error: ValidationError) -> dict[str, list[tuple[str, str]]]:
    return {
        field: [(e.code, e.message % (e.params or {})) for e in errors]
        for field, errors in error.error_dict.items()
    }


def _unchanged(subject) -> bool:
    subject.refresh_from_db()
    return subject.status == SubjectStatus.SCREENING and subject.dose_level is None


def test_dose_level_2_stays_closed_until_3_patients_at_dose_level_1_are_evaluable(
    study, site_a, alice
):
    """Storer 1989: 0 DLT in fewer than 3 patients: complete the cohort of 3 before escalating."""
    for number in (1, 2):
        subject_enrolled(study, site_a, f"A-00{number}", by=alice)
    screened = _screened(study, site_a, alice)
    audit_lines = AuditEvent.objects.count()
    with pytest.raises(ValidationError) as refused:
        _enrol(screened, 2, by=alice)
    assert _refusal(refused.value) == {
        "dose_level": [
            (
                "dose_level_closed",
                "Dose level 2 is not open: the escalation to it has not been cleared (only "
                "dose level 1 is open). Design recommendation: 0 of 2 evaluable patients at "
                "dose level 1 had a DLT: complete the cohort of 3 at dose level 1.",
            )
        ]
    }
    assert _unchanged(screened) and AuditEvent.objects.count() == audit_lines
    # The third patient at dose level 1 is welcome; once evaluable, dose level 2 opens.
    subject_enrolled(study, site_a, "A-003", by=alice)
    assert _enrol(screened, 2, by=alice).dose_level.level == 2


def test_a_dose_level_that_exceeds_the_mtd_is_refused_naming_it(study, site_a, alice):
    """Storer 1989: 2 DLTs at dose level 2 (undecided potential DLTs count until ruled out)
    make it exceed the MTD: no patient enters it again."""
    for number in (1, 2, 3):
        subject_enrolled(study, site_a, f"A-00{number}", by=alice)
    for number in (4, 5):
        treated = subject_enrolled(
            study, site_a, f"A-00{number}", level=2, first_dose_on=dt.date(2026, 4, 1), by=alice
        )
        fatigue_grade_3(treated, onset_on=dt.date(2026, 4, 5), by=alice)
    screened = _screened(study, site_a, alice)
    with pytest.raises(ValidationError) as refused:
        _enrol(screened, 2, by=alice)
    [(code, message)] = _refusal(refused.value)["dose_level"]
    assert code == "dose_level_closed"
    assert message.startswith(
        "Dose level 2 is not open: it exceeds the MTD. Design recommendation:"
    )
    assert "2 of 2 evaluable patients at dose level 2 had a DLT" in message
    assert _unchanged(screened)
    assert _enrol(screened, 1, by=alice).dose_level.level == 1


def test_a_level_closed_in_the_study_settings_stays_closed(study, site_a, alice):
    record_update(
        record=study.dose_levels.get(level=1),
        changes={"open_for_enrolment": False},
        reason="Cohort full",
        by=system_actor("test"),
    )
    screened = _screened(study, site_a, alice)
    with pytest.raises(ValidationError) as refused:
        _enrol(screened, 1, by=alice)
    [(_, message)] = _refusal(refused.value)["dose_level"]
    assert message.startswith(
        "Dose level 1 is not open: it is closed to enrolment in the study settings."
    )


def test_eligibility_and_enrolment_after_today_are_refused_naming_each_field(study, site_a, alice):
    today = timezone.localdate()
    tomorrow = today + dt.timedelta(days=1)
    screened = _screened(study, site_a, alice)
    with pytest.raises(ValidationError) as refused:
        _enrol(screened, 1, by=alice, eligibility_confirmed_on=tomorrow, enrolled_on=tomorrow)
    assert _refusal(refused.value) == {
        "eligibility_confirmed_on": [
            (
                "date_in_future",
                DATE_IN_FUTURE.format(what="eligibility date", date=tomorrow, today=today),
            )
        ],
        "enrolled_on": [
            (
                "date_in_future",
                DATE_IN_FUTURE.format(what="enrolment date", date=tomorrow, today=today),
            )
        ],
    }
    assert _unchanged(screened)
    # Today is not in the future; the first dose may be planned ahead.
    enrolled = _enrol(screened, 1, by=alice, eligibility_confirmed_on=today, enrolled_on=today)
    assert enrolled.enrolled_on == today


def test_a_consent_date_after_today_is_refused_and_no_subject_is_registered(study, site_a, alice):
    today = timezone.localdate()
    tomorrow = today + dt.timedelta(days=1)
    with pytest.raises(ValidationError) as refused:
        subject_screen(study=study, site=site_a, consent_on=tomorrow, by=alice)
    assert _refusal(refused.value) == {
        "consent_on": [
            (
                "date_in_future",
                f"The informed consent date ({tomorrow}) cannot be in the future: today is "
                f"{today}.",
            )
        ]
    }
    assert not Subject.objects.exists()
    assert subject_screen(study=study, site=site_a, consent_on=today, by=alice).consent_on == today


SUBJECTS = """subject_id,site,dose_level,enrolled_on,first_dose_on,off_study_on,off_study_reason
S01,A,1,2026-01-01,2026-01-05,,
S02,A,2,2026-01-02,2026-01-06,,
"""


def test_an_import_gets_the_same_refusal_and_writes_nothing(tmp_path, study):
    """Only one patient at dose level 1 before the file's dose level 2: the row is refused."""
    (tmp_path / "subjects.csv").write_text(SUBJECTS, encoding="utf-8")
    with pytest.raises(CommandError) as refused:
        call_command("import_csv", str(tmp_path), "--study", "TEST-IL2")
    assert "subjects.csv:3:dose_level: Dose level 2 is not open: the escalation to it has not " in (
        str(refused.value)
    )
    assert not Subject.objects.exists()
