"""The DLT decision page shows the evidence Bob decides on: the event, its grade history, onset
day and duration, attribution and action per agent, the doses and labs of the DLT window, the
casebook and the rule that flagged it."""

import datetime as dt
import re
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from ecrf.models import DltAssessment
from ecrf.services import ae_record, dose_record, lab_record
from tests.factories import FIRST_DOSE, subject_enrolled, user_create


def _day(n: int) -> dt.date:
    """Study day n of A-001 (day 1 is the first dose, 2026-03-02)."""
    return FIRST_DOSE + dt.timedelta(days=n - 1)


def _at(n: int, hour: int = 8) -> dt.datetime:
    return dt.datetime.combine(_day(n), dt.time(hour), tzinfo=dt.UTC)


@pytest.fixture
def capillary_leak(subject, alice):
    """Capillary leak syndrome on day 12, grade 2 then 3 from day 13, resolved on day 17;
    definitely related to IL-2, which was withdrawn."""
    return ae_record(
        subject=subject,
        ctcae_term="Capillary leak syndrome",
        grade=3,
        verbatim="Generalised oedema with hypotension",
        onset_on=_day(12),
        resolved_on=_day(17),
        outcome="recovered",
        grade_changes=[(_day(12), 2), (_day(13), 3)],
        assessments={
            "CTX": ("unlikely", "none"),
            "IM": ("possible", "interrupted"),
            "IL2": ("definite", "withdrawn"),
        },
        by=alice,
    )


def _doses(subject, alice, event) -> None:
    """Imatinib 400 mg on days 1-11, none on day 12 (held for the event); IL-2 3 MIU on days
    10-11; cyclophosphamide on day 25, after the 21-day window."""
    agents = {a.code: a for a in subject.study.agents.all()}
    for n in range(1, 12):
        dose_record(subject=subject, agent=agents["IM"], given_on=_day(n),
                    given_dose=Decimal(400), by=alice)  # fmt: skip
    dose_record(subject=subject, agent=agents["IM"], given_on=_day(12), given_dose=Decimal(0),
                reason="Held for capillary leak", reason_category="adverse_event",
                adverse_event=event, by=alice)  # fmt: skip
    for n in (10, 11):
        dose_record(subject=subject, agent=agents["IL2"], given_on=_day(n),
                    given_dose=Decimal(3), by=alice)  # fmt: skip
    dose_record(subject=subject, agent=agents["CTX"], given_on=_day(25), given_dose=Decimal(50),
                by=alice)  # fmt: skip


def _labs(subject, alice) -> None:
    """ALT 100 U/L on day 12 (grade 1: above the ULN of 40, up to 3 x ULN, CTCAE v5.0), sodium 140
    mmol/L on day 12 (grade 0), CD8 (CTCAE does not grade it), ALT 300 U/L on day 30 (after
    the window)."""
    lab_record(subject=subject, test_code="ALT", value=Decimal(100), unit="U/L", lln=Decimal(0),
               uln=Decimal(40), collected_at=_at(12), by=alice)  # fmt: skip
    lab_record(subject=subject, test_code="SODIUM", value=Decimal(140), unit="mmol/L",
               lln=Decimal(135), uln=Decimal(145), collected_at=_at(12), by=alice)  # fmt: skip
    lab_record(subject=subject, test_code="CD8", value=Decimal(450), unit="cells/uL",
               collected_at=_at(12), by=alice)  # fmt: skip
    lab_record(subject=subject, test_code="ALT", value=Decimal(300), unit="U/L", lln=Decimal(0),
               uln=Decimal(40), collected_at=_at(30), by=alice)  # fmt: skip


def _page(client, user, event) -> str:
    client.force_login(user)
    assessment = DltAssessment.objects.get(adverse_event=event)
    response = client.get(reverse("dlt_decide", args=[assessment.pk]))
    assert response.status_code == 200
    return response.content.decode()


def _element(page: str, element_id: str, tag: str) -> str:
    found = re.search(rf'<{tag}[^>]*id="{element_id}".*?</{tag}>', page, re.S)
    assert found, f"no {tag} {element_id}"
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", found.group(0))).strip()


def test_the_event_with_verbatim_grade_history_onset_day_and_duration(client, bob, capillary_leak):
    page = _page(client, bob, capillary_leak)
    assert "Generalised oedema with hypotension" in _element(page, "verbatim", "dd")
    assert _element(page, "grade-history", "dd") == (
        "grade 2 from 2026-03-13; grade 3 from 2026-03-14"
    )
    assert _element(page, "onset", "dd") == "2026-03-13 (study day 12)"
    # Onset 2026-03-13 to resolution 2026-03-18, as the DLT rules count it.
    assert _element(page, "duration", "dd") == "5 days, resolved 2026-03-18"


def test_attribution_and_action_taken_per_agent(client, bob, capillary_leak):
    table = _element(_page(client, bob, capillary_leak), "attribution", "table")
    assert "CTX Cyclophosphamide Unlikely Dose not changed" in table
    assert "IM Imatinib Possible Drug interrupted" in table
    assert "IL2 Interleukin-2 Definite Drug withdrawn" in table


def test_the_doses_of_the_window_planned_and_given_with_the_reason_for_a_change(
    client, bob, alice, subject, capillary_leak
):
    _doses(subject, alice, capillary_leak)
    page = _page(client, bob, capillary_leak)
    table = _element(page, "window-doses", "table")
    assert "IM 2026-03-02 to 2026-03-12 1–11 400 mg 400 mg —" in table
    assert "IM 2026-03-13 12 400 mg 0 mg Adverse event: Held for capillary leak" in table
    assert "IL2 2026-03-11 to 2026-03-12 10–11 3 MIU 3 MIU" in table
    assert "CTX" not in table  # day 25 is after the 21-day window
    assert "2026-03-02 to 2026-03-22 (study days 1 to 21)" in page


def test_the_labs_of_the_window_with_their_grades(client, bob, alice, subject, capillary_leak):
    _labs(subject, alice)
    page = _page(client, bob, capillary_leak)
    table = _element(page, "window-labs", "table")
    assert "2026-03-13 08:00 12 ALT 100 U/L 0–40 1 Alanine aminotransferase increased" in table
    assert "300" not in table and "SODIUM" not in table
    other = _element(page, "other-labs", "p")
    assert "1 result of grade 0 and 1 not graded" in other
    assert f'href="{reverse("subject_detail", args=[subject.pk])}?tab=labs"' in page


def test_the_casebook_link_and_the_rule_that_flagged_it(client, bob, subject, capillary_leak):
    page = _page(client, bob, capillary_leak)
    assert f'href="{reverse("subject_detail", args=[subject.pk])}" id="casebook-link"' in page
    assessment = DltAssessment.objects.get(adverse_event=capillary_leak)
    flagged = _element(page, "flagging-rule", "div")
    assert flagged.startswith("The rule that flagged it: Flagged as a DLT")
    assert assessment.rule in flagged and "onset day 12" in flagged


def test_an_investigator_of_site_b_gets_a_404(client, study, site_b, capillary_leak):
    bruno = user_create("bruno", "investigator", study, site_b)
    client.force_login(bruno)
    assessment = DltAssessment.objects.get(adverse_event=capillary_leak)
    assert client.get(reverse("dlt_decide", args=[assessment.pk])).status_code == 404


def test_the_page_shows_only_its_subjects_window(
    client, bob, alice, study, site_a, subject, capillary_leak
):
    other = subject_enrolled(study, site_a, "A-002", by=alice)
    lab_record(subject=other, test_code="ALT", value=Decimal(140), unit="U/L", lln=Decimal(0),
               uln=Decimal(40), collected_at=_at(12), by=alice)  # fmt: skip
    page = _page(client, bob, capillary_leak)
    assert "No result of grade 1 or more in the DLT window." in page


def test_the_decision_page_runs_as_many_queries_for_a_full_window_as_for_an_empty_one(
    client, bob, alice, subject, capillary_leak
):
    client.force_login(bob)
    url = reverse("dlt_decide", args=[DltAssessment.objects.get(adverse_event=capillary_leak).pk])
    assert client.get(url).status_code == 200
    with CaptureQueriesContext(connection) as empty:
        client.get(url)
    _doses(subject, alice, capillary_leak)
    _labs(subject, alice)
    for n in range(2, 12):
        lab_record(subject=subject, test_code="ALT", value=Decimal(60 + n), unit="U/L",
                   lln=Decimal(0), uln=Decimal(40), collected_at=_at(n), by=alice)  # fmt: skip
    assert client.get(url).status_code == 200
    with CaptureQueriesContext(connection) as full:
        page = client.get(url).content.decode()
    assert _element(page, "window-labs", "table").count("Alanine aminotransferase") == 11
    assert len(full) == len(empty)
