"""The DLT status of the admin's adverse event list (badge and filter) and of the review queue
is computed at read time, as on the dashboard and in dlt_report (issue #12: "an ongoing event's
duration grows every day, but the stored DLT status ... only changes when data changes").

Protocol DLT definition, default rule set: grade 3 nausea lasting 3 days or less is not a DLT
(GI_MAX_DAYS = 3); lasting 4 days it is. The events are ongoing, possibly related to IL-2.
"""

import datetime as dt

import pytest
from django.urls import reverse
from django.utils import timezone

from ecrf.models import DltAssessment, DltStatus
from ecrf.safety.dlt import GI_MAX_DAYS
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


def _nausea(subject, by, onset_on):
    return ae_record(
        subject=subject, ctcae_term="Nausea", grade=3, onset_on=onset_on,
        assessments=POSSIBLY_IL2, by=by,
    )  # fmt: skip


def test_an_ongoing_grade_3_nausea_turns_potential_on_its_fourth_day_with_no_data_change(
    subject, alice
):
    """Onset 2026-03-13 (day 12), unresolved: 3 days at 2026-03-16, 4 at 2026-03-17."""
    nausea = _nausea(subject, alice, dt.date(2026, 3, 13))
    day_3, day_4 = dt.date(2026, 3, 16), dt.date(2026, 3, 17)
    assert GI_MAX_DAYS == 3
    assert dlt_event_statuses(subject.study, day_3)[nausea.pk] == DltStatus.NOT_DLT
    assert dlt_event_statuses(subject.study, day_4)[nausea.pk] == DltStatus.POTENTIAL
    # The same answer as the overview that the dashboard and dlt_report read.
    assert [e.event.pk for e in dlt_overview(subject.study, day_4).queue] == [nausea.pk]
    assert dlt_overview(subject.study, day_3).queue == []


def test_a_decision_overrides_the_computed_flag(subject, alice, bob):
    from ecrf.services.dlt import dlt_decide

    nausea = _nausea(subject, alice, dt.date(2026, 3, 13))
    dlt_evaluate_event(event=nausea, by=alice, cutoff=dt.date(2026, 3, 20))
    dlt_decide(
        assessment=DltAssessment.objects.get(adverse_event=nausea), decision="ruled_out",
        reason="Resolved with antiemetics", by=bob, password="correct horse battery",
        printed_name="Dr Bob Baker",
    )  # fmt: skip
    assert dlt_event_statuses(subject.study, dt.date(2026, 3, 20))[nausea.pk] == "ruled_out"


def test_the_admin_badge_filter_and_queue_show_todays_status_not_the_stored_one(
    client, data_manager, recent, alice
):
    nausea = _nausea(recent, alice, TODAY - dt.timedelta(days=4))
    # The flag stored yesterday, when the nausea had lasted 3 days: not a DLT.
    dlt_evaluate_event(event=nausea, by=alice, cutoff=TODAY - dt.timedelta(days=1))
    assert DltAssessment.objects.get(adverse_event=nausea).status == DltStatus.NOT_DLT

    client.force_login(data_manager)
    url = reverse("admin:ecrf_adverseevent_changelist")
    page = client.get(url).content.decode()
    assert "dlt-potential" in page and "Potential DLT" in page
    assert "Nausea" in client.get(url, {"dlt_status": "potential"}).content.decode()
    assert "Nausea" not in client.get(url, {"dlt_status": "not_dlt"}).content.decode()
    queue = client.get(reverse("admin:ecrf_dltreviewqueue_changelist")).content.decode()
    assert "Nausea" in queue and "Decide and sign" in queue


def test_the_admin_shows_not_a_dlt_on_the_third_day(client, data_manager, recent, alice):
    _nausea(recent, alice, TODAY - dt.timedelta(days=3))
    client.force_login(data_manager)
    url = reverse("admin:ecrf_adverseevent_changelist")
    page = client.get(url).content.decode()
    assert "dlt-not_dlt" in page and "Not a DLT" in page and "dlt-potential" not in page
    assert "Nausea" in client.get(url, {"dlt_status": "not_dlt"}).content.decode()
    queue = client.get(reverse("admin:ecrf_dltreviewqueue_changelist")).content.decode()
    assert "Nausea" not in queue
