"""The DLT overview the dashboard and the investigator's home show (`dlt_overview_today`) is
computed again whenever data changed: after every kind of change it is the overview computed
afresh, and while nothing changed it costs one query.

These tests commit (transaction=True): inside a transaction the overview is never kept.
Default DLT rule set, rule short_gi: a grade 3 nausea possibly related to IL-2, still at grade
3 today, is a potential DLT; the investigator's ruling-out decides it.
"""

import datetime as dt

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from ecrf.models import DltAssessment
from ecrf.selectors.dlt import dlt_overview, dlt_overview_today
from ecrf.services import ae_record, record_mark_entered_in_error, record_update
from ecrf.services.dlt import dlt_decide
from tests.factories import POSSIBLY_IL2, subject_enrolled

pytestmark = pytest.mark.django_db(transaction=True)
TODAY = timezone.localdate()


def _picture(overview):
    """What a reader of the overview sees: each subject's events and statuses, the counts per
    dose level, the advice and the queue."""
    return (
        overview.cutoff,
        [
            (row.subject.subject_code, sorted((str(e.event.pk), e.event.grade, e.status)
                                              for e in row.events))
            for row in overview.subjects
        ],
        [(level.level, level.summary) for level in overview.levels],
        overview.advice,
        [str(item.event.pk) for item in overview.queue],
    )  # fmt: skip


@pytest.fixture
def recent(study, site_a, alice):
    """A subject whose first dose was 10 days ago, so that today lies in the DLT window."""
    return subject_enrolled(
        study, site_a, "A-002", first_dose_on=TODAY - dt.timedelta(days=10), by=alice
    )


def _same_as_afresh(study):
    today = dlt_overview_today(study)
    assert _picture(today) == _picture(dlt_overview(study))
    return _picture(today)


def test_every_change_shows_at_once(recent, alice, bob):
    study = recent.study
    pictures = [_same_as_afresh(study)]
    nausea = ae_record(
        subject=recent, ctcae_term="Nausea", grade=3, onset_on=TODAY - dt.timedelta(days=2),
        assessments=POSSIBLY_IL2, by=alice,
    )  # fmt: skip
    pictures.append(_same_as_afresh(study))
    nausea = record_update(
        record=nausea, changes={"grade": 2}, by=alice, reason="Grade transcribed wrongly",
        expected_version=nausea.version,
    )  # fmt: skip
    pictures.append(_same_as_afresh(study))
    nausea = record_update(
        record=nausea, changes={"grade": 3}, by=alice, reason="Source says grade 3",
        expected_version=nausea.version,
    )  # fmt: skip
    pictures.append(_same_as_afresh(study))
    dlt_decide(
        assessment=DltAssessment.objects.get(adverse_event=nausea), decision="ruled_out",
        reason="Resolved with antiemetics", by=bob, password="correct horse battery",
    )  # fmt: skip
    pictures.append(_same_as_afresh(study))
    nausea.refresh_from_db()
    record_mark_entered_in_error(record=nausea, by=alice, reason="Entered for the wrong subject",
                                 expected_version=nausea.version)  # fmt: skip
    pictures.append(_same_as_afresh(study))
    # Each change changed what the page shows (so a kept overview would have been wrong).
    assert all(a != b for a, b in zip(pictures, pictures[1:], strict=False)), pictures


def test_while_nothing_changes_it_costs_one_query(recent, alice):
    ae_record(
        subject=recent, ctcae_term="Nausea", grade=3, onset_on=TODAY - dt.timedelta(days=2),
        assessments=POSSIBLY_IL2, by=alice,
    )  # fmt: skip
    first = dlt_overview_today(recent.study)
    with CaptureQueriesContext(connection) as queries:
        again = dlt_overview_today(recent.study)
    assert len(queries) == 1
    assert _picture(again) == _picture(first)
    # The caller's copy: what it sets is its own.
    again.subjects = []
    assert _picture(dlt_overview_today(recent.study)) == _picture(first)


def test_inside_a_transaction_it_is_computed_afresh(recent):
    dlt_overview_today(recent.study)
    with transaction.atomic(), CaptureQueriesContext(connection) as queries:
        dlt_overview_today(recent.study)
    assert len(queries) > 1
