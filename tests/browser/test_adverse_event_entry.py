"""A research nurse records and corrects adverse events in a real browser: the CTCAE type-ahead,
the grades each term allows, the server's own check, and two people editing one event."""

import datetime as dt

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from ecrf.models import AdverseEvent, CtcaeTermDescription
from ecrf.services import ae_record
from tests.browser.pages import shot, sign_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def fill_the_rest(page):
    page.fill("input[name=verbatim]", "Tired all day")
    page.fill("input[name=onset_on]", "2026-03-12")
    page.select_option("select[name=outcome]", "recovering")
    page.check("input[name=serious][value=no]")
    for agent, attribution, action in (
        ("CTX", "unlikely", "none"),
        ("IM", "possible", "reduced"),
        ("IL2", "probable", "interrupted"),
    ):
        page.select_option(f"select[name=attribution_{agent}]", attribution)
        page.select_option(f"select[name=action_{agent}]", action)


def choose_fatigue_with_the_keyboard(page):
    term = page.locator("input[name=ctcae_term]")
    term.focus()
    term.press_sequentially("fatig", delay=30)
    listbox = page.get_by_role("listbox", name="Matching CTCAE terms")
    expect(listbox.get_by_role("option").first).to_contain_text("Fatigue")
    term.press("Escape")
    expect(listbox).to_be_hidden()
    term.press("ArrowDown")
    expect(listbox).to_be_visible()
    term.press("ArrowUp")
    term.press("ArrowDown")
    expect(listbox.get_by_role("option", selected=True)).to_contain_text("Fatigue")
    term.press("Enter")
    expect(listbox).to_be_hidden()
    expect(term).to_have_value("Fatigue")


def test_alice_records_a_grade_3_event_with_the_type_ahead(live_server, page, alice, subject):
    """CTCAE v5.0 defines Fatigue at grades 1-3 only, so grades 4 and 5 are not offered."""
    CtcaeTermDescription.objects.create(
        ctcae_version="5.0",
        meddra_code="10016256",
        term="Fatigue",
        grade_1="Fatigue relieved by rest",
        grade_2="Fatigue not relieved by rest; limiting instrumental ADL",
        grade_3="Fatigue not relieved by rest, limiting self care ADL",
    )
    new = f"/subjects/{subject.pk}/adverse-events/new/"
    sign_in(page, live_server, "alice", new)
    expect(page.get_by_role("combobox", name="CTCAE term")).to_be_visible()
    shot(page, "ae-new-empty")

    choose_fatigue_with_the_keyboard(page)
    expect(page.locator(".term-info")).to_contain_text("MedDRA 10016256 · grades 1, 2, 3")
    shot(page, "ae-new-term-chosen")
    for grade in ("1", "2", "3"):
        expect(page.locator(f"input[name=grade][value='{grade}']")).to_be_enabled()
    # CTCAE v5.0 defines Fatigue at grades 1-3 only: grades 4 and 5 are not offered.
    expect(page.locator("input[name=grade][value='4']")).to_be_disabled()
    expect(page.locator("input[name=grade][value='5']")).to_be_disabled()
    expect(page.locator("#div_id_grade .grade-description")).to_have_text(
        [
            "Fatigue relieved by rest",
            "Fatigue not relieved by rest; limiting instrumental ADL",
            "Fatigue not relieved by rest, limiting self care ADL",
        ]
    )

    # Keyboard-only choice of the grade: focus grade 3 and select it with the space bar.
    page.focus("input[name=grade][value='3']")
    page.keyboard.press("Space")
    fill_the_rest(page)
    shot(page, "ae-new-filled")
    page.get_by_role("button", name="Save adverse event").click()

    page.wait_for_url(f"{live_server.url}/subjects/{subject.pk}/#aes")
    expect(page.locator("text=Adverse event recorded: Fatigue grade 3.")).to_be_visible()
    page.click("button[data-bs-target='#aes']")
    aes = page.locator("#aes")
    expect(aes.get_by_role("cell", name="Fatigue (Tired all day)")).to_be_visible()
    expect(aes).to_contain_text("IL2: Probable")
    shot(page, "ae-casebook-after-save")

    event = AdverseEvent.objects.get(subject=subject)
    assert (event.ctcae_term, event.grade) == ("Fatigue", 3)
    assert event.agent_assessments.count() == 3


def test_a_grade_forced_past_the_type_ahead_is_refused_at_the_grade_field(
    live_server, page, alice, subject
):
    """CTCAE v5.0 has no grade 4 Fatigue; the server refuses it whatever the browser sends."""
    new = f"/subjects/{subject.pk}/adverse-events/new/"
    sign_in(page, live_server, "alice", new)
    choose_fatigue_with_the_keyboard(page)
    fill_the_rest(page)
    page.evaluate(
        "() => { const r = document.querySelector('input[name=grade][value=\"4\"]');"
        " r.disabled = false; r.checked = true; }"
    )
    page.get_by_role("button", name="Save adverse event").click()

    grade = page.locator("#div_id_grade")
    expect(grade.locator(".invalid-feedback")).to_have_text(
        "Grade 4 is not allowed for Fatigue in CTCAE v5.0; allowed grades: 1, 2, 3."
    )
    # What she typed is still there.
    expect(page.locator("input[name=verbatim]")).to_have_value("Tired all day")
    expect(page.locator("select[name=attribution_IL2]")).to_have_value("probable")
    shot(page, "ae-new-grade-refused")
    assert not AdverseEvent.objects.exists()


def test_one_save_names_every_problem_of_a_serious_event_then_its_clock_counts_from_awareness(
    live_server, page, alice, subject
):
    """Issue #21 items 6 and 7. ICH E2A: a serious event reaches the sponsor within 24 hours of
    the site becoming aware of it, so the clock counts from that time, not from the entry."""
    new = f"/subjects/{subject.pk}/adverse-events/new/"
    sign_in(page, live_server, "alice", new)
    choose_fatigue_with_the_keyboard(page)
    page.check("input[name=grade][value='3']")
    fill_the_rest(page)
    tomorrow = (timezone.localdate() + dt.timedelta(days=1)).isoformat()
    page.fill("input[name=onset_on]", tomorrow)
    page.select_option("select[name=attribution_IL2]", "")
    page.check("input[name=serious][value=yes]")
    page.check("input[name=serious_criteria][value=sae_hospitalisation]")
    page.get_by_role("button", name="Save adverse event").click()

    # The first save names all of them.
    expect(page.locator("#div_id_onset_on .invalid-feedback")).to_have_text(
        f"The onset date ({tomorrow}) is in the future."
    )
    expect(page.locator("#div_id_attribution_IL2 .invalid-feedback")).to_be_visible()
    expect(page.locator("#div_id_site_aware_at .invalid-feedback")).to_contain_text(
        "A serious adverse event needs the date and time the site became aware of it"
    )
    shot(page, "ae-new-every-error-at-once")
    assert not AdverseEvent.objects.exists()

    aware = timezone.localtime(timezone.now() - dt.timedelta(hours=30))
    page.fill("input[name=onset_on]", "2026-03-12")
    page.select_option("select[name=attribution_IL2]", "probable")
    page.fill("input[name=site_aware_at]", f"{aware:%Y-%m-%dT%H:%M}")
    page.get_by_role("button", name="Save adverse event").click()

    page.wait_for_url(f"{live_server.url}/subjects/{subject.pk}/#aes")
    due = aware + dt.timedelta(hours=24)
    expect(page.get_by_text("Serious: the report to the sponsor was due by")).to_contain_text(
        f"{due:%Y-%m-%d %H:%M}"
    )
    event = AdverseEvent.objects.get(subject=subject)
    assert event.serious and event.site_aware_at == aware.replace(second=0, microsecond=0)


def test_the_second_of_two_people_editing_one_event_sees_the_first_change(
    live_server, browser, page, alice, bob, subject
):
    event = ae_record(
        subject=subject,
        ctcae_term="Fatigue",
        grade=3,
        onset_on=dt.date(2026, 3, 12),
        serious_criteria=("sae_hospitalisation",),
        # The site learnt of it an hour ago: the report is not yet overdue.
        site_aware_at=timezone.now() - dt.timedelta(hours=1),
        assessments={
            "CTX": ("unrelated", "none"),
            "IM": ("unlikely", "none"),
            "IL2": ("possible", "interrupted"),
        },
        by=alice,
    )
    edit = f"/adverse-events/{event.pk}/edit/"
    sign_in(page, live_server, "alice", edit)
    # Bob works on a tablet.
    tablet = browser.new_context(viewport={"width": 820, "height": 1180})
    try:
        bob_page = tablet.new_page()
        sign_in(bob_page, live_server, "bob", edit)
        expect(page.locator("#sae-deadline")).to_contain_text("Serious: report to the sponsor by")
        shot(page, "ae-edit-alice")
        shot(bob_page, "ae-edit-bob-tablet")

        page.check("input[name=grade][value='2']")
        page.fill("input[name=change_reason]", "Investigator re-graded")
        page.get_by_role("button", name="Save changes").click()
        page.wait_for_url(f"{live_server.url}/subjects/{subject.pk}/#aes")

        bob_page.check("input[name=grade][value='1']")
        bob_page.fill("input[name=verbatim]", "Mild tiredness")
        bob_page.fill("input[name=change_reason]", "Per the patient diary")
        bob_page.get_by_role("button", name="Save changes").click()

        errors = bob_page.locator(".alert-danger").first
        expect(errors).to_contain_text("Someone else saved this record after you opened it.")
        expect(errors).to_contain_text("alice changed grade from 3 to 2")
        expect(bob_page.locator("input[name=verbatim]")).to_have_value("Mild tiredness")
        expect(bob_page.locator("input[name=change_reason]")).to_have_value("Per the patient diary")
        shot(bob_page, "ae-edit-bob-refused")
    finally:
        tablet.close()

    event.refresh_from_db()
    assert (event.grade, event.verbatim, event.version) == (2, "", 2)


def test_alice_enters_a_two_step_grade_history_on_a_phone(live_server, browser, alice, subject):
    """Grade 2 fatigue from onset, grade 3 from three days later (CTCAE v5.0: Fatigue 1-3)."""
    phone = browser.new_context(viewport={"width": 390, "height": 844})
    page = phone.new_page()
    new = f"/subjects/{subject.pk}/adverse-events/new/"
    sign_in(page, live_server, "alice", new)
    history = page.get_by_role("group", name="Grade history")
    expect(history).to_contain_text("Leave empty if the event stayed at one grade")
    # The form, history rows included, fits the phone's width (the navigation bar above it is
    # the page's own matter).
    overflowing = page.evaluate(
        "() => [...document.querySelectorAll('form.ae-form, form.ae-form *')]"
        ".filter(e => e.getBoundingClientRect().right > window.innerWidth)"
        ".map(e => e.tagName + '#' + e.id)"
    )
    assert overflowing == []

    choose_fatigue_with_the_keyboard(page)
    page.check("input[name=grade][value='3']")
    fill_the_rest(page)
    page.check("input[name=despite_supportive_care]")
    page.fill("input[name='grade_history-0-from_on']", "2026-03-12")
    page.select_option("select[name='grade_history-0-grade']", "2")
    page.fill("input[name='grade_history-1-from_on']", "2026-03-15")
    # The same grade twice is no change: the page says so next to the rows, nothing is saved.
    page.select_option("select[name='grade_history-1-grade']", "2")
    page.get_by_role("button", name="Save adverse event").click()
    expect(page.locator("#grade-history-errors")).to_contain_text(
        "have the same grade (2); a step is a change of grade"
    )
    assert not AdverseEvent.objects.exists()
    shot(page, "ae-new-grade-history-refused-phone")

    page.select_option("select[name='grade_history-1-grade']", "3")
    page.get_by_role("button", name="Save adverse event").click()
    page.wait_for_url(f"{live_server.url}/subjects/{subject.pk}/#aes")
    page.click("button[data-bs-target='#aes']")
    expect(page.locator("#aes .grade-history")).to_have_text(
        "grade 2 from 2026-03-12, grade 3 from 2026-03-15"
    )
    shot(page, "ae-casebook-grade-history-phone")
    event = AdverseEvent.objects.get(subject=subject)
    assert event.despite_supportive_care is True
    assert list(event.grade_changes.values_list("from_on", "grade")) == [
        (dt.date(2026, 3, 12), 2),
        (dt.date(2026, 3, 15), 3),
    ]
    phone.close()
