"""Reads kept while the data stay the same (`ecrf.selectors.memo`): the data mark moves with
every committed change, including one committed after a later one and a signature, and the
home pages' kept lists are those computed afresh after each kind of change.

These tests commit (transaction=True): inside a transaction nothing is kept.
"""

import datetime as dt
import re
from decimal import Decimal

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from ecrf.models import AuditEvent
from ecrf.selectors import memo
from ecrf.services import ae_record, dose_record, lab_record
from ecrf.services.queries import query_raise
from ecrf.services.signoff import signoff_sign
from ecrf.services.visits import visit_record
from tests.factories import PASSWORD, POSSIBLY_IL2, subject_at_level

pytestmark = pytest.mark.django_db(transaction=True)


def _copy_of(event: AuditEvent, pk: int) -> AuditEvent:
    fields = {f.attname: getattr(event, f.attname) for f in AuditEvent._meta.concrete_fields}
    return AuditEvent.objects.create(**{**fields, "id": pk})


def test_the_mark_moves_with_an_event_committed_after_a_later_one(subject):
    """On PostgreSQL a transaction may commit its events after another committed later ids;
    the newest id is then the same, and the mark must move all the same."""
    newest = AuditEvent.objects.latest("pk")
    _copy_of(newest, newest.pk + 10)
    before = memo.data_mark()
    _copy_of(newest, newest.pk + 5)
    after = memo.data_mark()
    assert after[0] == before[0] == newest.pk + 10
    assert after != before


def test_the_mark_moves_with_a_signature(subject, alice, bob):
    visit = subject.visits.get(label="C1D1")
    visit_record(visit=visit, status="done", done_on=dt.date(2026, 3, 2), by=alice)
    before = memo.data_mark()
    signoff_sign(target=visit, by=bob, password=PASSWORD)
    assert memo.data_mark() != before


def test_kept_while_nothing_changes_and_afresh_after_a_change(subject, alice, all_agents_unrelated):
    calls = []

    def compute():
        calls.append(1)
        return len(calls)

    assert memo.kept("test", "scope", compute) == 1
    with CaptureQueriesContext(connection) as queries:
        assert memo.kept("test", "scope", compute) == 1
    assert len(queries) == 1
    assert memo.kept("test", "other scope", compute) == 2
    ae_record(subject=subject, ctcae_term="Fatigue", grade=1, onset_on=dt.date(2026, 3, 3),
              assessments=all_agents_unrelated, by=alice)  # fmt: skip
    assert memo.kept("test", "scope", compute) == 3
    with transaction.atomic():
        assert memo.kept("test", "scope", compute) == 4
        assert memo.kept("test", "scope", compute) == 5


def _table(page: str, table_id: str) -> str:
    found = re.search(rf'<table[^>]*id="{table_id}".*?</table>', page, re.S)
    assert found, f"no table {table_id}"
    return found.group(0)


def test_the_investigators_home_shows_each_change_at_once(client, subject, alice, bob, monitor):
    """The kept lists of the investigator's home: a visit done awaits signature, its signature
    takes it off, a data query raised on it shows at once."""
    client.force_login(bob)

    def table(table_id):
        return _table(client.get(reverse("home")).content.decode(), table_id)

    visit = subject.visits.get(label="C1D1")
    sign_url = reverse("sign_off", args=["visit", visit.pk])
    assert sign_url not in table("awaiting-signature")
    visit_record(visit=visit, status="done", done_on=dt.date(2026, 3, 2), by=alice)
    assert sign_url in table("awaiting-signature")
    signoff_sign(target=visit, by=bob, password=PASSWORD)
    assert sign_url not in table("awaiting-signature")
    visit.refresh_from_db()
    query = query_raise(record=visit, field="done_on", message="Please check the date", by=monitor)
    assert reverse("query_detail", args=[query.pk]) in table("open-queries")


def test_the_nurses_home_shows_a_new_open_item_at_once(client, subject, alice):
    """Sodium 118 mmol/L is hyponatremia grade 4 (CTCAE v5.0: <120 mmol/L) with no adverse
    event to explain it: an open item of the kept home lists, shown at the next request."""
    client.force_login(alice)
    assert subject.subject_code not in _table(client.get(reverse("home")).content.decode(),
                                              "open-items")  # fmt: skip
    lab_record(subject=subject, test_code="SODIUM", value=Decimal(118), unit="mmol/L",
               lln=Decimal(135), uln=Decimal(145),
               collected_at=dt.datetime(2026, 3, 10, 8, tzinfo=dt.UTC), by=alice)  # fmt: skip
    items = _table(client.get(reverse("home")).content.decode(), "open-items")
    assert subject.subject_code in items
    assert "1 lab result of grade 3 or more" in items


def test_the_dlt_dashboard_shows_a_dose_above_the_plan_at_once(client, study, site_a, alice, bob):
    """The dashboard's kept rows (`views.dlt._dashboard_overview`): dose level 2 plans IL-2 6
    MIU on day 10 (2026-03-11 for a first dose on 2026-03-02); 60 MIU given is listed at the
    next request."""
    subject = subject_at_level(study, site_a, "A-002", level=2, by=alice)
    client.force_login(bob)
    shown = "dose above plan: 60 MIU given, 6 planned (1000 %)"
    assert shown not in client.get(reverse("dlt_dashboard")).content.decode()
    dose_record(subject=subject, agent=study.agents.get(code="IL2"), given_on=dt.date(2026, 3, 11),
                given_dose=Decimal(60), reason="Pharmacy prepared the dose",
                confirm_above_plan=True, by=alice)  # fmt: skip
    assert shown in client.get(reverse("dlt_dashboard")).content.decode()


def test_the_decision_page_takes_a_candidates_flag_from_the_kept_overview(subject, alice):
    """Fatigue grade 3 possibly related to IL-2 from day 12 of the DLT window is a potential
    DLT; once the study's overview at today is kept, the decision page's flag of it is the
    overview's, the same as computed over the subject's events. A grade 1 fatigue is no
    candidate: its flag is computed."""
    from ecrf.selectors import dlt_evidence
    from ecrf.selectors.dlt import dlt_overview_today
    from tests.factories import fatigue_grade_3

    candidate = fatigue_grade_3(subject, by=alice)
    other = ae_record(subject=subject, ctcae_term="Fatigue", grade=1,
                      onset_on=dt.date(2026, 3, 4), assessments=POSSIBLY_IL2, by=alice)  # fmt: skip
    assert dlt_evidence._kept_flag(candidate) == (False, None)
    dlt_overview_today(subject.study)
    today = timezone.localdate()
    found, flag = dlt_evidence._kept_flag(candidate)
    assert found and flag is not None and flag.is_dlt
    assert flag == dlt_evidence._computed_flag(candidate, today)
    assert dlt_evidence.dlt_evidence(candidate).flag == flag
    assert dlt_evidence._kept_flag(other) == (False, None)
    assert dlt_evidence.dlt_evidence(other).flag == dlt_evidence._computed_flag(other, today)
