"""Bob, investigator at site A, starts his day on the home page: what awaits his decision and
signature, the serious events' reporting clock and the site's open queries; he opens a potential
DLT and reads its evidence. Nothing of site B is shown to him."""

import datetime as dt
from decimal import Decimal

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from ecrf.services import ae_record, dose_record, lab_record
from ecrf.services.queries import query_raise
from ecrf.services.visits import visit_record
from tests.browser.pages import shot
from tests.factories import FIRST_DOSE, PASSWORD, subject_enrolled, user_create

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _aware_an_hour_ago() -> dt.datetime:
    """The site learnt of the serious event an hour ago: 23 hours of its clock are left."""
    return timezone.now() - dt.timedelta(hours=1)


def _day(n: int) -> dt.date:
    return FIRST_DOSE + dt.timedelta(days=n - 1)


def _site_a_day(subject, nurse, study, site) -> None:
    """A-001: capillary leak syndrome grade 3 on day 12 (serious, definitely related to IL-2),
    its doses and an ALT rise in the window, the C1D1 visit done, and a monitor's query."""
    event = ae_record(
        subject=subject, ctcae_term="Capillary leak syndrome", grade=3,
        verbatim="Generalised oedema with hypotension", onset_on=_day(12),
        grade_changes=[(_day(12), 2), (_day(13), 3)],
        serious_criteria=("sae_hospitalisation",), site_aware_at=_aware_an_hour_ago(),
        assessments={"CTX": ("unlikely", "none"), "IM": ("possible", "interrupted"),
                     "IL2": ("definite", "withdrawn")},
        by=nurse,
    )  # fmt: skip
    agents = {a.code: a for a in study.agents.all()}
    for n in range(1, 12):
        dose_record(subject=subject, agent=agents["IM"], given_on=_day(n),
                    given_dose=Decimal(400), by=nurse)  # fmt: skip
    dose_record(subject=subject, agent=agents["IM"], given_on=_day(12), given_dose=Decimal(0),
                reason="Held for capillary leak", reason_category="adverse_event",
                adverse_event=event, by=nurse)  # fmt: skip
    for n in (10, 11):
        dose_record(subject=subject, agent=agents["IL2"], given_on=_day(n),
                    given_dose=Decimal(3), by=nurse)  # fmt: skip
    lab_record(subject=subject, test_code="ALT", value=Decimal(100), unit="U/L", lln=Decimal(0),
               uln=Decimal(40), by=nurse,
               collected_at=dt.datetime.combine(_day(12), dt.time(8), tzinfo=dt.UTC))  # fmt: skip
    visit_record(visit=subject.visits.get(label="C1D1"), status="done", done_on=_day(1), by=nurse)
    monitor = user_create("morgan", "monitor", study, site)
    query_raise(record=event, field="verbatim", message="Oedema site per source?", by=monitor)


def test_bob_sees_his_lists_opens_a_potential_dlt_and_reads_its_evidence(
    live_server, page, study, site_a, site_b, alice, bob, charlie, subject
):
    _site_a_day(subject, alice, study, site_a)
    at_b = subject_enrolled(study, site_b, "B-001", by=charlie)
    ae_record(subject=at_b, ctcae_term="Fatigue", grade=3, onset_on=_day(5),
              serious_criteria=("sae_hospitalisation",), site_aware_at=_aware_an_hour_ago(),
              assessments=dict.fromkeys(("CTX", "IM", "IL2"), ("probable", "none")),
              by=charlie)  # fmt: skip

    page.goto(f"{live_server.url}/accounts/login/?next=/")
    page.fill("input[name=username]", "bob")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server.url}/")

    decisions = page.locator("#awaiting-decision")
    expect(decisions).to_contain_text("Potential DLT: Capillary leak syndrome grade 3")
    expect(decisions).to_contain_text(f"onset {_day(12):%Y-%m-%d}")
    signatures = page.locator("#awaiting-signature")
    expect(signatures.get_by_role("link", name="C1D1")).to_be_visible()
    clock = page.locator("#sae-clock")
    expect(clock).to_contain_text("Capillary leak syndrome grade 3")
    expect(clock).to_contain_text("h left")
    expect(page.locator("#open-queries")).to_contain_text("Oedema site per source?")
    expect(page.locator("#investigator-day")).not_to_contain_text("B-001")
    shot(page, "investigator-home")
    page.set_viewport_size({"width": 390, "height": 844})
    shot(page, "investigator-home-390")
    page.set_viewport_size({"width": 1280, "height": 900})

    decisions.get_by_role("link", name="Review and decide").click()
    expect(page.get_by_role("heading", name="Capillary leak syndrome grade 3")).to_be_visible()
    expect(page.locator("#verbatim")).to_have_text("Generalised oedema with hypotension")
    expect(page.locator("#grade-history")).to_have_text(
        f"grade 2 from {_day(12):%Y-%m-%d}; grade 3 from {_day(13):%Y-%m-%d}"
    )
    expect(page.locator("#onset")).to_have_text(f"{_day(12):%Y-%m-%d} (study day 12)")
    expect(page.locator("#duration")).to_contain_text("ongoing")
    expect(page.locator("#attribution")).to_contain_text("Definite")
    expect(page.locator("#attribution")).to_contain_text("Drug withdrawn")
    doses = page.locator("#window-doses")
    expect(doses).to_contain_text("Adverse event: Held for capillary leak")
    expect(doses.locator("tr.table-warning")).to_have_count(1)
    expect(page.locator("#window-labs")).to_contain_text("Alanine aminotransferase increased")
    expect(page.locator("#flagging-rule")).to_contain_text("Flagged as a DLT")
    expect(page.locator("#casebook-link")).to_have_attribute("href", f"/subjects/{subject.pk}/")
    shot(page, "investigator-dlt-evidence")
    page.set_viewport_size({"width": 390, "height": 844})
    shot(page, "investigator-dlt-evidence-390")
