"""A research nurse registers, enrols and follows a subject through the visit schedule, in a
real browser; a change to saved data asks for a reason."""

import pytest
from playwright.sync_api import expect

from ecrf.models import AuditEvent, Subject
from tests.browser.pages import shot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_alice_registers_enrols_and_records_a_visit(live_server, page, alice, study):
    page.goto(f"{live_server.url}/accounts/login/")
    page.fill("input[name=username]", "alice")
    page.fill("input[name=password]", "correct horse battery")
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server.url}/")
    shot(page, "enrol-home")

    page.click("nav >> text=Subjects")
    page.click("text=Register a subject in TEST-IL2")
    page.fill("input[name=consent_on]", "2026-09-01")
    page.select_option("select[name=sex]", "F")
    page.fill("input[name=birth_year]", "1958")
    shot(page, "enrol-screening")
    page.click("button:has-text('Save')")
    page.wait_for_selector("text=Subject A-001 registered in screening")
    shot(page, "enrol-casebook-screening")

    page.click("a:has-text('Enrol')")
    # No patient yet: the 3+3 design opens dose level 1 only, and the page says why not DL2.
    expect(page.locator("#enrolment-dose-levels")).to_contain_text(
        "DL2 IL-2 6 MIU/day: the escalation to it has not been cleared"
    )
    expect(page.locator("select[name=dose_level] option")).to_have_text(
        ["---------", "DL1 IL-2 3 MIU/day"]
    )
    page.fill("input[name=eligibility_confirmed_on]", "2026-09-03")
    page.fill("input[name=enrolled_on]", "2026-09-04")
    page.select_option("select[name=dose_level]", label="DL1 IL-2 3 MIU/day")
    page.fill("input[name=first_dose_on]", "2026-09-07")
    page.click("button:has-text('Save')")
    page.wait_for_selector("text=A-001 enrolled at DL1 IL-2 3 MIU/day")
    expect(page.locator("#visits").get_by_role("link", name="C1D8")).to_be_visible()
    shot(page, "enrol-casebook-enrolled")

    page.click("#visits >> a:has-text('C1D1')")
    page.fill("input[name=done_on]", "2026-09-07")
    page.click("button:has-text('Save')")
    page.wait_for_selector("text=C1D1 saved.")

    page.click("#visits >> a:has-text('C1D1')")
    page.fill("input[name=done_on]", "2026-09-08")
    page.click("button:has-text('Save')")
    expect(page.locator("text=Give a reason for changing data").first).to_be_visible()
    shot(page, "enrol-visit-reason-required")
    page.fill("input[name=change_reason]", "Date transcribed wrongly")
    page.click("button:has-text('Save')")
    # 8 Sep: out of window
    expect(page.locator("text=give a reason to save anyway").first).to_be_visible()
    page.fill("input[name=override_reason]", "Patient came a day late")
    page.click("button:has-text('Save')")
    page.wait_for_selector("text=C1D1 saved.")
    shot(page, "enrol-casebook-visit-saved")

    subject = Subject.objects.get(subject_code="A-001")
    row = AuditEvent.objects.get(subject_id=subject.pk, field="done_on", old_value="2026-09-07")
    assert row.new_value == "2026-09-08" and "Date transcribed wrongly" in row.reason
    assert "Patient came a day late" in row.reason
