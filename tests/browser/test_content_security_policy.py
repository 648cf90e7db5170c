"""The page scripts still work under the Content Security Policy, in a real browser: the scripts
are static files, and the policy runs no inline script."""

import datetime as dt
from decimal import Decimal

import pytest
from playwright.sync_api import expect

from ecrf.models import ReferenceRange

PASSWORD = "correct horse battery"


@pytest.fixture
def haematology_url(subject):
    """The C1D8 haematology grid, with site ranges for haemoglobin in two units."""
    for unit, lln, uln in (("g/dL", "12", "16"), ("g/L", "120", "160")):
        ReferenceRange.objects.create(
            site=subject.site,
            test_code="HGB",
            unit=unit,
            lln=Decimal(lln),
            uln=Decimal(uln),
            effective_from=dt.date(2026, 1, 1),
        )
    return f"/visits/{subject.visits.get(label='C1D8').pk}/labs/haematology/"


# The database work is done by the fixtures named before the browser starts: an ORM call made
# while Playwright runs would open a connection the test database teardown cannot close.
@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_the_page_scripts_run_under_the_policy(live_server, alice, subject, haematology_url, page):
    refused = []
    page.on(
        "console", lambda msg: refused.append(msg.text) if "Content Security" in msg.text else None
    )
    page.on("pageerror", lambda error: refused.append(str(error)))
    dose_form = f"/subjects/{subject.pk}/doses/new/?date=2026-03-02"
    page.goto(f"{live_server.url}/accounts/login/?next={dose_form}")
    page.fill("input[name=username]", "alice")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server.url}{dose_form}")

    page.select_option("#id_agent", label="Imatinib (IM)")
    expect(page.locator("#planned-dose")).to_have_text("planned 400 mg")
    expect(page.locator("#dose-unit")).to_have_text("mg")

    page.goto(f"{live_server.url}{haematology_url}")
    assert page.locator("#id_HGB-lln").input_value() == "12"
    page.select_option("#id_HGB-unit", "g/L")
    assert page.locator("#id_HGB-lln").input_value() == "120"
    assert page.locator("#id_HGB-uln").input_value() == "160"

    page.goto(f"{live_server.url}/subjects/{subject.pk}/")
    page.click("button[data-bs-target='#visits']")
    expect(page.locator("#visits")).to_be_visible()
    assert refused == []
