"""Shared fixtures: a small trial with the Alice / Bob / Charlie personas.

Alice is a research nurse at site A, Bob an investigator at site A, Charlie a research nurse at
site B who must see none of site A's data.
"""

import datetime as dt
from decimal import Decimal

import pytest

from tests.factories import (
    DEFINITION,
    fatigue_grade_3,
    study_create,
    subject_enrolled,
    user_create,
)


@pytest.fixture
def definition():
    """A fresh deep copy of the test study definition, safe to modify."""
    import copy

    return copy.deepcopy(DEFINITION)


@pytest.fixture
def study(db, definition):
    return study_create(definition, source="conftest")


@pytest.fixture
def site_a(study):
    return study.sites.get(code="A")


@pytest.fixture
def site_b(study):
    return study.sites.get(code="B")


@pytest.fixture
def alice(study, site_a):
    return user_create("alice", "research_nurse", study, site_a)


@pytest.fixture
def bob(study, site_a):
    return user_create("bob", "investigator", study, site_a)


@pytest.fixture
def charlie(study, site_b):
    return user_create("charlie", "research_nurse", study, site_b)


@pytest.fixture
def data_manager(study):
    user = user_create("dana", "data_manager", study, None)
    user.is_staff = True
    user.save(update_fields=["is_staff"])
    return user


@pytest.fixture
def subject(study, site_a, alice):
    """A subject at site A, enrolled at dose level 1 with first dose on 2026-03-02."""
    return subject_enrolled(study, site_a, "A-001", sex="F", by=alice)


@pytest.fixture
def subject_b(study, site_b, charlie):
    from ecrf.services import subject_screen

    return subject_screen(
        study=study, site=site_b, subject_code="B-001", consent_on=dt.date(2026, 2, 1), by=charlie
    )


@pytest.fixture
def all_agents_unrelated():
    return dict.fromkeys(("CTX", "IM", "IL2"), ("unrelated", "none"))


@pytest.fixture
def site_a_records(subject, alice, data_manager, fatigue_event):
    """One record of each kind at site A, addressed by the URL parameter that names it."""
    from ecrf.models import DltAssessment
    from ecrf.services import dose_record, lab_record

    visit = subject.visits.order_by("planned_on").first()
    dose = dose_record(
        subject=subject,
        agent=subject.study.agents.get(code="IM"),
        given_on=dt.date(2026, 3, 2),
        given_dose=Decimal("400"),
        by=alice,
    )
    result = lab_record(
        subject=subject,
        test_code="ALT",
        value=Decimal("30"),
        unit="U/L",
        lln=Decimal("0"),
        uln=Decimal("40"),
        collected_at=dt.datetime(2026, 3, 3, 9, tzinfo=dt.UTC),
        by=alice,
    )
    from ecrf.services.locking import lock_data
    from ecrf.services.queries import query_raise

    monitor = user_create("site-a-monitor", "monitor", subject.study, subject.site)
    query = query_raise(
        record=fatigue_event, field="grade", message="Grade per source?", by=monitor
    )
    lock = lock_data(target=result, by=data_manager)
    return {
        "subject_id": subject.pk,
        "kind": "ae",
        "record_id": fatigue_event.pk,
        "query_id": query.pk,
        "lock_id": lock.pk,
        "visit_id": visit.pk,
        "dose_id": dose.pk,
        "event_id": fatigue_event.pk,
        "result_id": result.pk,
        "assessment_id": DltAssessment.objects.get(adverse_event=fatigue_event).pk,
        "study_id": subject.study_id,
        "panel": "chemistry",
        "fmt": "csv",
    }


@pytest.fixture
def fatigue_event(subject, alice):
    """Fatigue grade 3 on day 12, possibly related to IL-2: a potential DLT to decide on."""
    return fatigue_grade_3(subject, by=alice)


@pytest.fixture
def monitor(study, site_a):
    """Morgan, a monitor assigned to site A."""
    return user_create("morgan", "monitor", study, site_a)


@pytest.fixture
def event(subject, alice, all_agents_unrelated):
    """Nausea grade 1 on 2026-03-05, unrelated to every agent: a plain adverse event of A-001."""
    from ecrf.services import ae_record

    return ae_record(
        subject=subject,
        ctcae_term="Nausea",
        grade=1,
        onset_on=dt.date(2026, 3, 5),
        assessments=all_agents_unrelated,
        by=alice,
    )
