"""Every invariant of the data model refuses a bad value with a clear error and writes nothing."""

import datetime as dt
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from ecrf.models import (
    AdverseEvent,
    AuditEvent,
    DoseAdministration,
    DoseLevelDose,
    LabResult,
    Subject,
    SubjectStatus,
    Visit,
)
from ecrf.services import (
    ae_record,
    dose_record,
    lab_record,
    record_update,
    subject_enrol,
    subject_screen,
)
from tests.factories import study_create


def _refused(callable_, model, match: str):
    """Run callable_, expect a ValidationError containing `match`, and check nothing was written."""
    rows, audit = model.objects.count(), AuditEvent.objects.count()
    with pytest.raises(ValidationError) as info:
        callable_()
    assert match in str(info.value)
    assert model.objects.count() == rows
    assert AuditEvent.objects.count() == audit
    return info.value


def test_it_refuses_a_subject_id_already_used_in_the_study(study, site_a, alice, subject):
    _refused(
        lambda: subject_screen(
            study=study,
            site=site_a,
            subject_code="A-001",
            consent_on=dt.date(2026, 2, 2),
            by=alice,
        ),
        Subject,
        "already used in the study",
    )


def test_it_accepts_the_same_subject_id_in_another_study(study, site_a, alice, subject, definition):
    other = study_create(definition, code="OTHER")
    other_site = other.sites.get(code="A")
    from ecrf.models import StudyAssignment

    StudyAssignment.objects.create(user=alice, study=other, site=other_site)
    twin = subject_screen(
        study=other, site=other_site, subject_code="A-001", consent_on=dt.date(2026, 2, 2), by=alice
    )
    assert twin.pk != subject.pk


def test_it_refuses_a_dose_level_of_another_study(study, site_a, alice, definition):
    other = study_create(definition, code="OTHER")
    screened = subject_screen(
        study=study, site=site_a, subject_code="A-009", consent_on=dt.date(2026, 2, 1), by=alice
    )
    error = _refused(
        lambda: subject_enrol(
            subject=screened,
            dose_level=other.dose_levels.get(level=1),
            enrolled_on=dt.date(2026, 2, 5),
            first_dose_on=dt.date(2026, 2, 9),
            by=alice,
        ),
        Visit,
        "belongs to another study",
    )
    assert "dose_level" in error.message_dict
    screened.refresh_from_db()
    assert screened.status == SubjectStatus.SCREENING and screened.dose_level is None


def test_it_refuses_enrolment_before_informed_consent(study, site_a, alice):
    screened = subject_screen(
        study=study, site=site_a, subject_code="A-010", consent_on=dt.date(2026, 2, 1), by=alice
    )
    _refused(
        lambda: subject_enrol(
            subject=screened,
            dose_level=study.dose_levels.get(level=1),
            enrolled_on=dt.date(2026, 1, 31),
            first_dose_on=None,
            by=alice,
        ),
        Subject,
        "Enrolment cannot come before informed consent",
    )


def test_it_refuses_taking_a_subject_off_study_without_a_reason(subject, alice):
    _refused(
        lambda: record_update(
            record=subject,
            changes={"status": SubjectStatus.OFF_STUDY, "off_study_on": dt.date(2026, 5, 1)},
            reason="Progressive disease",
            by=alice,
        ),
        Subject,
        "needs a date and a reason",
    )


@pytest.mark.parametrize("grade", [0, 6])
def test_it_refuses_a_grade_outside_1_to_5(subject, alice, all_agents_unrelated, grade):
    _refused(
        lambda: ae_record(
            subject=subject,
            ctcae_term="Fatigue",
            grade=grade,
            onset_on=dt.date(2026, 3, 5),
            assessments=all_agents_unrelated,
            by=alice,
        ),
        AdverseEvent,
        "grade",
    )


def test_it_refuses_a_resolution_before_the_onset(subject, alice, all_agents_unrelated):
    _refused(
        lambda: ae_record(
            subject=subject,
            ctcae_term="Fatigue",
            grade=1,
            onset_on=dt.date(2026, 3, 5),
            resolved_on=dt.date(2026, 3, 4),
            assessments=all_agents_unrelated,
            by=alice,
        ),
        AdverseEvent,
        "resolution date cannot come before the onset date",
    )


def test_it_accepts_a_resolution_on_the_day_of_onset(subject, alice, all_agents_unrelated):
    event = ae_record(
        subject=subject,
        ctcae_term="Fatigue",
        grade=1,
        onset_on=dt.date(2026, 3, 5),
        resolved_on=dt.date(2026, 3, 5),
        assessments=all_agents_unrelated,
        by=alice,
    )
    assert event.resolved_on == event.onset_on


def test_it_refuses_a_grade_5_event_without_a_fatal_outcome(subject, alice, all_agents_unrelated):
    _refused(
        lambda: ae_record(
            subject=subject,
            ctcae_term="Sepsis",
            grade=5,
            onset_on=dt.date(2026, 3, 5),
            outcome="not_recovered",
            assessments=all_agents_unrelated,
            by=alice,
        ),
        AdverseEvent,
        "grade 5 event needs a fatal outcome and a date of death",
    )


def test_it_refuses_a_serious_event_without_a_criterion(subject, alice, all_agents_unrelated):
    event = ae_record(
        subject=subject,
        ctcae_term="Fever",
        grade=2,
        onset_on=dt.date(2026, 3, 5),
        assessments=all_agents_unrelated,
        by=alice,
    )
    _refused(
        lambda: record_update(record=event, changes={"serious": True}, reason="SAE", by=alice),
        AdverseEvent,
        "at least one seriousness criterion",
    )
    event.refresh_from_db()
    assert (event.serious, event.version) == (False, 1)


def test_it_accepts_a_serious_event_with_a_criterion(subject, alice, all_agents_unrelated):
    event = ae_record(
        subject=subject,
        ctcae_term="Fever",
        grade=3,
        onset_on=dt.date(2026, 3, 5),
        serious_criteria=("sae_hospitalisation",),
        site_aware_at=dt.datetime(2026, 3, 5, 10, 0, tzinfo=dt.UTC),
        assessments=all_agents_unrelated,
        by=alice,
    )
    assert event.serious and event.sae_hospitalisation


def test_it_refuses_an_event_without_attribution_for_every_agent(subject, alice):
    error = _refused(
        lambda: ae_record(
            subject=subject,
            ctcae_term="Fever",
            grade=1,
            onset_on=dt.date(2026, 3, 5),
            assessments={"IM": ("possible", "none")},
            by=alice,
        ),
        AdverseEvent,
        "missing: CTX, IL2",
    )
    assert "assessments" in error.message_dict


def test_it_refuses_a_negative_given_dose(subject, alice):
    agent = subject.study.agents.get(code="IM")
    _refused(
        lambda: dose_record(
            subject=subject,
            agent=agent,
            given_on=dt.date(2026, 3, 2),
            given_dose=Decimal(-1),
            reason="typo",
            by=alice,
        ),
        DoseAdministration,
        "given dose cannot be negative",
    )


@pytest.mark.parametrize("given", [Decimal(0), Decimal(300), Decimal(500)])
def test_it_refuses_a_missed_or_changed_dose_without_a_reason(subject, alice, given):
    agent = subject.study.agents.get(code="IM")
    _refused(
        lambda: dose_record(
            subject=subject,
            agent=agent,
            given_on=dt.date(2026, 3, 2),
            given_dose=given,
            by=alice,
        ),
        DoseAdministration,
        "needs a reason",
    )


def test_it_records_a_reduced_dose_with_its_reason_and_the_planned_dose(subject, alice):
    agent = subject.study.agents.get(code="IM")
    dose = dose_record(
        subject=subject,
        agent=agent,
        given_on=dt.date(2026, 3, 3),
        given_dose=Decimal(300),
        reason="Nausea",
        by=alice,
    )
    assert (dose.planned_dose, dose.cycle, dose.day) == (Decimal(400), 1, 2)


def test_it_places_a_lead_in_dose_on_a_negative_day_of_cycle_1(subject, alice):
    """Metronomic cyclophosphamide starts on day -21: three weeks before cycle 1 day 1."""
    agent = subject.study.agents.get(code="CTX")
    dose = dose_record(
        subject=subject,
        agent=agent,
        given_on=dt.date(2026, 2, 9),
        given_dose=Decimal(50),
        by=alice,
    )
    assert (dose.cycle, dose.day) == (1, -21)


def test_it_refuses_a_negative_lab_value(subject, alice):
    _refused(
        lambda: lab_record(
            subject=subject,
            test_code="PLAT",
            value=Decimal(-5),
            unit="10^9/L",
            collected_at=dt.datetime(2026, 3, 2, 8, tzinfo=dt.UTC),
            by=alice,
        ),
        LabResult,
        "lab value cannot be negative",
    )


def test_it_refuses_a_lower_limit_above_the_upper(subject, alice):
    _refused(
        lambda: lab_record(
            subject=subject,
            test_code="ALT",
            value=Decimal(30),
            unit="U/L",
            lln=Decimal(50),
            uln=Decimal(40),
            collected_at=dt.datetime(2026, 3, 2, 8, tzinfo=dt.UTC),
            by=alice,
        ),
        LabResult,
        "lower limit of normal cannot be above the upper",
    )


def test_it_refuses_a_missed_visit_without_a_reason(subject, alice):
    visit = subject.visits.get(label="C1D8")
    _refused(
        lambda: record_update(
            record=visit, changes={"status": "missed"}, reason="Patient did not come", by=alice
        ),
        Visit,
        "missed visit needs a reason",
    )


def test_it_refuses_a_negative_dose_at_a_dose_level(study):
    level_dose = DoseLevelDose.objects.filter(dose_level__study=study).first()
    level_dose.dose = Decimal(-3)
    with pytest.raises(ValidationError, match="A dose cannot be negative"):
        level_dose.full_clean()


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE ecrf_adverseevent SET grade = 7",
        "UPDATE ecrf_adverseevent SET resolved_on = '2026-01-01'",
        "UPDATE ecrf_doseadministration SET given_dose = -1",
        "UPDATE ecrf_doseadministration SET given_dose = 1, reason = ''",
        "UPDATE ecrf_labresult SET value = -1",
        "UPDATE ecrf_adverseevent SET serious = TRUE",
    ],
)
def test_the_database_itself_refuses_bad_values(subject, alice, all_agents_unrelated, statement):
    """The constraints hold even for a write that bypasses the services."""
    from django.db import connection

    ae_record(
        subject=subject,
        ctcae_term="Fever",
        grade=1,
        onset_on=dt.date(2026, 3, 5),
        assessments=all_agents_unrelated,
        by=alice,
    )
    dose_record(
        subject=subject,
        agent=subject.study.agents.get(code="IM"),
        given_on=dt.date(2026, 3, 2),
        given_dose=Decimal(400),
        by=alice,
    )
    lab_record(
        subject=subject,
        test_code="ALT",
        value=Decimal(30),
        unit="U/L",
        uln=Decimal(40),
        collected_at=dt.datetime(2026, 3, 2, 8, tzinfo=dt.UTC),
        by=alice,
    )
    with pytest.raises(IntegrityError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(statement)
