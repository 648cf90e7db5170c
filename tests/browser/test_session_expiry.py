"""A session that expires while a form is open does not throw the typed data away."""

from pathlib import Path

import pytest
from playwright.sync_api import expect

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-output" / "screenshots"


def _sign_in(page):
    page.fill("input[name=username]", "alice")
    page.fill("input[name=password]", "correct horse battery")
    page.click("button[type=submit]")


def test_typed_data_survives_an_expired_session(live_server, browser, alice, subject):
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    form_url = f"{live_server.url}/subjects/{subject.pk}/visits/unscheduled/"
    page.goto(form_url)
    _sign_in(page)
    page.wait_for_url(form_url)
    page.fill("input[name=label]", "Unscheduled: fever 39.2")
    page.fill("input[name=done_on]", "2026-03-05")

    # The session ends while the nurse is typing (timeout, or signed out in another tab).
    context.clear_cookies(name="sessionid")
    page.click("button:has-text('Save')")
    page.wait_for_url("**/accounts/login/**")
    _sign_in(page)
    page.wait_for_url(form_url)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "session-expiry-restored.png"), full_page=True)
    expect(page.locator(".draft-restored")).to_be_visible()
    assert page.input_value("input[name=label]") == "Unscheduled: fever 39.2"
    assert page.input_value("input[name=done_on]") == "2026-03-05"

    page.click("button:has-text('Save')")
    page.wait_for_selector("text=Unscheduled: fever 39.2 added.")
    assert subject.visits.filter(label="Unscheduled: fever 39.2").exists()
    # Once saved, the draft is gone: the form opens empty again.
    page.goto(form_url)
    assert page.input_value("input[name=label]") == ""
    context.close()
