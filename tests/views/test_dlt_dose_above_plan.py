"""Doses far above the plan on the DLT pages (issue #21 item 4): whoever judges the DLTs sees
a possible medication error, "dose above plan: 60 MIU given, 6 planned (1000 %)".

Dose level 2 plans IL-2 6 MIU on days 10 to 14; first dose 2026-03-02, day 10 is 2026-03-11.
"""

import datetime as dt
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from ecrf.services import dose_record
from tests.factories import fatigue_grade_3, subject_at_level

C1D10 = dt.date(2026, 3, 11)
SHOWN = "dose above plan: 60 MIU given, 6 planned (1000 %)"


def _overdose(subject, by, given="60"):
    return dose_record(
        subject=subject,
        agent=subject.study.agents.get(code="IL2"),
        given_on=C1D10,
        given_dose=Decimal(given),
        reason="Pharmacy prepared the dose",
        confirm_above_plan=True,
        by=by,
    )


@pytest.fixture
def level_2(study, site_a, alice):
    return subject_at_level(study, site_a, "A-002", level=2, by=alice)


def test_the_dlt_dashboard_lists_a_dose_above_the_plan(client, bob, alice, level_2):
    client.force_login(bob)
    url = reverse("dlt_dashboard")
    assert SHOWN not in client.get(url).content.decode()
    _overdose(level_2, alice)
    page = client.get(url).content.decode()
    listed = page.split('id="doses-above-plan-TEST-IL2"', 1)[1].split("</table>", 1)[0]
    assert "A-002" in listed and "2026-03-11" in listed and SHOWN in listed
    # And in the subject's row, next to its exposure.
    row = page.split('class="small text-danger dose-above-plan"', 1)[1].split("</div>", 1)[0]
    assert row == f">IL2 2026-03-11: {SHOWN}"


def test_a_dose_at_110_percent_is_not_listed(client, bob, alice, level_2):
    dose_record(
        subject=level_2,
        agent=level_2.study.agents.get(code="IL2"),
        given_on=C1D10,
        given_dose=Decimal("6.6"),
        reason="Rounded up",
        by=alice,
    )
    client.force_login(bob)
    page = client.get(reverse("dlt_dashboard")).content.decode()
    assert "No dose above 110 % of the plan." in page and "dose above plan:" not in page


def test_charlie_of_site_b_does_not_see_site_a_s_dose_above_the_plan(
    client, charlie, alice, level_2
):
    _overdose(level_2, alice)
    client.force_login(charlie)
    page = client.get(reverse("dlt_dashboard")).content.decode()
    assert "dose above plan:" not in page and "A-002" not in page


def test_the_decision_page_shows_the_subject_s_dose_above_the_plan(client, bob, alice, level_2):
    _overdose(level_2, alice)
    fatigue = fatigue_grade_3(level_2, by=alice)
    client.force_login(bob)
    page = client.get(reverse("dlt_decide", args=[fatigue.dlt_assessment.pk])).content.decode()
    shown = page.split('id="doses-above-plan">', 1)[1].split("</dd>", 1)[0]
    assert shown == f"<div>IL2 2026-03-11 (C1 D10): {SHOWN}</div>"


def _queries(client, url: str) -> int:
    assert client.get(url).status_code == 200
    with CaptureQueriesContext(connection) as queries:
        assert client.get(url).status_code == 200
    return len(queries)


def test_the_dashboard_reads_the_doses_above_the_plan_in_constant_queries(
    client, bob, alice, study, site_a
):
    client.force_login(bob)
    url = reverse("dlt_dashboard")
    _overdose(subject_at_level(study, site_a, "A-001", level=2, by=alice), alice)
    small = _queries(client, url)
    for number in range(2, 8):
        _overdose(subject_at_level(study, site_a, f"A-{number:03d}", level=2, by=alice), alice)
    assert client.get(url).content.decode().count(SHOWN) == 14  # list and row, 7 subjects
    assert _queries(client, url) == small
