"""Unsaved drafts belong to the person who typed them: on a shared computer they are not put back
for someone else, signing out removes them, and they do not outlive a session (issue #21 item 1).
The nurse's own draft coming back after her session expired is tests/browser/test_session_expiry.py.
"""

import pytest
from django.conf import settings
from playwright.sync_api import expect

from tests.browser.pages import fill_sign_in, sign_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
ALICES_WORDS = "Alice's note: nausea after the second capsule"
DRAFT_ENTRIES = "Object.keys(localStorage).filter(key => key.startsWith('ecrf-draft:'))"


def ae_form(subject):
    return f"/subjects/{subject.pk}/adverse-events/new/"


def alice_types_an_adverse_event(page, live_server, subject):
    sign_in(page, live_server, "alice", ae_form(subject))
    page.fill("input[name=verbatim]", ALICES_WORDS)
    # Leaving the field is the last thing the form hears before the nurse walks away.
    page.keyboard.press("Tab")
    # The draft is really kept, so that what follows can tell it is removed.
    assert len(page.evaluate(DRAFT_ENTRIES)) == 1


def expect_nothing_of_alices(page):
    expect(page.locator("input[name=verbatim]")).to_have_value("")
    expect(page.locator(".draft-restored")).to_have_count(0)
    assert page.evaluate(DRAFT_ENTRIES) == []


def test_signing_out_removes_the_draft_and_the_next_user_gets_none(
    live_server, page, alice, bob, subject
):
    alice_types_an_adverse_event(page, live_server, subject)

    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url("**/accounts/login/**")
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    assert page.evaluate(DRAFT_ENTRIES) == []

    sign_in(page, live_server, "bob", ae_form(subject))
    expect_nothing_of_alices(page)


def test_signing_out_removes_the_drafts_before_the_next_page_arrives(
    live_server, page, alice, subject
):
    """The sign-out itself removes them: here the page after it never comes (a lost connection)."""
    alice_types_an_adverse_event(page, live_server, subject)

    def sign_out_then_lose_the_connection(route):
        route.fetch(max_redirects=0)
        route.fulfill(content_type="text/html", body="<p>No connection</p>")

    page.route("**/accounts/logout/", sign_out_then_lose_the_connection)
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_text("No connection")).to_be_visible()
    assert page.evaluate(DRAFT_ENTRIES) == []


def test_the_sign_in_page_shown_after_signing_out_removes_the_drafts(
    live_server, page, alice, subject
):
    """Even when the page that signed out did not remove them itself: form.submit() runs no
    submit handler, as a tab with an older script or a sign-out sent some other way would not."""
    alice_types_an_adverse_event(page, live_server, subject)

    page.evaluate("document.querySelector('nav form[action$=\"/logout/\"]').submit()")
    page.wait_for_url("**/accounts/login/**")
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    assert page.evaluate(DRAFT_ENTRIES) == []


def test_a_sign_out_in_another_tab_and_the_next_users_pages_remove_the_draft(
    live_server, page, alice, bob, subject
):
    """The form stays open in the first tab while the second signs out; what is typed there
    afterwards is removed when Bob signs in."""
    alice_types_an_adverse_event(page, live_server, subject)
    other_tab = page.context.new_page()
    other_tab.goto(f"{live_server.url}/")
    other_tab.get_by_role("button", name="Sign out").click()
    other_tab.wait_for_url("**/accounts/login/**")
    assert page.evaluate(DRAFT_ENTRIES) == []

    page.fill("input[name=verbatim]", ALICES_WORDS + ", typed after signing out")
    assert len(page.evaluate(DRAFT_ENTRIES)) == 1
    sign_in(other_tab, live_server, "bob", ae_form(subject))
    expect_nothing_of_alices(other_tab)


def test_after_an_expired_session_another_user_signing_in_gets_no_draft(
    live_server, page, alice, bob, subject
):
    alice_types_an_adverse_event(page, live_server, subject)

    page.context.clear_cookies(name="sessionid")
    page.get_by_role("button", name="Save").click()
    page.wait_for_url("**/accounts/login/**")
    fill_sign_in(page, "bob")
    page.wait_for_url(f"{live_server.url}{ae_form(subject)}")
    expect_nothing_of_alices(page)


def age_the_draft(page, seconds):
    """Make the draft look as if it was last typed in `seconds` ago."""
    page.evaluate(
        """seconds => {
            const key = Object.keys(localStorage).find(key => key.startsWith('ecrf-draft:'));
            const draft = JSON.parse(localStorage.getItem(key));
            draft.savedAt = Date.now() - seconds * 1000;
            localStorage.setItem(key, JSON.stringify(draft));
        }""",
        seconds,
    )


def test_a_draft_left_longer_than_a_session_comes_back_after_save_and_signing_in_again(
    live_server, page, alice, subject
):
    """The nurse typed, was called away for longer than a session lasts, came back and pressed
    Save: the session had ended, so she signs in again, and what she typed is still there."""
    alice_types_an_adverse_event(page, live_server, subject)
    age_the_draft(page, settings.SESSION_COOKIE_AGE + 5)
    page.context.clear_cookies(name="sessionid")

    page.get_by_role("button", name="Save").click()
    page.wait_for_url("**/accounts/login/**")
    fill_sign_in(page, "alice")
    page.wait_for_url(f"{live_server.url}{ae_form(subject)}")
    expect(page.locator(".draft-restored")).to_be_visible()
    expect(page.locator("input[name=verbatim]")).to_have_value(ALICES_WORDS)


def test_a_draft_older_than_a_session_is_not_put_back(live_server, page, alice, subject):
    """A session ends SESSION_COOKIE_AGE seconds after the last request (trial/settings.py);
    a draft last typed in longer ago than that was typed in a session that has ended."""
    alice_types_an_adverse_event(page, live_server, subject)
    age_the_draft(page, settings.SESSION_COOKIE_AGE + 5)

    page.reload()
    expect_nothing_of_alices(page)


def test_a_draft_a_little_younger_than_a_session_is_put_back(live_server, page, alice, subject):
    """The other side of the boundary: the same draft, a minute short of a session's lifetime."""
    alice_types_an_adverse_event(page, live_server, subject)
    age_the_draft(page, settings.SESSION_COOKIE_AGE - 60)

    page.reload()
    expect(page.locator(".draft-restored")).to_be_visible()
    expect(page.locator("input[name=verbatim]")).to_have_value(ALICES_WORDS)
