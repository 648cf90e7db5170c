"""A research nurse records cycle 1 day 1 doses and enters lab grids, in a real browser."""

import datetime as dt
from decimal import Decimal

import pytest
from playwright.sync_api import expect

from ecrf.models import DoseAdministration, LabResult, ReferenceRange
from tests.browser.pages import shot, sign_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_alice_records_the_cycle_1_day_1_doses(live_server, page, alice, subject):
    new_dose = f"/subjects/{subject.pk}/doses/new/?date=2026-03-02"
    sign_in(page, live_server, "alice", new_dose)
    shot(page, "dose-new")

    page.get_by_label("Agent").select_option(label="Cyclophosphamide (CTX)")
    expect(page.locator("#planned-dose")).to_have_text("planned 50 mg")
    page.get_by_label("Dose given").fill("50")
    page.get_by_role("button", name="Save and record another agent").click()
    page.wait_for_url(f"{live_server.url}{new_dose}")
    expect(page.locator("text=CTX 50 mg on 2026-03-02 saved (cycle 1 day 1).")).to_be_visible()
    shot(page, "dose-saved-record-another")

    # Keyboard only: choose the agent, type the dose and save with Enter.
    page.get_by_label("Agent").focus()
    for _ in range(3):  # Choose an agent, CTX, IL2, IM
        page.keyboard.press("ArrowDown")
    expect(page.locator("#planned-dose")).to_have_text("planned 400 mg")
    # Tab passes the date (already 2026-03-02; Chromium stops at its day, month and year).
    for _ in range(6):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.id") == "id_given_dose":
            break
    assert page.evaluate("document.activeElement.id") == "id_given_dose"
    page.keyboard.type("400")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    page.wait_for_url(f"{live_server.url}/subjects/{subject.pk}/?tab=doses#doses")
    expect(page.locator("text=IM 400 mg on 2026-03-02 saved (cycle 1 day 1).")).to_be_visible()
    shot(page, "dose-casebook")

    # Interleukin-2 is given on days 10 to 14: day 1 needs a reason to save anyway.
    page.goto(f"{live_server.url}{new_dose}&agent=IL2")
    page.get_by_label("Dose given").fill("3")
    page.get_by_role("button", name="Save", exact=True).click()
    warning = page.locator("#div_id_given_on .invalid-feedback")
    assert "outside its dosing days (days 10 to 14 of each cycle)" in warning.inner_text()
    shot(page, "dose-warning")
    page.get_by_label("Reason to save despite the warnings").fill("Protocol amendment 2")
    page.get_by_role("button", name="Save", exact=True).click()
    page.wait_for_url(f"{live_server.url}/subjects/{subject.pk}/?tab=doses#doses")
    shot(page, "dose-casebook-after-override")

    doses = DoseAdministration.objects.filter(subject=subject).order_by("agent__code")
    assert [(d.agent.code, d.given_dose, d.cycle, d.day) for d in doses] == [
        ("CTX", Decimal(50), 1, 1),
        ("IL2", Decimal(3), 1, 1),
        ("IM", Decimal(400), 1, 1),
    ]


def test_alice_enters_lab_grids_and_sees_the_ctcae_grades(live_server, page, alice, subject):
    for test, unit, lln, uln in (
        ("HGB", "g/dL", "12", "16"),
        ("NEUT", "10^9/L", "1.5", "8"),
        ("ALT", "U/L", None, "40"),
    ):
        ReferenceRange.objects.create(
            site=subject.site,
            test_code=test,
            unit=unit,
            lln=None if lln is None else Decimal(lln),
            uln=Decimal(uln),
            effective_from=dt.date(2026, 1, 1),
        )
    visit = subject.visits.get(label="C1D8")
    haematology = f"/visits/{visit.pk}/labs/haematology/"
    sign_in(page, live_server, "alice", haematology)
    assert page.locator("#id_HGB-lln").input_value() == "12"
    assert page.locator("#id_NEUT-unit").input_value() == "10^9/L"
    shot(page, "lab-grid-haematology")

    # An impossible haemoglobin: the grid is refused and the message stands in its row.
    page.get_by_label("Neutrophils", exact=True).fill("2.1")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") == "id_NEUT-unit"
    page.get_by_label("Hemoglobin", exact=True).fill("40")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    error = page.locator("#HGB-value-error")
    expect(error).to_be_visible()
    assert "HGB 40 g/dL is impossible" in error.inner_text()
    expect(page.locator("text=Nothing was saved")).to_be_visible()
    assert LabResult.objects.count() == 0
    shot(page, "lab-grid-impossible-value")

    page.get_by_label("Hemoglobin", exact=True).fill("9.5")
    page.get_by_role("button", name="Save haematology").click()
    page.wait_for_url(f"{live_server.url}{haematology}")
    expect(page.locator("#row-HGB .ctcae")).to_have_text("Anemia grade 2")
    expect(page.locator("#row-NEUT .ctcae")).to_have_text("Grade 0")
    shot(page, "lab-grid-haematology-graded")

    page.get_by_role("link", name="Chemistry").click()
    page.get_by_label("Alanine aminotransferase", exact=True).fill("130")
    page.get_by_role("button", name="Save chemistry").click()
    page.wait_for_url(f"{live_server.url}/visits/{visit.pk}/labs/chemistry/")
    expect(page.locator("#row-ALT .ctcae")).to_have_text(
        "Alanine aminotransferase increased grade 2"
    )
    shot(page, "lab-grid-chemistry-graded")

    page.set_viewport_size({"width": 820, "height": 1180})
    page.goto(f"{live_server.url}{haematology}")
    shot(page, "lab-grid-haematology-tablet")
    assert LabResult.objects.count() == 3


def test_alice_saves_a_panel_with_a_test_lacking_limits_and_sees_why_it_is_not_graded(
    live_server, page, alice, subject
):
    ReferenceRange.objects.create(
        site=subject.site,
        test_code="NEUT",
        unit="10^9/L",
        lln=Decimal("1.5"),
        uln=Decimal(8),
        effective_from=dt.date(2026, 1, 1),
    )
    visit = subject.visits.get(label="C1D8")
    haematology = f"/visits/{visit.pk}/labs/haematology/"
    sign_in(page, live_server, "alice", haematology)
    # A decimal comma, and a leukocyte count with no limits (the site has no WBC range).
    page.get_by_label("Neutrophils", exact=True).fill("4,1")
    page.get_by_label("Leukocytes", exact=True).fill("5000")
    page.get_by_role("button", name="Save haematology").click()
    page.wait_for_url(f"{live_server.url}{haematology}")
    expect(page.locator(".alert-warning")).to_contain_text(
        "Leukocytes (WBC) was saved without a CTCAE grade: WBC needs lln: White blood cell "
        "decreased is graded against LLN."
    )
    expect(page.locator("#row-WBC-note")).to_contain_text("Not graded: WBC needs lln")
    expect(page.locator("#row-NEUT .ctcae")).to_have_text("Grade 0")
    shot(page, "lab-grid-not-graded")
    saved = {r.test_code: r for r in LabResult.objects.all()}
    assert (saved["NEUT"].value, saved["WBC"].ctcae_grade) == (Decimal("4.1"), None)
