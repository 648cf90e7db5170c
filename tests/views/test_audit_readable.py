"""The audit tab and the audit trail page read like sentences: records by the names a nurse
knows ("AE Fatigue grade 3, onset day 12"), fields by their labels, values as the forms show
them (the agent's code, not its id; a choice's label; Yes/No). The CSV keeps what was stored."""

from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from ecrf.models import AuditEvent
from ecrf.services import dose_record
from ecrf.services.adverse_events import ae_update
from tests.factories import FIRST_DOSE, fatigue_grade_3


@pytest.fixture
def recorded(subject, alice):
    event = fatigue_grade_3(subject, by=alice)
    ae_update(event=event, changes={"despite_supportive_care": True},
              agent_changes={"IL2": {"attribution": "probable"}}, reason="Still grade 3 on supportive care",
              by=alice)  # fmt: skip
    agent = subject.study.agents.get(code="IM")
    dose_record(subject=subject, agent=agent, given_on=FIRST_DOSE, given_dose=Decimal(400),
                by=alice)  # fmt: skip
    return event


def _pages(client, subject):
    casebook = client.get(reverse("subject_detail", args=[subject.pk]), {"tab": "audit"})
    trail = client.get(reverse("audit_trail", args=[subject.pk]))
    assert casebook.status_code == trail.status_code == 200
    return casebook.content.decode(), trail.content.decode()


def test_records_are_named_as_the_nurse_knows_them(client, alice, subject, recorded):
    client.force_login(alice)
    for page in _pages(client, subject):
        # Onset 2026-03-13 with the first dose on 2026-03-02: study day 12.
        assert "AE Fatigue grade 3, onset day 12" in page
        assert "AE Fatigue grade 3, onset day 12 · attribution to IL2" in page
        assert "Dose of IM, cycle 1 day 1 (2026-03-02)" in page
        assert f"Subject {subject.subject_code}" in page
        assert str(recorded.pk) not in page.replace(f"?record={recorded.pk}", "")


def test_fields_show_their_labels_and_values_as_the_forms_do(client, alice, subject, recorded):
    client.force_login(alice)
    agent_id = str(subject.study.agents.get(code="IM").pk)
    for page in _pages(client, subject):
        assert ">Attribution<" in page and ">attribution<" not in page
        assert ">Probable<" in page  # the choice's label, not "probable"
        assert ">Persisted despite optimal supportive care<" in page
        assert ">Yes<" in page and ">True<" not in page  # a boolean
        assert agent_id not in page  # the dose's agent by its code
        assert ">ctcae_term<" not in page
        # The DLT assessment's rule set by its version, not its id (loading the study
        # recorded version 1).
        version = subject.study.dlt_rule_sets.get()
        assert str(version.pk) not in page
        assert "DLT rules version 1" in page


def test_the_csv_keeps_the_values_as_stored(client, alice, subject, recorded):
    client.force_login(alice)
    response = client.get(reverse("audit_trail", args=[subject.pk]), {"format": "csv"})
    body = response.content.decode()
    assert ",attribution," in body and ",probable," in body and ",True," in body
    assert AuditEvent.objects.filter(field="attribution", new_value="probable").exists()


def test_a_page_costs_the_same_queries_whatever_kinds_of_record_it_shows(
    client, alice, subject, recorded
):
    client.force_login(alice)
    url = reverse("audit_trail", args=[subject.pk])
    counts = []
    for record in (None, recorded.pk):
        params = {"record": str(record)} if record else {}
        client.get(url, params)
        with CaptureQueriesContext(connection) as queries:
            assert client.get(url, params).status_code == 200
        counts.append(len(queries))
    assert counts[0] == counts[1]
