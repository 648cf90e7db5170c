"""Every signing page (DLT decision, lab toxicity rule-out, visit and casebook sign-off) signs
with the printed name of the signer's account, shown on the page and never typed (21 CFR Part 11,
11.50(a)(1): a signed record shows the printed name of the signer, the date and time, and the
meaning; issue #21 item 5). An account with no full name cannot sign.
"""

import datetime as dt
from decimal import Decimal

import pytest
from django.urls import reverse

from ecrf.models import AuditEvent, DltAssessment, LabToxicityAssessment, Signature
from ecrf.services import lab_record
from ecrf.services.signatures import NO_FULL_NAME
from tests.factories import PASSWORD


@pytest.fixture
def sodium(subject, alice):
    """Sodium 118 mmol/L on day 9 of A-001: hyponatremia grade 4 (CTCAE v5.0: <120 mmol/L) in
    the DLT window with no adverse event, an unreconciled lab toxicity to rule out."""
    return lab_record(
        subject=subject, test_code="SODIUM", value=Decimal(118), unit="mmol/L",
        lln=Decimal(135), uln=Decimal(145),
        collected_at=dt.datetime(2026, 3, 10, 8, tzinfo=dt.UTC), by=alice,
    )  # fmt: skip


@pytest.fixture(
    params=["dlt_decide", "lab_toxicity_rule_out", "sign_off_subject", "sign_off_visit"]
)
def signing_page(request, fatigue_event, sodium, subject):
    """(URL, the data the page posts, apart from the password) of one signing page."""
    if request.param == "dlt_decide":
        url = reverse("dlt_decide", args=[fatigue_event.dlt_assessment.pk])
        return url, {"decision": "confirmed", "reason": "Fatigue kept her in bed"}
    if request.param == "lab_toxicity_rule_out":
        url = reverse("lab_toxicity_rule_out", args=[sodium.pk])
        return url, {"reason": "Sample drawn above the drip"}
    if request.param == "sign_off_subject":
        return reverse("sign_off", args=["subject", subject.pk]), {}
    visit = subject.visits.order_by("planned_on").first()
    return reverse("sign_off", args=["visit", visit.pk]), {}


def _written() -> tuple[int, int, int, int]:
    return (
        Signature.objects.count(),
        AuditEvent.objects.count(),
        DltAssessment.objects.exclude(decision="").count(),
        LabToxicityAssessment.objects.count(),
    )


def test_the_page_shows_the_name_the_signature_will_carry(client, bob, signing_page):
    url, _ = signing_page
    client.force_login(bob)
    page = client.get(url).content.decode()
    assert 'id="signer-name"' in page and "Signing as <strong>Bob Baker</strong>" in page
    assert 'name="printed_name"' not in page


def test_a_typed_printed_name_is_ignored_and_the_accounts_full_name_is_signed(
    client, bob, signing_page
):
    url, data = signing_page
    client.force_login(bob)
    response = client.post(url, {**data, "printed_name": "Mickey Mouse", "password": PASSWORD})
    assert response.status_code == 302
    signature = Signature.objects.get()
    assert (signature.signer, signature.printed_name) == (bob, "Bob Baker")
    assert not AuditEvent.objects.filter(new_value__contains="Mickey Mouse").exists()


def test_an_account_with_no_full_name_cannot_sign_and_nothing_is_written(client, bob, signing_page):
    url, data = signing_page
    bob.first_name = bob.last_name = ""
    bob.save(update_fields=["first_name", "last_name"])
    client.force_login(bob)
    page = client.get(url).content.decode()
    assert NO_FULL_NAME in page and 'name="password"' not in page
    before = _written()
    response = client.post(url, {**data, "printed_name": "Mickey Mouse", "password": PASSWORD})
    assert response.status_code == 200
    assert NO_FULL_NAME in response.content.decode()
    assert _written() == before
