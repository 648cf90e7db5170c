"""A nurse's pages on a phone (390 px), a tablet (768 px) and a desktop (1280 px), and the
investigator's DLT dashboard: no page scrolls sideways (a wide table scrolls inside its own
`.table-responsive` box), the navigation collapses behind its toggler below 992 px, and the
casebook's visit list is not pushed off the first screen by the oversight panel (issue #21).
"""

import datetime as dt
import re
from decimal import Decimal

import pytest
from playwright.sync_api import expect

from ecrf.services import ae_record, dose_record, lab_record
from ecrf.services.queries import query_raise
from tests.factories import (
    PASSWORD,
    fatigue_grade_3,
    subject_at_level,
    subject_enrolled,
    user_create,
)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# Width and height of a phone held upright, a tablet held upright and a desktop window.
VIEWPORTS = {390: 844, 768: 1024, 1280: 900}

# Scroll width of the whole document and of its body beside the viewport's width.
OVERFLOW = """() => ({
    document: document.documentElement.scrollWidth,
    body: document.body.scrollWidth,
    viewport: window.innerWidth,
})"""

LONG_REASON = (
    "Held on the investigator's instruction after the grade 3 fatigue, pending the next "
    "safety review meeting; the patient was told by telephone"
)


@pytest.fixture
def casebook(study, site_a, alice, bob, subject):
    """A-001 with a potential DLT, an AE, doses with a long reason, labs and an open query, and
    two more subjects at site A for the lists."""
    fatigue = fatigue_grade_3(subject, by=alice, verbatim="Exhausted, stays in bed most of the day")
    ae_record(
        subject=subject,
        ctcae_term="Nausea",
        grade=1,
        onset_on=dt.date(2026, 3, 5),
        assessments=dict.fromkeys(("CTX", "IM", "IL2"), ("unrelated", "none")),
        by=alice,
    )
    agents = {agent.code: agent for agent in study.agents.all()}
    for code, given in (("CTX", "50"), ("IM", "400")):
        dose_record(
            subject=subject,
            agent=agents[code],
            given_on=dt.date(2026, 3, 2),
            given_dose=Decimal(given),
            by=alice,
        )
    dose_record(
        subject=subject,
        agent=agents["IM"],
        given_on=dt.date(2026, 3, 14),
        given_dose=Decimal("0"),
        reason=LONG_REASON,
        reason_category="adverse_event",
        adverse_event=fatigue,
        by=alice,
    )
    c1d8 = subject.visits.get(label="C1D8")
    for test, value, unit, lln, uln in (
        ("ALT", "130", "U/L", "0", "40"),
        ("HGB", "9.5", "g/dL", "12", "16"),
        ("NEUT", "2.1", "10^9/L", "1.5", "8"),
    ):
        lab_record(
            subject=subject,
            test_code=test,
            value=Decimal(value),
            unit=unit,
            lln=Decimal(lln),
            uln=Decimal(uln),
            collected_at=dt.datetime(2026, 3, 9, 8, 30, tzinfo=dt.UTC),
            visit=c1d8,
            by=alice,
        )
    monitor = user_create("morgan", "monitor", study, site_a)
    query_raise(
        record=fatigue,
        field="grade",
        message="The clinic note of 13 March says the patient was in bed most of the day: grade 3?",
        by=monitor,
    )
    subject_at_level(study, site_a, "A-002", sex="M", by=alice, level=2)
    subject_enrolled(study, site_a, "A-003", sex="F", by=alice)
    return subject


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


def _visit(page, live_server, path, name, shots, width):
    """Open `path`, screenshot it and return how far it scrolls sideways, if it does."""
    page.goto(f"{live_server.url}{path}")
    expect(page.locator("main h1").first).to_be_visible()
    page.screenshot(path=str(shots / f"{width}-{name}.png"), full_page=True)
    widths = page.evaluate(OVERFLOW)
    if max(widths["document"], widths["body"]) > widths["viewport"]:
        return f"{name}: {widths}"
    return None


def test_the_navigation_collapses_behind_its_toggler_below_992_px(
    live_server, browser, contexts, tmp_path, alice
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
        # Bootstrap's collapse has finished opening (it is "collapsing" while it slides down).
        expect(page.locator("#main-menu")).to_have_class(re.compile(r"\bshow\b"))
        page.screenshot(path=str(tmp_path / f"{width}-menu-open.png"))


@pytest.mark.parametrize("width", sorted(VIEWPORTS))
def test_the_nurses_and_the_investigators_pages_fit_the_width(
    live_server, browser, contexts, tmp_path, width, casebook
):
    subject = casebook
    visit = subject.visits.get(label="C1D8")
    nurse = _signed_in(browser, contexts, live_server, "alice", width)
    problems = []
    for name, path in (
        ("home", "/"),
        ("subjects", "/subjects/"),
        ("casebook-visits", f"/subjects/{subject.pk}/"),
        ("casebook-aes", f"/subjects/{subject.pk}/?tab=aes"),
        ("casebook-doses", f"/subjects/{subject.pk}/?tab=doses"),
        ("casebook-labs", f"/subjects/{subject.pk}/?tab=labs"),
        ("casebook-audit", f"/subjects/{subject.pk}/?tab=audit"),
        ("adverse-event-form", f"/subjects/{subject.pk}/adverse-events/new/"),
        ("dose-form", f"/subjects/{subject.pk}/doses/new/?date=2026-03-02"),
        ("lab-grid", f"/visits/{visit.pk}/labs/haematology/"),
        ("visit-form", f"/visits/{visit.pk}/"),
    ):
        problems.append(_visit(nurse, live_server, path, name, tmp_path, width))
        if name == "casebook-visits":
            problems.append(_visit_list_below_the_first_screen(nurse, width))
    investigator = _signed_in(browser, contexts, live_server, "bob", width)
    problems.append(_visit(investigator, live_server, "/dlt/", "dlt-dashboard", tmp_path, width))
    problems = [problem for problem in problems if problem]
    assert not problems, "\n".join(problems)


def _visit_list_below_the_first_screen(page, width):
    """Where the casebook's first visit starts, if the oversight panel pushed it off the screen."""
    expect(page.locator("#oversight #query-count-open")).to_have_text("1 open")
    first_visit = page.locator("#visits tbody tr").first
    expect(first_visit).to_be_visible()
    top = first_visit.bounding_box()["y"]
    if top + 40 > VIEWPORTS[width]:
        return f"casebook-visits: the first visit starts at {top:.0f} px of {VIEWPORTS[width]}"
    return None
