"""A research nurse signs in through a real browser and reaches her site's subjects."""

import pytest
from playwright.sync_api import expect

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_alice_signs_in_and_opens_a_casebook(live_server, page, alice, subject, subject_b):
    page.goto(f"{live_server.url}/")
    assert "/accounts/login/" in page.url
    page.fill("input[name=username]", "alice")
    page.fill("input[name=password]", "wrong password")
    page.click("button[type=submit]")
    expect(page.locator(".alert, .invalid-feedback, .errorlist").first).to_be_visible()

    page.fill("input[name=username]", "alice")
    page.fill("input[name=password]", "correct horse battery")
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server.url}/")
    page.click("nav >> text=Subjects")
    expect(page.get_by_role("link", name="A-001", exact=True)).to_be_visible()
    assert page.locator("text=B-001").count() == 0
    # Bootstrap is served from the project: the navbar is styled (dark background).
    background = page.eval_on_selector("nav.navbar", "n => getComputedStyle(n).backgroundColor")
    assert background != "rgba(0, 0, 0, 0)"

    page.get_by_role("link", name="A-001", exact=True).click()
    page.click("button[data-bs-target='#visits']")
    expect(page.locator("#visits").get_by_role("link", name="C1D8")).to_be_visible()
