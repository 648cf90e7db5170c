"""The synthetic trial generator (ecrf/synthetic/trial.py) and manage.py generate_synthetic."""

from __future__ import annotations

import hashlib
from collections import Counter, defaultdict
from decimal import Decimal
from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from django.db import transaction
from django.db.models import F

from ecrf.ctcae import check_grade, get_term
from ecrf.models import (
    AdverseEvent,
    AdverseEventAgent,
    AuditEvent,
    DltAssessment,
    DltStatus,
    DoseAdministration,
    LabResult,
    Signature,
    Study,
    StudyAssignment,
    Subject,
    SubjectStatus,
    Visit,
)
from ecrf.models.audit import audit_value, audited_fields, field_value
from ecrf.services import system_actor
from ecrf.services.dlt import _signed_content, dlt_evaluate_event
from ecrf.services.labs import GRADE_FIELDS, baseline_value, ctcae_grade_of
from ecrf.synthetic.trial import SyntheticTrialError, generate_trial, reference_date

SMALL = {"subjects": 4, "events_per_subject": 5, "labs_per_subject": 20}
CLINICAL_MODELS = (
    Subject,
    Visit,
    DoseAdministration,
    AdverseEvent,
    AdverseEventAgent,
    DltAssessment,
    LabResult,
)


@pytest.fixture
def trial(db):
    return generate_trial(seed=7, **SMALL)


def _snapshot(study: Study) -> dict:
    """Every generated value, with the study definition's own keys replaced by their codes."""
    subjects = Subject.objects.filter(study=study)
    snapshot = {
        "subjects": list(
            subjects.order_by("subject_code").values(
                "id",
                "subject_code",
                "site__code",
                "dose_level__level",
                "sex",
                "birth_year",
                "status",
                "consent_on",
                "eligibility_confirmed_on",
                "enrolled_on",
                "first_dose_on",
                "off_study_on",
                "off_study_reason",
                "created_at",
                "updated_at",
                "version",
            )
        ),
        "visits": list(Visit.objects.filter(subject__study=study).order_by("id").values()),
        "doses": list(
            DoseAdministration.objects.filter(subject__study=study)
            .order_by("id")
            .values(
                "id",
                "subject_id",
                "agent__code",
                "given_on",
                "cycle",
                "day",
                "planned_dose",
                "given_dose",
                "unit",
                "reason",
                "adverse_event_id",
                "created_at",
            )
        ),
        "events": list(AdverseEvent.objects.filter(subject__study=study).order_by("id").values()),
        "attributions": list(
            AdverseEventAgent.objects.filter(adverse_event__subject__study=study)
            .order_by("id")
            .values("id", "adverse_event_id", "agent__code", "attribution", "action_taken")
        ),
        "dlt": list(
            DltAssessment.objects.filter(adverse_event__subject__study=study)
            .order_by("id")
            .values(
                "id",
                "adverse_event_id",
                "rule_flag",
                "rule",
                "rule_reason",
                "onset_day",
                "decision",
                "decision_reason",
                "decided_by__username",
                "decided_at",
                "signature__content_hash",
                "status",
                "created_at",
                "updated_at",
            )
        ),
        "labs": list(LabResult.objects.filter(subject__study=study).order_by("id").values()),
    }
    # study_load gives the study definition's rows (and the DLT rules' version) random keys,
    # and user and signature keys
    # are sequence numbers that a rolled-back run does not reuse on PostgreSQL; those fields
    # are compared above by code, name and hash.
    snapshot["audit"] = list(
        AuditEvent.objects.filter(subject_id__in=subjects.values("pk"))
        .exclude(
            field__in=(
                "study",
                "site",
                "dose_level",
                "agent",
                "decided_by",
                "signature",
                "rule_set",
            )
        )
        .order_by("at", "object_id", "field", "action")
        .values_list(
            "at",
            "user__username",
            "actor",
            "role",
            "site",
            "action",
            "model",
            "object_id",
            "object_repr",
            "subject_id",
            "field",
            "old_value",
            "new_value",
            "reason",
        )
    )
    return snapshot


class _Rollback(Exception):
    pass


def _generate_and_roll_back(seed: int) -> dict:
    try:
        with transaction.atomic():
            snapshot = _snapshot(generate_trial(seed=seed, **SMALL))
            raise _Rollback
    except _Rollback:
        pass
    assert not Study.objects.exists()
    return snapshot


@pytest.mark.django_db
def test_it_creates_the_requested_numbers_of_subjects_events_and_labs(trial):
    subjects = Subject.objects.filter(study=trial)
    assert subjects.count() == 4
    assert AdverseEvent.objects.filter(subject__study=trial).count() == 4 * 5
    assert LabResult.objects.filter(subject__study=trial).count() == 4 * 20
    events = AdverseEvent.objects.filter(subject__study=trial)
    assert AdverseEventAgent.objects.filter(adverse_event__in=events).count() == 3 * 20
    assert DltAssessment.objects.filter(adverse_event__in=events).count() == 20
    # 3+3-like cohorts: the first three subjects at dose level 1, the fourth at level 2.
    levels = [s.dose_level.level for s in subjects.order_by("first_dose_on", "subject_code")]
    assert sorted(levels) == [1, 1, 1, 2]
    for subject in subjects:
        assert subject.status in (SubjectStatus.OFF_STUDY, SubjectStatus.OFF_TREATMENT)
        assert subject.consent_on <= subject.enrolled_on < subject.first_dose_on
        assert subject.first_dose_on < reference_date(7)
        days = defaultdict(set)
        for dose in subject.doses.select_related("agent"):
            days[dose.agent.code].add(dose.day)
        # Cyclophosphamide from day -21 (lead-in), imatinib days 1-14, IL-2 days 10-14.
        assert days["CTX"] == set(range(-21, 0)) | set(range(1, 22))
        assert days["IM"] == set(range(1, 15))
        assert days["IL2"] == {10, 11, 12, 13, 14}
        assert subject.visits.filter(label="C1D1", status="done").exists()


@pytest.mark.django_db
def test_a_large_enough_trial_has_reductions_misses_off_study_reasons_and_serious_events(db):
    study = generate_trial(subjects=24, seed=11, events_per_subject=20, labs_per_subject=60)
    doses = DoseAdministration.objects.filter(subject__study=study)
    missed = doses.filter(given_dose=0)
    reduced = doses.filter(given_dose__gt=0, given_dose__lt=F("planned_dose"))
    assert missed.exists() and all(d.reason for d in missed)
    assert reduced.exists() and all(d.reason for d in reduced)
    reasons = set(Subject.objects.filter(study=study).values_list("off_study_reason", flat=True))
    assert {"Progressive disease", "Unacceptable toxicity"} <= reasons
    events = AdverseEvent.objects.filter(subject__study=study)
    grades = Counter(events.values_list("grade", flat=True))
    assert grades[1] > grades[2] > grades[3] > 0
    assert events.filter(serious=True).exists()
    assert len(set(events.values_list("ctcae_term", flat=True))) > 30
    assert Study.objects.get(pk=study.pk).sites.count() == 2
    statuses = set(
        DltAssessment.objects.filter(adverse_event__in=events).values_list("status", flat=True)
    )
    assert {DltStatus.NOT_DLT, DltStatus.CONFIRMED} <= statuses


@pytest.mark.django_db
def test_the_same_seed_gives_identical_data_and_another_seed_different_data():
    first = _generate_and_roll_back(seed=3)
    second = _generate_and_roll_back(seed=3)
    assert first == second
    assert len(first["audit"]) > 1000
    other = _generate_and_roll_back(seed=4)
    assert other["events"] != first["events"]
    assert other["labs"] != first["labs"]


@pytest.mark.django_db
def test_every_record_passes_the_models_own_validation(trial):
    """full_clean: CTCAE term and grade, no date before consent or in the future, choices."""
    for model in CLINICAL_MODELS:
        records = model.objects.all()
        assert records.exists()
        for record in records:
            record.full_clean()


@pytest.mark.django_db
def test_every_adverse_event_is_a_ctcae_term_with_an_allowed_grade(trial):
    for event in AdverseEvent.objects.filter(subject__study=trial):
        term = get_term(event.ctcae_term)
        check_grade(term, event.grade)
        assert (event.meddra_code, event.soc) == (term.meddra_code, term.soc)
        assert event.ctcae_version == "5.0"
        assert event.agent_assessments.count() == 3


@pytest.mark.django_db
def test_lab_grades_are_what_the_lab_service_stores(trial):
    results = LabResult.objects.filter(subject__study=trial).select_related("subject")
    graded = 0
    for result in results:
        baseline = baseline_value(result.subject, result.test_code, result.unit)
        expected = ctcae_grade_of(result, baseline)
        assert {name: getattr(result, name) for name in GRADE_FIELDS} == expected, result
        graded += bool(result.ctcae_grade)
    assert graded > 0


@pytest.mark.django_db
def test_lab_grades_use_the_baseline_for_a_large_trial(db):
    study = generate_trial(subjects=3, seed=5, events_per_subject=0, labs_per_subject=300)
    results = LabResult.objects.filter(subject__study=study).select_related("subject")
    assert results.count() == 900
    baselines = {}
    abnormal = 0
    for result in results:
        key = (result.subject_id, result.test_code, result.unit)
        if key not in baselines:
            baselines[key] = baseline_value(result.subject, result.test_code, result.unit)
        expected = ctcae_grade_of(result, baselines[key])
        assert {name: getattr(result, name) for name in GRADE_FIELDS} == expected, result
        abnormal += (result.ctcae_grade or 0) > 0
    assert abnormal > 20
    assert any(value is not None for value in baselines.values())


@pytest.mark.django_db
def test_every_created_record_has_the_audit_events_the_services_write(trial):
    """Replaying each record's audit events gives its stored values, field by field."""
    events = defaultdict(list)
    for event in AuditEvent.objects.exclude(subject_id=None).order_by("at", "id"):
        events[event.object_id].append(event)
    for model in CLINICAL_MODELS:
        label = model._meta.label
        for record in model.objects.all():
            trail = events[str(record.pk)]
            assert trail, f"{label} {record.pk} has no audit event"
            assert trail[0].action in (
                f"ecrf.{model._meta.model_name}.created",
                "ecrf.visit.planned",
            )
            assert all(e.model == label for e in trail)
            if model is Subject:
                # Screened first, enrolled by a later update, as subject_screen and
                # subject_enrol write it.
                created = {e.field: e.new_value for e in trail if e.action == trail[0].action}
                assert set(created) == {
                    "entered_in_error",
                    "study",
                    "site",
                    "subject_code",
                    "sex",
                    "birth_year",
                    "status",
                    "consent_on",
                }
                assert created["status"] == "screening"
                updates = [e.action for e in trail if e.action != trail[0].action]
                assert updates[0] == "ecrf.subject.enrolled"
            subject = record if isinstance(record, Subject) else None
            if subject is None:
                subject = getattr(record, "subject", None) or record.adverse_event.subject
            assert {(e.site, e.subject_id) for e in trail} == {(subject.site.code, subject.pk)}
            replayed = {}
            for event in trail:
                if event.old_value is not None or event.action != trail[0].action:
                    assert event.reason, event
                replayed[event.field] = event.new_value
            stored = {
                f.name: audit_value(_as_typed(field_value(record, f)))
                for f in audited_fields(model)
                if field_value(record, f) not in (None, "")
            }
            replayed = {k: v for k, v in replayed.items() if v not in (None, "")}
            assert replayed == stored, label
            assert trail[-1].object_repr == _repr(record), label
            # One version per service call: the creation, then each update.
            assert record.version == len({(e.action, e.at) for e in trail}), label


def _as_typed(value):
    """A decimal read back from the database (24.5000) as the generator typed it (24.5)."""
    if isinstance(value, Decimal):
        text = format(value, "f")
        return Decimal(text.rstrip("0").rstrip(".") if "." in text else text)
    return value


def _repr(record) -> str:
    """str(record) as the service saw it when writing the audit: decimals as typed."""
    if isinstance(record, LabResult):
        return f"{record.test_code} {_as_typed(record.value)} {record.unit}"
    if isinstance(record, DoseAdministration):
        given = _as_typed(record.given_dose)
        return f"{record.agent.code} {given} {record.unit} on {record.given_on}"
    return str(record)[:200]


@pytest.mark.django_db
def test_dlt_assessments_are_what_the_dlt_service_computes_and_decisions_are_signed(db):
    study = generate_trial(subjects=9, seed=3, events_per_subject=30, labs_per_subject=0)
    cutoff = reference_date(3)
    assessments = DltAssessment.objects.filter(adverse_event__subject__study=study)
    before = AuditEvent.objects.count()
    for assessment in assessments.select_related("adverse_event__subject__study"):
        again = dlt_evaluate_event(
            event=assessment.adverse_event, by=system_actor("test"), cutoff=cutoff
        )
        assert again.pk == assessment.pk
    # The service found nothing to change, so it wrote nothing.
    assert AuditEvent.objects.count() == before
    decided = assessments.exclude(decision="").select_related(
        "signature", "decided_by", "adverse_event__subject__site"
    )
    assert decided.exists() and assessments.filter(status=DltStatus.POTENTIAL).exists()
    for assessment in decided:
        signature = assessment.signature
        site = assessment.adverse_event.subject.site.code.lower()
        assert assessment.decided_by.username == f"syn.investigator.{site}"
        assert signature.signer == assessment.decided_by
        content = _signed_content(assessment, assessment.decision, assessment.decision_reason)
        assert signature.content_hash == hashlib.sha256(content.encode()).hexdigest()
        assert AuditEvent.objects.filter(
            object_id=str(assessment.pk),
            action=f"ecrf.dltassessment.{assessment.decision}",
            user=assessment.decided_by,
            role="investigator",
        ).exists()
    assert Signature.objects.count() == decided.count()


@pytest.mark.django_db
def test_the_command_prints_counts_and_creates_site_users_with_the_password():
    out = StringIO()
    call_command(
        "generate_synthetic",
        "--subjects=4",
        "--seed=1",
        "--study=SYN-CMD",
        "--events-per-subject=3",
        "--labs-per-subject=10",
        "--with-users=s3cret-pass",
        stdout=out,
    )
    output = out.getvalue()
    assert "Created study SYN-CMD" in output
    assert " s." in output
    assert "adverse events" in output and "12" in output
    study = Study.objects.get(code="SYN-CMD")
    users = get_user_model().objects
    for site in study.sites.all():
        for username, role in (
            (f"syn.nurse.{site.code.lower()}", "research_nurse"),
            (f"syn.investigator.{site.code.lower()}", "investigator"),
        ):
            user = users.get(username=username)
            assert user.check_password("s3cret-pass")
            assert user.groups.filter(name=role).exists()
            assert StudyAssignment.objects.filter(user=user, study=study, site=site).exists()


@pytest.mark.django_db
def test_without_users_the_signing_investigators_cannot_sign_in(trial):
    for user in get_user_model().objects.filter(username__startswith="syn."):
        assert user.username.startswith("syn.investigator.")
        assert not user.has_usable_password()


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("arguments", "option"),
    [
        (["--subjects=0"], "--subjects"),
        (["--subjects=2", "--events-per-subject=-1"], "--events-per-subject"),
        (["--subjects=2", "--labs-per-subject=-5"], "--labs-per-subject"),
        (["--subjects=2", "--study=not a code!"], "--study"),
    ],
)
def test_the_command_refuses_bad_options_and_writes_nothing(arguments, option):
    with pytest.raises(CommandError, match=f"^{option}"):
        call_command("generate_synthetic", "--seed=1", *arguments, stdout=StringIO())
    assert not Study.objects.exists()
    assert not AuditEvent.objects.exists()


@pytest.mark.django_db
def test_the_command_refuses_an_existing_study_code_and_writes_nothing(trial):
    audit = AuditEvent.objects.count()
    subjects = Subject.objects.count()
    with pytest.raises(CommandError, match=r"^--study: .*SYN-IL2.*already exists"):
        call_command("generate_synthetic", "--subjects=2", "--seed=1", stdout=StringIO())
    assert (AuditEvent.objects.count(), Subject.objects.count()) == (audit, subjects)


@pytest.mark.django_db
def test_the_python_api_names_the_argument_at_fault():
    with pytest.raises(SyntheticTrialError, match="subjects must be at least 1") as error:
        generate_trial(subjects=0, seed=1)
    assert error.value.option == "subjects"


def _indexes(model) -> dict:
    from django.db import connection

    with connection.cursor() as cursor:
        constraints = connection.introspection.get_constraints(cursor, model._meta.db_table)
    return {name: c["columns"] for name, c in constraints.items() if c["index"]}


@pytest.mark.django_db
def test_two_trials_share_a_database_and_every_index_is_rebuilt():
    """The first trial's bulk load drops and rebuilds the indexes; the second, smaller than
    what the tables already hold, inserts with the indexes in place."""
    models = (AuditEvent, LabResult, DoseAdministration, AdverseEvent, DltAssessment)
    before = {model: _indexes(model) for model in models}
    first = generate_trial(subjects=4, seed=1, study_code="SYN-ONE", labs_per_subject=40)
    second = generate_trial(subjects=1, seed=1, study_code="SYN-TWO", labs_per_subject=40)
    assert {model: _indexes(model) for model in models} == before
    assert all(before[model] for model in models)
    assert LabResult.objects.filter(subject__study=first).count() == 160
    assert LabResult.objects.filter(subject__study=second).count() == 40
    # The same seed under another study code: the keys are drawn from the seed and the code.
    one = AdverseEvent.objects.filter(subject__study=first).values_list("pk", flat=True)
    two = AdverseEvent.objects.filter(subject__study=second).values_list("pk", flat=True)
    assert len(two) == 50 and not set(one) & set(two)
