"""The DLT status of the admin's adverse event list (badge and filter) and of the review queue
is computed at read time, as on the dashboard and in dlt_report (issue #12: "an ongoing event's
duration grows every day, but the stored DLT status ... only changes when data changes").

Default DLT rule set (studies/dlt-default.json), rule short_gi: grade 3 nausea that comes down
within 3 days is not a DLT; while it is still at grade 3 at the cutoff, it is not yet known to be
short, so it is a potential DLT. The events are possibly related to IL-2.
"""

import datetime as dt

import pytest
from django.urls import reverse
from django.utils import timezone

from ecrf.models import DltAssessment, DltStatus
from ecrf.selectors.dlt import dlt_event_statuses, dlt_overview
from ecrf.services import ae_record
from ecrf.services.dlt import dlt_evaluate_event
from tests.factories import POSSIBLY_IL2, subject_enrolled

TODAY = timezone.localdate()


@pytest.fixture
def recent(study, site_a, alice):
    """A subject whose first dose was 10 days ago, so that today lies in the DLT window."""
    return subject_enrolled(
        study, site_a, "A-002", first_dose_on=TODAY - dt.timedelta(days=10), by=alice
    )


def _nausea(subject, by, onset_on, **extra):
    return ae_record(
        subject=subject, ctcae_term="Nausea", grade=3, onset_on=onset_on,
        assessments=POSSIBLY_IL2, by=by, **extra,
    )  # fmt: skip


def test_a_short_grade_3_nausea_is_potential_until_the_cutoff_passes_its_resolution(subject, alice):
    """Onset 2026-03-13 (day 12), resolved 2026-03-15 (2 days): at a cutoff of 2026-03-14 it is
    still at grade 3, so potential; at 2026-03-15 it has come down within 3 days: not a DLT."""
    nausea = _nausea(
        subject, alice, dt.date(2026, 3, 13), resolved_on=dt.date(2026, 3, 15), outcome="recovered"
    )
    before, after = dt.date(2026, 3, 14), dt.date(2026, 3, 15)
    assert dlt_event_statuses(subject.study, before)[nausea.pk] == DltStatus.POTENTIAL
    assert dlt_event_statuses(subject.study, after)[nausea.pk] == DltStatus.NOT_DLT
    # The same answer as the overview that the dashboard and dlt_report read.
    assert [e.event.pk for e in dlt_overview(subject.study, before).queue] == [nausea.pk]
    assert dlt_overview(subject.study, after).queue == []


def test_a_decision_overrides_the_computed_flag(subject, alice, bob):
    from ecrf.services.dlt import dlt_decide

    nausea = _nausea(subject, alice, dt.date(2026, 3, 13))
    dlt_evaluate_event(event=nausea, by=alice, cutoff=dt.date(2026, 3, 20))
    dlt_decide(
        assessment=DltAssessment.objects.get(adverse_event=nausea), decision="ruled_out",
        reason="Resolved with antiemetics", by=bob, password="correct horse battery",
    )  # fmt: skip
    assert dlt_event_statuses(subject.study, dt.date(2026, 3, 20))[nausea.pk] == "ruled_out"


def test_the_admin_badge_filter_and_queue_show_todays_status_not_the_stored_one(
    client, data_manager, recent, alice
):
    """A nausea from 2 days ago that resolved today: the flag stored yesterday, when it was
    still at grade 3, says potential; today it has come down within 3 days: not a DLT."""
    nausea = _nausea(
        recent, alice, TODAY - dt.timedelta(days=2), resolved_on=TODAY, outcome="recovered"
    )
    dlt_evaluate_event(event=nausea, by=alice, cutoff=TODAY - dt.timedelta(days=1))
    assert DltAssessment.objects.get(adverse_event=nausea).status == DltStatus.POTENTIAL

    client.force_login(data_manager)
    url = reverse("admin:ecrf_adverseevent_changelist")
    page = client.get(url).content.decode()
    assert "dlt-not_dlt" in page and "Not a DLT" in page and "dlt-potential" not in page
    assert "Nausea" in client.get(url, {"dlt_status": "not_dlt"}).content.decode()
    assert "Nausea" not in client.get(url, {"dlt_status": "potential"}).content.decode()
    queue = client.get(reverse("admin:ecrf_dltreviewqueue_changelist")).content.decode()
    assert "Nausea" not in queue


def test_the_admin_shows_an_ongoing_grade_3_nausea_as_potential(
    client, data_manager, recent, alice
):
    """Ongoing for 3 days: not yet known to come down within 3 days, so a potential DLT."""
    _nausea(recent, alice, TODAY - dt.timedelta(days=3))
    client.force_login(data_manager)
    url = reverse("admin:ecrf_adverseevent_changelist")
    page = client.get(url).content.decode()
    assert "dlt-potential" in page and "Potential DLT" in page
    assert "Nausea" in client.get(url, {"dlt_status": "potential"}).content.decode()
    queue = client.get(reverse("admin:ecrf_dltreviewqueue_changelist")).content.decode()
    assert "Nausea" in queue and "Decide and sign" in queue


def test_the_dashboard_lists_the_oldest_of_a_long_queue_and_counts_the_rest(
    client, subject, alice, bob, monkeypatch
):
    """Three grade 3 fatigues possibly related to IL-2 in the DLT window (days 12 to 14) are
    three potential DLTs; with a list of two rows the oldest two show and the third is
    counted, in the review queue and in the pending items of the advice."""
    from ecrf.views import dlt as dlt_views
    from tests.factories import fatigue_grade_3

    monkeypatch.setattr(dlt_views, "DASHBOARD_LIST_ROWS", 2)
    events = [
        fatigue_grade_3(subject, onset_on=dt.date(2026, 3, 13 + n), by=alice) for n in range(3)
    ]
    client.force_login(bob)
    page = client.get(reverse("dlt_dashboard")).content.decode()
    queue = page.split('id="queue-TEST-IL2"')[1].split("</table>")[0]
    decide = [DltAssessment.objects.get(adverse_event=e).pk for e in events]
    assert [str(pk) in queue for pk in decide] == [True, True, False]
    assert "The oldest 2 of 3; the next come up as these are decided." in page
    pending = page.split('id="pending-TEST-IL2"')[1].split("</ul>")[0]
    assert pending.count("<li>") == 2
    assert "The 2 pending longest of 3." in page
