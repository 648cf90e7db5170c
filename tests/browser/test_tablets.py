"""A nurse's pages on a phone (390 px), a tablet (768 px) and a desktop (1280 px): the
navigation collapses behind its toggler below 992 px (issue #21).
"""

import pytest
from playwright.sync_api import expect

from tests.factories import PASSWORD

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# Width and height of a phone held upright, a tablet held upright and a desktop window.
VIEWPORTS = {390: 844, 768: 1024, 1280: 900}


@pytest.fixture
def contexts(browser):
    """Browser contexts opened by the test, closed after it."""
    opened = []
    yield opened
    for context in opened:
        context.close()


def _signed_in(browser, contexts, live_server, username, width):
    """A page of a context of its own at `width`, signed in as `username`, at the home page."""
    context = browser.new_context(viewport={"width": width, "height": VIEWPORTS[width]})
    contexts.append(context)
    page = context.new_page()
    page.goto(f"{live_server.url}/accounts/login/?next=/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server.url}/")
    return page


def test_the_navigation_collapses_behind_its_toggler_below_992_px(
    live_server, browser, contexts, alice
):
    page = _signed_in(browser, contexts, live_server, "alice", 1280)
    navbar = page.locator("nav.navbar")
    toggler = navbar.locator(".navbar-toggler")
    links = [
        navbar.get_by_role("link", name="Subjects"),
        navbar.get_by_role("link", name="DLT review"),
        navbar.get_by_role("button", name="Sign out"),
    ]
    expect(toggler).to_be_hidden()
    for link in links:
        expect(link).to_be_visible()
    # Below Bootstrap's lg breakpoint the links and the account buttons wait behind the toggler.
    for width in (768, 390):
        page.set_viewport_size({"width": width, "height": VIEWPORTS[width]})
        page.reload()
        expect(toggler).to_be_visible()
        expect(toggler).to_have_attribute("aria-expanded", "false")
        for link in links:
            expect(link).to_be_hidden()
        toggler.click()
        expect(toggler).to_have_attribute("aria-expanded", "true")
        for link in links:
            expect(link).to_be_visible()
