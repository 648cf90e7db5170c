"""A research nurse records imatinib days 1 to 14 as planned, with a missed day, in one form
(issue #21 item 4), and is asked to confirm an IL-2 dose far above the plan."""

import datetime as dt
from decimal import Decimal

import pytest
from playwright.sync_api import expect

from ecrf.models import DataQuery, DoseAdministration, QueryOrigin
from tests.browser.pages import shot, sign_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_alice_records_imatinib_days_1_to_14_with_a_missed_day(live_server, page, alice, subject):
    new_dose = f"/subjects/{subject.pk}/doses/new/"
    sign_in(page, live_server, "alice", new_dose)
    page.get_by_role("link", name="Record a date range as planned").click()
    page.wait_for_url(f"{live_server.url}/subjects/{subject.pk}/doses/range/")

    page.get_by_label("Agent").select_option(label="Imatinib (IM)")
    page.get_by_label("From").fill("2026-03-02")
    page.get_by_label("To").fill("2026-03-15")
    page.get_by_label("Given as planned on every day of the range").check()
    first = page.locator(".dose-exception").first
    first.get_by_label("Day").fill("2026-03-05")
    first.get_by_label("Dose given").fill("0")
    # No reason yet: the row is refused, nothing is saved.
    page.get_by_role("button", name="Save the range").click()
    expect(first).to_contain_text("A dose reduced, increased or missed needs a reason.")
    assert DoseAdministration.objects.count() == 0
    shot(page, "dose-range-refused")

    first = page.locator(".dose-exception").first
    first.get_by_label("Kind of reason").select_option(label="Patient decision")
    first.get_by_role("textbox", name="Reason").fill("Forgot the tablets")
    page.get_by_role("button", name="Save the range").click()
    page.wait_for_url(f"{live_server.url}/subjects/{subject.pk}/?tab=doses#doses")
    expect(
        page.get_by_text(
            "IM: 14 doses saved from 2026-03-02 to 2026-03-15, 1 of them missed or reduced."
        )
    ).to_be_visible()
    shot(page, "dose-range-saved")
    doses = DoseAdministration.objects.filter(subject=subject).order_by("given_on")
    assert [d.given_on for d in doses] == [
        dt.date(2026, 3, 2) + dt.timedelta(days=i) for i in range(14)
    ]
    assert [d.given_dose for d in doses if d.given_dose != 400] == [Decimal(0)]


def test_alice_confirms_an_il2_dose_far_above_the_plan(live_server, page, alice, subject):
    """Dose level 1 plans IL-2 3 MIU: 30 MIU is 1000 % of it."""
    new_dose = f"/subjects/{subject.pk}/doses/new/"
    sign_in(page, live_server, "alice", new_dose)
    page.goto(f"{live_server.url}{new_dose}?agent=IL2&date=2026-03-11")
    page.get_by_label("Dose given").fill("30")
    page.get_by_label("Kind of reason").select_option(label="Other")
    page.get_by_label("Reason for a dose other than planned").fill("Pharmacy prepared the dose")
    page.get_by_role("button", name="Save", exact=True).click()
    confirm = page.get_by_label("I confirm the dose given was 30 MIU, 1000 % of the planned 3 MIU.")
    expect(confirm).to_be_visible()
    expect(page.locator("#div_id_confirm_above_plan .invalid-feedback")).to_contain_text(
        "30 MIU given, 3 planned (1000 %) is more than 110 % of the planned dose"
    )
    assert DoseAdministration.objects.count() == 0
    shot(page, "dose-above-plan-confirm")
    confirm.check()
    page.get_by_role("button", name="Save", exact=True).click()
    page.wait_for_url(f"{live_server.url}/subjects/{subject.pk}/?tab=doses#doses")
    dose = DoseAdministration.objects.get()
    assert dose.given_dose == Decimal(30)
    assert DataQuery.objects.get(origin=QueryOrigin.DOSE_ABOVE_PLAN).object_id == str(dose.pk)
