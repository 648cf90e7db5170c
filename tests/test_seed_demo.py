"""manage.py seed_demo: the reference trial with 19 subjects, one user per role, idempotent.

Loading the demo takes minutes, so the module loads it once (the `demo` fixture) for every test.
"""

import datetime as dt
import json
import re
from collections import Counter
from io import StringIO
from pathlib import Path
from types import SimpleNamespace

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import CommandError
from django.urls import reverse
from django.utils import timezone

from ecrf.models import (
    AdverseEvent,
    AuditEvent,
    DoseAdministration,
    LabResult,
    Role,
    Study,
    Subject,
    SubjectStatus,
    Visit,
)
from ecrf.services.demo import DEMO_USERS, demo_seed

ROOT = Path(__file__).resolve().parents[1]
# The day the module's demo is loaded on, and an earlier day on which it is loaded first, to see
# its dates move with the day.
DEMO_DAY = dt.date(2026, 11, 2)
EARLIER_DAY = dt.date(2026, 6, 15)


def _dated_records(day: dt.date) -> list[tuple]:
    """Every record of the demo's subjects with its dates as days from `day`, in a fixed order."""

    def days(value):
        if isinstance(value, dt.datetime):
            value = value.astimezone(dt.UTC).date()
        return None if value is None else (value - day).days

    rows = []
    for code, status, *dates in Subject.objects.values_list(
        "subject_code", "status", "consent_on", "enrolled_on", "first_dose_on", "treatment_end_on"
    ):
        rows.append((code, "subject", status, *map(days, dates)))
    for code, label, status, planned_on, done_on in Visit.objects.values_list(
        "subject__subject_code", "label", "status", "planned_on", "done_on"
    ):
        rows.append((code, "visit", label, status, days(planned_on), days(done_on)))
    for code, agent, given_dose, given_on in DoseAdministration.objects.values_list(
        "subject__subject_code", "agent__code", "given_dose", "given_on"
    ):
        rows.append((code, "dose", agent, str(given_dose), days(given_on)))
    for code, term, grade, outcome, onset_on, resolved_on in AdverseEvent.objects.values_list(
        "subject__subject_code", "ctcae_term", "grade", "outcome", "onset_on", "resolved_on"
    ):
        rows.append((code, "event", term, grade, outcome, days(onset_on), days(resolved_on)))
    for code, test, value, collected_at in LabResult.objects.values_list(
        "subject__subject_code", "test_code", "value", "collected_at"
    ):
        rows.append((code, "lab", test, str(value), days(collected_at)))
    return sorted(rows, key=repr)


def _flush():
    call_command("flush", interactive=False, verbosity=0)


@pytest.fixture(scope="module")
def demo(django_db_setup, django_db_blocker):
    """The demo loaded by `seed_demo --today DEMO_DAY` (its output in `demo.output`), after a
    load on EARLIER_DAY whose records `demo.earlier` keeps (dates as days from that day) and
    which is flushed before. Both loads are committed; the data is flushed after the module."""
    with django_db_blocker.unblock():
        try:
            demo_seed(today=EARLIER_DAY)
            earlier = _dated_records(EARLIER_DAY)
            _flush()
            output = StringIO()
            call_command("seed_demo", "--today", DEMO_DAY.isoformat(), stdout=output)
            yield SimpleNamespace(output=output.getvalue(), earlier=earlier)
        finally:
            _flush()


@pytest.mark.django_db
def test_seed_demo_loads_the_reference_trial_once_and_prints_passwords_once(demo):
    study = Study.objects.get(code="IL2-IM-CTX")
    assert study.dose_levels.count() == 4 and study.agents.count() == 3 and study.sites.count() == 2
    assert Subject.objects.count() == 19
    enrolled = Subject.objects.exclude(
        status__in=[SubjectStatus.SCREEN_FAILED, SubjectStatus.SCREENING]
    )
    assert enrolled.count() == 15
    assert all(s.first_dose_on and s.dose_level for s in enrolled)
    for model in (Visit, DoseAdministration, AdverseEvent, LabResult):
        assert model.objects.count() > 0
    # Every clinical row was written through the services, so each has its audit record.
    audited = set(AuditEvent.objects.values_list("object_id", flat=True))
    for model in (Subject, Visit, DoseAdministration, AdverseEvent, LabResult):
        assert {str(pk) for pk in model.objects.values_list("pk", flat=True)} <= audited
    # The protocol's dose-limiting toxicities are in the demo data.
    assert AdverseEvent.objects.filter(ctcae_term="Capillary leak syndrome", grade=3).exists()
    # One user per role, each with a password printed this once.
    output = demo.output
    users = get_user_model().objects
    for demo in DEMO_USERS:
        user = users.get(username=demo.username)
        password = re.search(rf"^\s*{re.escape(demo.username)}\s+(\S+)$", output, re.M).group(1)
        assert user.check_password(password)
        assert user.groups.filter(name=demo.role.value).exists()
        # The name their signatures show (21 CFR 11.50): an account without one cannot sign.
        assert user.get_full_name() == f"{demo.first_name} {demo.last_name}"
    assert {d.role for d in DEMO_USERS} == set(Role)

    audit = AuditEvent.objects.count()
    second = StringIO()
    call_command("seed_demo", stdout=second)
    assert Subject.objects.count() == 19 and AuditEvent.objects.count() == audit
    assert "passwords" not in second.getvalue().lower()

    third = StringIO()
    call_command("seed_demo", "--if-empty", stdout=third)
    assert "already holds a study" in third.getvalue()


@pytest.mark.django_db
def test_the_demo_trial_is_consistent_and_its_dlt_rules_reproduce_the_published_mtd(demo):
    """Issue #12: 12 of 49 demo events were attributed to IL-2 before its first dose (day 10),
    imatinib was "interrupted" while every dose was given, and ALT increased events had no ALT
    result of their grade.

    Issue #13: under the DLT definition of the reference study file (studies/IL2-IM-CTX.json),
    the demo cohorts reproduce the published trial (Oncoimmunology 2013;2:e23079): the MTD of
    IL-2 is 6 MIU/day (dose level 2), and the DLTs are capillary leak syndrome, anorexia and
    fatigue, each flagged by the rule of grade 3 non-haematological toxicity.

    Issue #21: so it is on the day the demo is loaded, with its last cohort still on treatment.
    """
    from ecrf.models import DataQuery, QueryOrigin
    from ecrf.selectors.consistency import consistency_rows

    study = Study.objects.get(code="IL2-IM-CTX")
    assert consistency_rows(study, DEMO_DAY) == []
    assert consistency_rows(study, dt.date(2030, 1, 1)) == []
    assert not DataQuery.objects.filter(origin=QueryOrigin.CONSISTENCY).exists()
    # The only automatic queries: lab results of grade 3 or more without an adverse event.
    assert set(DataQuery.objects.values_list("origin", flat=True)) == {QueryOrigin.RECONCILIATION}
    assert DataQuery.objects.count() <= 6
    # The checks had something to check: lab-term events, IL-2 attributions, actions.
    events = AdverseEvent.objects.filter(subject__study=study)
    assert events.filter(ctcae_term__in=["Alanine aminotransferase increased", "Fever"]).exists()
    assert events.filter(
        agent_assessments__agent__code="IL2", agent_assessments__attribution="probable"
    ).exists()
    assert events.filter(agent_assessments__action_taken="interrupted").exists()

    from ecrf.selectors.dlt import dlt_overview, study_dlt_rules

    rules = study_dlt_rules(study)
    reference = json.loads((ROOT / "studies" / "IL2-IM-CTX.json").read_text())["dlt"]["rules"]
    assert rules.number == 1 and [r.id for r in rules.rules.rules] == [r["id"] for r in reference]
    overview = dlt_overview(study, DEMO_DAY)
    recommendation = overview.recommendation
    assert (recommendation.mtd, recommendation.proceed) == (2, False)
    assert overview.levels[recommendation.mtd - 1].label == "IL-2 6 MIU/day"
    dlts = sorted(
        (e.event.ctcae_term, e.flag.rule) for s in overview.subjects for e in s.events if e.counts
    )
    assert dlts == [
        ("Anorexia", "grade_3_non_haematological"),
        ("Capillary leak syndrome", "grade_3_non_haematological"),
        ("Fatigue", "grade_3_non_haematological"),
    ]


@pytest.mark.django_db
def test_on_the_day_it_is_loaded_the_demo_is_a_trial_under_way(demo, client, monkeypatch):
    """Issue #21: the demo was dated from 2026-01-05 with every subject through all cycles, so
    on any later day it looked like a finished trial. Dated back from the day it is loaded, it
    has subjects in screening, on treatment and in follow-up; nothing has happened after that
    day but planned visits; the nurse's home that day has visits due and one a few days
    overdue; and loaded on another day, every date moves by the difference."""
    statuses = Counter(Subject.objects.values_list("status", flat=True))
    assert statuses == {
        SubjectStatus.OFF_TREATMENT: 12,
        SubjectStatus.ON_TREATMENT: 3,
        SubjectStatus.SCREENING: 2,
        SubjectStatus.SCREEN_FAILED: 2,
    }
    last_week = DEMO_DAY - dt.timedelta(days=7)
    for subject in Subject.objects.filter(status=SubjectStatus.SCREENING):
        assert last_week <= subject.consent_on < DEMO_DAY and subject.enrolled_on is None
    follow_up = Subject.objects.filter(status=SubjectStatus.OFF_TREATMENT)
    assert all(s.treatment_end_on < DEMO_DAY for s in follow_up)
    on_treatment = Subject.objects.filter(status=SubjectStatus.ON_TREATMENT)
    assert all(s.treatment_end_on is None for s in on_treatment)

    # Nothing is dated on or after the day but planned visits; on treatment until yesterday.
    yesterday = DEMO_DAY - dt.timedelta(days=1)
    doses = DoseAdministration.objects
    assert not doses.filter(given_on__gte=DEMO_DAY).exists()
    assert set(doses.filter(given_on=yesterday).values_list("subject", flat=True)) == {
        s.pk for s in on_treatment
    }
    midnight = dt.datetime.combine(DEMO_DAY, dt.time(), tzinfo=dt.UTC)
    assert not LabResult.objects.filter(collected_at__gte=midnight).exists()
    assert not AdverseEvent.objects.filter(onset_on__gte=DEMO_DAY).exists()
    assert not AdverseEvent.objects.filter(resolved_on__gte=DEMO_DAY).exists()
    for event in AdverseEvent.objects.filter(resolved_on=None):
        assert event.subject.status == SubjectStatus.ON_TREATMENT
        assert event.outcome == "not_recovered"
    assert not Visit.objects.filter(done_on__gte=DEMO_DAY).exists()
    assert not Visit.objects.filter(
        status="planned", planned_on__lt=DEMO_DAY - dt.timedelta(days=7)
    )

    # The nurse's home on that day.
    monkeypatch.setattr(timezone, "localdate", lambda *args, **kwargs: DEMO_DAY)
    client.force_login(get_user_model().objects.get(username="nurse.alice"))
    response = client.get(reverse("home"))
    due, overdue = response.context["due"], response.context["overdue"]
    assert any(v.subject.status == SubjectStatus.ON_TREATMENT and v.cycle for v in due)
    assert [(v.subject.status, v.label) for v in overdue] == [(SubjectStatus.ON_TREATMENT, "C2D10")]
    assert 1 < overdue[0].days_overdue <= 7
    assert f"{overdue[0].days_overdue} days overdue" in response.content.decode()

    # Loaded on an earlier day, the same records with every date earlier by the difference.
    records = _dated_records(DEMO_DAY)
    assert len(records) > 1000 and records == demo.earlier


@pytest.mark.parametrize(
    ("today", "message"),
    [
        ("02/11/2026", "--today: '02/11/2026' is not a date (YYYY-MM-DD)."),
        (
            "2999-01-01",
            "--today: 2999-01-01 is after today; the demo would hold doses in the future.",
        ),
    ],
)
@pytest.mark.django_db
def test_seed_demo_refuses_a_today_that_is_not_a_past_date(today, message):
    audit = AuditEvent.objects.count()
    with pytest.raises(CommandError, match=re.escape(message)):
        call_command("seed_demo", "--today", today)
    assert AuditEvent.objects.count() == audit
