"""An investigator confirms a potential DLT with an electronic signature, in a real browser."""

import datetime as dt
from pathlib import Path

import pytest
from playwright.sync_api import expect

from ecrf.models import DltAssessment, DltStatus
from ecrf.services import ae_record

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-output" / "screenshots"


def test_bob_confirms_a_dlt_with_his_signature(live_server, page, bob, alice, subject):
    event = ae_record(
        subject=subject,
        ctcae_term="Capillary leak syndrome",
        grade=3,
        onset_on=dt.date(2026, 3, 13),
        resolved_on=dt.date(2026, 3, 18),
        outcome="recovered",
        serious_criteria=("sae_hospitalisation",),
        site_aware_at=dt.datetime(2026, 3, 13, 10, 0, tzinfo=dt.UTC),
        assessments={
            "CTX": ("unlikely", "none"),
            "IM": ("possible", "interrupted"),
            "IL2": ("definite", "withdrawn"),
        },
        by=alice,
    )
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.goto(f"{live_server.url}/accounts/login/?next=/dlt/")
    page.fill("input[name=username]", "bob")
    page.fill("input[name=password]", "correct horse battery")
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server.url}/dlt/")
    queue = page.locator("#queue-TEST-IL2")
    expect(queue.get_by_role("cell", name="Capillary leak syndrome", exact=True)).to_be_visible()
    page.screenshot(path=str(SCREENSHOTS / "dlt-dashboard.png"), full_page=True)

    queue.get_by_role("link", name="Review").click()
    page.screenshot(path=str(SCREENSHOTS / "dlt-decide.png"), full_page=True)
    page.check("input[name=decision][value=confirmed]")
    page.fill("textarea[name=reason]", "Hospitalised with oedema and hypotension on IL-2")
    # The printed name is the account's full name, shown and not typed (21 CFR 11.50).
    expect(page.locator("#signer-name")).to_contain_text("Signing as Bob Baker")
    expect(page.locator("input[name=printed_name]")).to_have_count(0)
    page.fill("input[name=password]", "not my password")
    page.click("button:has-text('Sign decision')")
    expect(page.locator("text=The password is not correct")).to_be_visible()
    page.screenshot(path=str(SCREENSHOTS / "dlt-decide-wrong-password.png"), full_page=True)

    page.fill("input[name=password]", "correct horse battery")
    page.click("button:has-text('Sign decision')")
    page.wait_for_url(f"{live_server.url}/dlt/")
    expect(page.locator("text=Decision signed and recorded")).to_be_visible()
    expect(page.locator("#queue-TEST-IL2 >> text=Nothing awaits a decision")).to_be_visible()
    page.screenshot(path=str(SCREENSHOTS / "dlt-dashboard-after.png"), full_page=True)

    assessment = DltAssessment.objects.get(adverse_event=event)
    assert assessment.status == DltStatus.CONFIRMED
    assert assessment.signature.printed_name == "Bob Baker"
