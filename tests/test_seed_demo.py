"""manage.py seed_demo: the reference trial with about 17 subjects, one user per role, idempotent."""

import json
import re
from io import StringIO
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command

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
from ecrf.services.demo import DEMO_USERS

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.django_db
def test_seed_demo_loads_the_reference_trial_once_and_prints_passwords_once():
    first = StringIO()
    call_command("seed_demo", stdout=first)
    study = Study.objects.get(code="IL2-IM-CTX")
    assert study.dose_levels.count() == 4 and study.agents.count() == 3 and study.sites.count() == 2
    assert Subject.objects.count() == 17
    enrolled = Subject.objects.exclude(status=SubjectStatus.SCREEN_FAILED)
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
    output = first.getvalue()
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
    assert Subject.objects.count() == 17 and AuditEvent.objects.count() == audit
    assert "passwords" not in second.getvalue().lower()

    third = StringIO()
    call_command("seed_demo", "--if-empty", stdout=third)
    assert "already holds a study" in third.getvalue()


@pytest.mark.django_db
def test_the_demo_trial_is_consistent_and_its_dlt_rules_reproduce_the_published_mtd():
    """Issue #12: 12 of 49 demo events were attributed to IL-2 before its first dose (day 10),
    imatinib was "interrupted" while every dose was given, and ALT increased events had no ALT
    result of their grade.

    Issue #13: under the DLT definition of the reference study file (studies/IL2-IM-CTX.json),
    the demo cohorts reproduce the published trial (Oncoimmunology 2013;2:e23079): the MTD of
    IL-2 is 6 MIU/day (dose level 2), and the DLTs are capillary leak syndrome, anorexia and
    fatigue, each flagged by the rule of grade 3 non-haematological toxicity."""
    import datetime as dt

    from ecrf.models import DataQuery, QueryOrigin
    from ecrf.selectors.consistency import consistency_rows
    from ecrf.services.demo import demo_seed

    study = demo_seed().study
    assert consistency_rows(study, dt.date(2030, 1, 1)) == []
    assert not DataQuery.objects.filter(origin=QueryOrigin.CONSISTENCY).exists()
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
    overview = dlt_overview(study, dt.date(2030, 1, 1))
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
