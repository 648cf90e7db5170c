"""The investigator's home: what awaits Bob's decision and signature at site A, and none of site B."""

import datetime as dt
import re
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from ecrf.models import AdverseEvent, DltAssessment, LabResult
from ecrf.services import ae_record, dose_record, lab_record
from ecrf.services.dlt import dlt_decide
from ecrf.services.queries import query_raise
from ecrf.services.signoff import signoff_sign
from ecrf.services.subjects import subject_end_treatment
from ecrf.services.visits import visit_record
from ecrf.views import investigator
from ecrf.views.adverse_events import sae_report_deadline
from ecrf.views.investigator import sae_clocks
from tests.factories import PASSWORD, fatigue_grade_3, subject_enrolled, user_create

TODAY = dt.date.today()


@pytest.fixture
def bruno(study, site_b):
    """An investigator at site B."""
    return user_create("bruno", "investigator", study, site_b)


@pytest.fixture
def subject_at_b(study, site_b, charlie):
    return subject_enrolled(study, site_b, "B-001", by=charlie)


def _home(client, user) -> str:
    client.force_login(user)
    response = client.get(reverse("home"))
    assert response.status_code == 200
    return response.content.decode()


def _table(page: str, table_id: str) -> str:
    found = re.search(rf'<table[^>]*id="{table_id}".*?</table>', page, re.S)
    assert found, f"no table {table_id}"
    return found.group(0)


def _sodium_118(subject, by, on=dt.datetime(2026, 3, 10, 8, tzinfo=dt.UTC)) -> LabResult:
    """Sodium 118 mmol/L: hyponatremia grade 4 (CTCAE v5.0 <120 mmol/L), on day 9."""
    return lab_record(subject=subject, test_code="SODIUM", value=Decimal(118), unit="mmol/L",
                      lln=Decimal(135), uln=Decimal(145), collected_at=on, by=by)  # fmt: skip


def _sign(target, by):
    return signoff_sign(target=target, by=by, password=PASSWORD)


def test_every_list_says_none_when_nothing_awaits(client, bob, subject):
    page = _home(client, bob)
    for table in ("awaiting-decision", "awaiting-signature", "sae-clock", "open-queries"):
        assert "None." in _table(page, table)


def test_the_nurse_home_has_no_investigator_lists(client, alice, subject, fatigue_event):
    page = _home(client, alice)
    assert 'id="investigator-day"' not in page
    assert 'id="overdue"' in page and 'id="open-items"' in page


def test_potential_dlts_and_unreconciled_labs_are_listed_oldest_first_with_days_pending(
    client, bob, alice, subject
):
    late = fatigue_grade_3(subject, by=alice, onset_on=dt.date(2026, 3, 13))
    early = ae_record(
        subject=subject, ctcae_term="Anorexia", grade=3, onset_on=dt.date(2026, 3, 4),
        assessments=dict.fromkeys(("CTX", "IM", "IL2"), ("probable", "none")), by=alice,
    )  # fmt: skip
    result = _sodium_118(subject, alice)
    table = _table(_home(client, bob), "awaiting-decision")
    rows = table.split("<tr>")[2:]
    assert "Anorexia grade 3" in rows[0] and f"{(TODAY - dt.date(2026, 3, 4)).days}</td>" in rows[0]
    assert "SODIUM Hyponatremia grade 4" in rows[1]
    assert f"{(TODAY - dt.date(2026, 3, 10)).days}</td>" in rows[1]
    assert "Fatigue grade 3" in rows[2]
    for event in (early, late):
        url = reverse("dlt_decide", args=[DltAssessment.objects.get(adverse_event=event).pk])
        assert url in table
    assert reverse("lab_toxicity_rule_out", args=[result.pk]) in table


def test_a_decided_dlt_leaves_the_list(client, bob, alice, subject, fatigue_event):
    dlt_decide(assessment=fatigue_event.dlt_assessment, decision="ruled_out",
               reason="Fatigue from the disease", by=bob, password=PASSWORD)  # fmt: skip
    assert "None." in _table(_home(client, bob), "awaiting-decision")


def test_done_visits_await_signature_until_signed_and_again_once_changed(
    client, bob, alice, subject
):
    visit = subject.visits.get(label="C1D1")
    visit_record(visit=visit, status="done", done_on=dt.date(2026, 3, 2), by=alice)
    table = _table(_home(client, bob), "awaiting-signature")
    assert reverse("sign_off", args=["visit", visit.pk]) in table
    assert "changed since signed" not in table

    _sign(visit, bob)
    assert "None." in _table(_home(client, bob), "awaiting-signature")

    # A dose given at the visit is covered by the visit's signature.
    dose_record(subject=subject, agent=subject.study.agents.get(code="IM"),
                given_on=dt.date(2026, 3, 2), given_dose=Decimal(400), visit=visit, by=alice)  # fmt: skip
    table = _table(_home(client, bob), "awaiting-signature")
    assert reverse("sign_off", args=["visit", visit.pk]) in table
    assert "changed since signed" in table


def test_a_subjects_row_links_its_oldest_visits_to_sign(client, bob, alice, subject, monkeypatch):
    """A row links the VISITS_SHOWN oldest visits to sign and counts the rest."""
    monkeypatch.setattr(investigator, "VISITS_SHOWN", 2)
    visits = list(subject.visits.filter(kind="cycle_day").order_by("planned_on"))
    assert len(visits) == 4
    for visit in visits:
        visit_record(visit=visit, status="done", done_on=visit.planned_on, by=alice)
    table = _table(_home(client, bob), "awaiting-signature")
    assert "4 visits:" in table
    shown = [v for v in visits if reverse("sign_off", args=["visit", v.pk]) in table]
    assert shown == visits[:2]
    assert "and 2 later" in table


def test_a_casebook_awaits_signature_once_treatment_ended(client, bob, alice, subject):
    assert "Sign casebook" not in _table(_home(client, bob), "awaiting-signature")
    subject_end_treatment(subject=subject, ended_on=dt.date(2026, 3, 20), reason="completed",
                          by=alice)  # fmt: skip
    table = _table(_home(client, bob), "awaiting-signature")
    assert reverse("sign_off", args=["subject", subject.pk]) in table
    subject.refresh_from_db()
    _sign(subject, bob)
    assert "None." in _table(_home(client, bob), "awaiting-signature")


def _just_now():
    """The site became aware a minute ago: the 24-hour clock has just started."""
    return timezone.now() - dt.timedelta(minutes=1)


def test_a_serious_event_shows_its_reporting_deadline_and_hours_left(client, bob, alice, subject):
    event = fatigue_grade_3(
        subject, by=alice, serious_criteria=("sae_hospitalisation",), site_aware_at=_just_now()
    )
    table = _table(_home(client, bob), "sae-clock")
    deadline = sae_report_deadline(event)
    assert "Fatigue grade 3" in table and f"{deadline:%Y-%m-%d %H:%M}" in table
    assert re.search(r"\b2[34] h left", table)


def test_the_clock_reads_hours_left_then_overdue_and_drops_a_week_after(subject, alice):
    """The deadline itself is sae_report_deadline's (24 hours, ICH E2A / 21 CFR 312.64)."""
    event = fatigue_grade_3(
        subject, by=alice, serious_criteria=("sae_hospitalisation",), site_aware_at=_just_now()
    )
    event = AdverseEvent.objects.select_related("subject").get(pk=event.pk)
    deadline = sae_report_deadline(event)
    hour = dt.timedelta(hours=1)

    def text(now):
        return [clock.text for clock in sae_clocks([event], now)]

    assert text(deadline - 5 * hour) == ["5 h left"]
    assert text(deadline - 30 * dt.timedelta(minutes=1)) == ["under 1 h left"]
    assert text(deadline + 3 * hour) == ["overdue by 3 h"]
    assert text(deadline + 50 * hour) == ["overdue by 2 days"]
    assert text(deadline + dt.timedelta(days=7)) == ["overdue by 7 days"]
    assert text(deadline + dt.timedelta(days=7) + hour) == []


def test_the_page_reads_only_the_serious_events_it_can_still_show(client, bob, alice, subject):
    """Aware 8 days and 1 hour ago: the 24-hour deadline passed 7 days and 1 hour ago, more
    than the week the list keeps it; aware 7 days and 23 hours ago: still shown."""
    now = timezone.now()
    old = fatigue_grade_3(subject, by=alice, serious_criteria=("sae_hospitalisation",),
                          site_aware_at=now - dt.timedelta(days=8, hours=1))  # fmt: skip
    kept = fatigue_grade_3(subject, by=alice, serious_criteria=("sae_hospitalisation",),
                           onset_on=dt.date(2026, 3, 14),
                           site_aware_at=now - dt.timedelta(days=7, hours=23))  # fmt: skip
    table = _table(_home(client, bob), "sae-clock")
    assert reverse("ae_edit", args=[kept.pk]) in table
    assert reverse("ae_edit", args=[old.pk]) not in table
    # Left out by the query itself, not after reading it.
    from ecrf.selectors.investigator import serious_events
    from ecrf.views.investigator import SAE_SHOWN_AFTER_DEADLINE

    since = now - SAE_SHOWN_AFTER_DEADLINE - dt.timedelta(hours=24)
    assert [e.pk for e in serious_events([subject], aware_since=since)] == [kept.pk]


def test_a_long_decision_list_shows_its_oldest_rows_and_the_total(client, bob, alice, subject):
    from ecrf.views.investigator import HOME_ROWS

    for day in range(HOME_ROWS + 1):
        fatigue_grade_3(subject, by=alice, onset_on=dt.date(2026, 3, 2) + dt.timedelta(days=day))
    page = _home(client, bob)
    table = _table(page, "awaiting-decision")
    assert table.count("Review and decide") == HOME_ROWS
    assert f">{HOME_ROWS + 1}</span>" in page  # the badge counts them all
    assert f"The oldest {HOME_ROWS} of {HOME_ROWS + 1}" in page
    assert "onset 2026-03-02" in table and "onset 2026-03-22" not in table


def test_open_queries_of_the_site_are_listed_with_their_record(client, bob, subject, fatigue_event):
    monitor = user_create("site-a-monitor", "monitor", subject.study, subject.site)
    query = query_raise(record=fatigue_event, field="grade", message="Grade per source?",
                        by=monitor)  # fmt: skip
    table = _table(_home(client, bob), "open-queries")
    assert "Grade per source?" in table and reverse("query_detail", args=[query.pk]) in table
    assert "Adverse event Fatigue grade 3" in table


def test_an_investigator_of_site_a_sees_nothing_of_site_b(
    client, bob, bruno, alice, charlie, subject, subject_at_b
):
    """Bruno, at site B, sees site B's items and none of site A's; Bob the reverse."""
    fatigue_grade_3(
        subject, by=alice, serious_criteria=("sae_hospitalisation",), site_aware_at=_just_now()
    )
    b_event = fatigue_grade_3(
        subject_at_b,
        by=charlie,
        serious_criteria=("sae_hospitalisation",),
        site_aware_at=_just_now(),
    )
    _sodium_118(subject_at_b, charlie)
    visit_record(visit=subject_at_b.visits.get(label="C1D1"), status="done",
                 done_on=dt.date(2026, 3, 2), by=charlie)  # fmt: skip
    monitor = user_create("site-b-monitor", "monitor", subject.study, subject_at_b.site)
    query_raise(record=b_event, field="grade", message="Grade at B?", by=monitor)

    bob_page = _home(client, bob)
    section = bob_page.split('id="investigator-day"')[1]
    assert "B-001" not in section and "Grade at B?" not in section
    assert "A-001" in _table(bob_page, "awaiting-decision")
    assert "A-001" in _table(bob_page, "sae-clock")

    bruno_page = _home(client, bruno)
    section = bruno_page.split('id="investigator-day"')[1]
    assert "A-001" not in section
    for table in ("awaiting-decision", "awaiting-signature", "sae-clock", "open-queries"):
        assert "B-001" in _table(bruno_page, table)
