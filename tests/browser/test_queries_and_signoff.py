"""A monitor queries an adverse event's grade, the nurse answers, the monitor closes; the
investigator signs the casebook and a later correction shows the signature as invalidated."""

import datetime as dt
from pathlib import Path

import pytest
from playwright.sync_api import expect

from ecrf.models import DataQuery, QueryState, Signature
from ecrf.services import ae_record
from tests.factories import user_create

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-output" / "screenshots"
PASSWORD = "correct horse battery"


def shot(page, name):
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def signed_in(browser, live_server, username, next_path):
    """A page of a browser context of its own, signed in as `username`, at `next_path`."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.goto(f"{live_server.url}/accounts/login/?next={next_path}")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server.url}{next_path}")
    return page


def test_query_answered_and_closed_then_a_signed_casebook_invalidated_by_a_change(
    live_server, browser, study, site_a, alice, bob, subject
):
    user_create("morgan", "monitor", study, site_a)
    event = ae_record(
        subject=subject,
        ctcae_term="Fatigue",
        grade=1,
        onset_on=dt.date(2026, 3, 12),
        assessments={
            "CTX": ("unrelated", "none"),
            "IM": ("possible", "none"),
            "IL2": ("probable", "none"),
        },
        by=alice,
    )
    casebook = f"/subjects/{subject.pk}/"
    pages = []
    try:
        # The monitor raises a query on the grade from the review page of the casebook.
        monitor = signed_in(browser, live_server, "morgan", casebook)
        pages.append(monitor)
        monitor.get_by_role("link", name="Review records: queries, verification, locks").click()
        row = monitor.locator("#review tr", has_text="Adverse event Fatigue grade 1")
        shot(monitor, "oversight-review-monitor")
        row.get_by_role("link", name="Raise query").click()
        monitor.select_option("select[name=field]", "grade")
        monitor.fill("textarea[name=message]", "The clinic note of 12 March says grade 2 fatigue.")
        shot(monitor, "oversight-query-raise")
        monitor.get_by_role("button", name="Raise query").click()
        expect(monitor.locator("#query-state")).to_have_text("Open")
        expect(monitor.locator(".alert-success")).to_contain_text("Query raised on")

        # The nurse sees it on her home page and answers it from the casebook.
        nurse = signed_in(browser, live_server, "alice", "/")
        pages.append(nurse)
        expect(nurse.locator("#query-overview")).to_contain_text("TEST-IL2")
        shot(nurse, "oversight-home-nurse")
        nurse.goto(f"{live_server.url}{casebook}")
        panel = nurse.locator("#oversight")
        expect(panel.locator("#query-count-open")).to_have_text("1 open")
        expect(panel.locator("#queries")).to_contain_text("The clinic note of 12 March")
        shot(nurse, "oversight-casebook-open-query")
        panel.get_by_role("link", name="Open").click()
        expect(nurse.locator("#correct-record")).to_have_attribute(
            "href", f"/adverse-events/{event.pk}/edit/"
        )
        nurse.fill("textarea[name=message]", "Grade 1 is right: the note was amended on 13 March.")
        shot(nurse, "oversight-query-answer")
        nurse.get_by_role("button", name="Send answer").click()
        expect(nurse.locator("#query-state")).to_have_text("Answered")

        # The monitor closes it.
        monitor.reload()
        expect(monitor.locator("#thread")).to_contain_text("the note was amended on 13 March")
        monitor.fill("textarea[name=message]", "Agreed, amended note seen.")
        monitor.get_by_role("button", name="Close query").click()
        expect(monitor.locator("#query-state")).to_have_text("Closed")
        shot(monitor, "oversight-query-closed")
        assert DataQuery.objects.get().state == QueryState.CLOSED

        # The investigator signs the whole casebook.
        investigator = signed_in(browser, live_server, "bob", casebook)
        pages.append(investigator)
        investigator.get_by_role("link", name="Sign casebook").click()
        expect(investigator.locator("#meaning")).to_contain_text(
            "I have reviewed these data and they are accurate."
        )
        expect(investigator.locator("#signer-name")).to_contain_text("Signing as Bob Baker")
        investigator.fill("input[name=password]", "not my password")
        investigator.get_by_role("button", name="Sign casebook").click()
        expect(investigator.locator("#div_id_password")).to_contain_text(
            "The password is not correct"
        )
        shot(investigator, "oversight-sign-wrong-password")
        investigator.fill("input[name=password]", PASSWORD)
        investigator.get_by_role("button", name="Sign casebook").click()
        investigator.wait_for_url(f"{live_server.url}{casebook}#oversight")
        signature = investigator.locator("#signatures [data-signature=subject]")
        expect(signature).to_contain_text("Signed · valid")
        shot(investigator, "oversight-casebook-signed")
        assert Signature.objects.get().printed_name == "Bob Baker"

        # The nurse corrects a signed value, with a reason.
        nurse.goto(f"{live_server.url}/adverse-events/{event.pk}/edit/")
        nurse.check("input[name=grade][value='2']")
        nurse.fill("input[name=change_reason]", "Late clinic note: grade 2")
        nurse.get_by_role("button", name="Save changes").click()
        nurse.wait_for_url(f"{live_server.url}{casebook}#aes")

        # The casebook now shows the signature invalidated by that change, until signed again.
        investigator.reload()
        expect(signature).to_contain_text("Signature invalidated")
        expect(signature).to_contain_text("invalidated by alice's change of grade on")
        expect(signature).to_contain_text("(Late clinic note: grade 2)")
        expect(signature.get_by_role("link", name="Sign again")).to_be_visible()
        shot(investigator, "oversight-casebook-signature-invalidated")
    finally:
        for page in pages:
            page.context.close()


def test_verified_then_locked_an_edit_is_refused_until_unlocked_and_clears_verification(
    live_server, browser, study, site_a, alice, data_manager, subject
):
    user_create("morgan", "monitor", study, site_a)
    event = ae_record(
        subject=subject,
        ctcae_term="Nausea",
        grade=1,
        onset_on=dt.date(2026, 3, 5),
        assessments=dict.fromkeys(("CTX", "IM", "IL2"), ("unrelated", "none")),
        by=alice,
    )
    casebook = f"/subjects/{subject.pk}/"
    review = f"/subjects/{subject.pk}/review/?kind=ae"
    pages = []
    try:
        monitor = signed_in(browser, live_server, "morgan", review)
        pages.append(monitor)
        monitor.get_by_role("button", name="Mark verified").click()
        expect(monitor.locator(".alert-success")).to_contain_text("marked as source-verified")
        expect(monitor.locator("#review")).to_contain_text("Verified")

        manager = signed_in(browser, live_server, "dana", review)
        pages.append(manager)
        manager.get_by_role("button", name="Lock form").click()
        expect(manager.locator(".alert-success")).to_contain_text("Form locked")
        shot(manager, "oversight-review-locked")
        manager.goto(f"{live_server.url}{casebook}")
        expect(manager.locator("#locks")).to_contain_text("Locked form")
        expect(manager.locator("#verified")).to_contain_text("Adverse event Nausea grade 1")
        shot(manager, "oversight-casebook-locked-verified")

        nurse = signed_in(browser, live_server, "alice", f"/adverse-events/{event.pk}/edit/")
        pages.append(nurse)
        nurse.check("input[name=grade][value='2']")
        nurse.fill("input[name=change_reason]", "Per the clinic note")
        nurse.get_by_role("button", name="Save changes").click()
        expect(nurse.locator("text=This form is locked by dana since")).to_be_visible()
        shot(nurse, "oversight-edit-refused-locked")

        manager.locator("#locks").get_by_role("link", name="Unlock…").click()
        manager.fill("textarea[name=reason]", "Grade query from the monitor")
        manager.get_by_role("button", name="Unlock").click()
        expect(manager.locator(".alert-success")).to_contain_text("Form unlocked")

        nurse.get_by_role("button", name="Save changes").click()
        nurse.wait_for_url(f"{live_server.url}{casebook}#aes")
        monitor.goto(f"{live_server.url}{casebook}")
        expect(monitor.locator("#verification-cleared")).to_contain_text(
            "verification cleared by a change on"
        )
        expect(monitor.locator("#verification-cleared")).to_contain_text("by alice")
        shot(monitor, "oversight-casebook-verification-cleared")
    finally:
        for page in pages:
            page.context.close()
