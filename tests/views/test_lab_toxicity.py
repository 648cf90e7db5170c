"""The DLT dashboard lists unreconciled lab toxicity (grade 3 or more in the DLT window, no
matching adverse event) and marks the advice provisional; "Rule out, signed" opens the signed
decision page (issue #12).

Sodium 118 mmol/L is hyponatremia grade 4 (CTCAE v5.0: <120 mmol/L); A-001's window is
2026-03-02 to 2026-03-22; the dashboard's cutoff is today.
"""

import datetime as dt
from decimal import Decimal

import pytest
from django.urls import reverse

from ecrf.models import LabToxicityAssessment
from ecrf.services import lab_record
from ecrf.services.signatures import WRONG_PASSWORD
from tests.factories import PASSWORD


@pytest.fixture
def sodium(subject, alice):
    return lab_record(
        subject=subject, test_code="SODIUM", value=Decimal(118), unit="mmol/L",
        lln=Decimal(135), uln=Decimal(145),
        collected_at=dt.datetime(2026, 3, 10, 8, tzinfo=dt.UTC), by=alice,
    )  # fmt: skip


def test_the_dashboard_lists_it_with_a_signed_rule_out_link_and_provisional_advice(
    client, bob, sodium
):
    client.force_login(bob)
    page = client.get(reverse("dlt_dashboard")).content.decode()
    assert 'id="unreconciled-labs-TEST-IL2"' in page
    assert "Hyponatremia" in page and "2026-03-10" in page
    assert reverse("lab_toxicity_rule_out", args=[sodium.pk]) in page and "Rule out, signed" in page
    assert "Provisional: 1 item pending (1 unreconciled lab toxicity)." in page
    assert "unreconciled lab toxicity SODIUM Hyponatremia grade 4" in page


def test_another_sites_investigator_sees_the_advice_and_how_many_items_wait_elsewhere(
    client, site_b, sodium
):
    """Site A's lab toxicity makes the study's advice provisional for everyone; an investigator
    of site B is not shown the item, only that one is pending at a site they do not see."""
    from tests.factories import user_create

    bruno = user_create("bruno", "investigator", sodium.subject.study, site_b)
    client.force_login(bruno)
    page = client.get(reverse("dlt_dashboard")).content.decode()
    assert "Provisional: 1 item pending" in page
    assert "Hyponatremia" not in page
    assert "and 1 more at sites you are not assigned to." in page


def test_an_investigator_rules_it_out_on_the_page_and_it_leaves_the_dashboard(client, bob, sodium):
    client.force_login(bob)
    url = reverse("lab_toxicity_rule_out", args=[sodium.pk])
    assert client.get(url).status_code == 200
    data = {"reason": "Sample above the drip", "password": "x"}
    response = client.post(url, data)
    assert response.status_code == 200 and WRONG_PASSWORD in response.content.decode()
    response = client.post(url, {**data, "password": PASSWORD})
    assert response.status_code == 302
    decision = LabToxicityAssessment.objects.get(lab_result=sodium)
    assert decision.signature.printed_name == "Bob Baker"
    page = client.get(reverse("dlt_dashboard")).content.decode()
    assert "Rule out, signed" not in page and "Provisional" not in page
    assert "Sample above the drip" in client.get(url).content.decode()


def test_a_nurse_reads_but_cannot_sign_and_another_site_gets_404(client, alice, charlie, sodium):
    url = reverse("lab_toxicity_rule_out", args=[sodium.pk])
    client.force_login(alice)
    assert client.get(url).status_code == 200
    assert client.post(url, {"reason": "x"}).status_code == 403
    client.force_login(charlie)
    assert client.get(url).status_code == 404
    assert client.post(url, {}).status_code == 404
    page = client.get(reverse("dlt_dashboard")).content.decode()
    assert "Hyponatremia" not in page
    assert not LabToxicityAssessment.objects.exists()


def test_the_admin_review_queue_lists_it_with_the_rule_out_link(client, bob, sodium):
    url = reverse("admin:ecrf_dltreviewqueue_changelist")
    bob.is_staff = True
    bob.save(update_fields=["is_staff"])
    client.force_login(bob)
    page = client.get(url).content.decode()
    assert 'id="unreconciled-labs"' in page and "Hyponatremia" in page
    assert reverse("lab_toxicity_rule_out", args=[sodium.pk]) in page
    assert "Rule out, signed" in page


def test_the_dashboard_lists_window_end_and_exposure_per_subject(client, bob, subject, alice):
    """A-001: window to day 21 = 2026-03-22; IM 400 mg given on day 1 of 1 planned: 100%."""
    from ecrf.services import dose_record

    dose_record(subject=subject, agent=subject.study.agents.get(code="IM"),
                given_on=dt.date(2026, 3, 2), given_dose=Decimal(400), by=alice)  # fmt: skip
    client.force_login(bob)
    page = client.get(reverse("dlt_dashboard")).content.decode()
    assert "<th>Window ends</th>" in page and "2026-03-22" in page and "IM 100.0%" in page


def test_the_admin_dose_level_list_gives_the_provisional_advice(client, data_manager, sodium):
    client.force_login(data_manager)
    page = client.get(reverse("admin:ecrf_doselevel_changelist")).content.decode()
    assert "Provisional: 1 item pending (1 unreconciled lab toxicity)." in page
