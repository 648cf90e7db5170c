"""Marking a record entered in error from the casebook: the site staff give a reason, the record
stays in the database with an audit line naming who, when and why, and leaves the casebook.

ICH E6(R2) 4.9.3: a change to a CRF entry is dated, explained and does not obscure the original
entry; nothing clinical is deleted.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.urls import reverse

from ecrf.forms.oversight import IN_ERROR_REASON_REQUIRED
from ecrf.models import AdverseEvent, AuditEvent, DoseAdministration, LabResult, Visit
from ecrf.services import dose_record, lab_record
from ecrf.services.subjects import visit_unscheduled
from ecrf.views.entered_in_error import SCHEDULED_VISIT
from tests.html_forms import page_form_data

REASON = "Recorded on the wrong subject's casebook"


def _retire_form(attrs: dict) -> bool:
    return attrs.get("id") == "entered-in-error"


def _in_error_url(kind, record):
    return reverse("record_entered_in_error", args=[kind, record.pk])


def _dose(subject, alice):
    return dose_record(
        subject=subject,
        agent=subject.study.agents.get(code="IM"),
        given_on=dt.date(2026, 3, 2),
        given_dose=Decimal("400"),
        by=alice,
    )


def _lab(subject, alice):
    return lab_record(
        subject=subject,
        test_code="ALT",
        value=Decimal("30"),
        unit="U/L",
        lln=Decimal("0"),
        uln=Decimal("40"),
        collected_at=dt.datetime(2026, 3, 3, 9, tzinfo=dt.UTC),
        by=alice,
    )


@pytest.mark.parametrize(
    ("kind", "tab", "make"),
    [
        ("ae", "aes", lambda subject, alice, event: event),
        ("dose", "doses", lambda subject, alice, event: _dose(subject, alice)),
        ("lab", "labs", lambda subject, alice, event: _lab(subject, alice)),
    ],
)
def test_the_site_marks_a_record_entered_in_error_from_the_casebook(
    client, alice, subject, event, kind, tab, make
):
    record = make(subject, alice, event)
    client.force_login(alice)
    casebook = reverse("subject_detail", args=[subject.pk])
    url = _in_error_url(kind, record)
    assert f'href="{url}"' in client.get(casebook, {"tab": tab}).content.decode()

    form = page_form_data(client, url, match=_retire_form)
    refused = client.post(url, form)
    assert refused.status_code == 200
    assert IN_ERROR_REASON_REQUIRED in refused.content.decode()
    record.refresh_from_db()
    assert not record.entered_in_error

    response = client.post(url, {**form, "reason": REASON})
    assert response.status_code == 302
    assert response["Location"].startswith(casebook)
    record.refresh_from_db()
    assert record.entered_in_error and record.entered_in_error_reason == REASON
    line = AuditEvent.objects.get(
        object_id=str(record.pk), field="entered_in_error", action__endswith="entered_in_error"
    )
    assert (line.actor, line.old_value, line.new_value, line.reason) == (
        "alice",
        "False",
        "True",
        REASON,
    )
    assert type(record).objects.filter(pk=record.pk).exists()  # retired, never deleted
    assert f'href="{url}"' not in client.get(casebook, {"tab": tab}).content.decode()


def test_a_record_changed_since_the_page_was_loaded_is_not_retired(client, alice, subject, event):
    from ecrf.services import record_update

    client.force_login(alice)
    url = _in_error_url("ae", event)
    form = page_form_data(client, url, match=_retire_form)
    record_update(record=event, changes={"verbatim": "tired"}, reason="Source", by=alice)
    response = client.post(url, {**form, "reason": REASON})
    assert response.status_code == 200
    assert "changed" in response.content.decode()
    assert not AdverseEvent.objects.get(pk=event.pk).entered_in_error


def test_a_locked_record_is_not_retired(client, alice, subject, data_manager):
    from ecrf.services.locking import lock_place

    result = _lab(subject, alice)
    lock_place(target=result, by=data_manager)
    client.force_login(alice)
    url = _in_error_url("lab", result)
    form = page_form_data(client, url, match=_retire_form)
    response = client.post(url, {**form, "reason": REASON})
    assert response.status_code == 200
    assert "locked" in response.content.decode()
    assert not LabResult.objects.get(pk=result.pk).entered_in_error


def test_only_an_unscheduled_visit_is_retired(client, alice, subject):
    scheduled = subject.visits.get(label="C1D8")
    client.force_login(alice)
    response = client.get(_in_error_url("visit", scheduled))
    assert response.status_code == 404
    assert SCHEDULED_VISIT  # the page's reason, shown to nobody but in the 404 log

    extra = visit_unscheduled(subject=subject, label="Extra", done_on=dt.date(2026, 3, 4), by=alice)
    url = _in_error_url("visit", extra)
    casebook = client.get(reverse("subject_detail", args=[subject.pk])).content.decode()
    assert f'href="{url}"' in casebook
    assert f'href="{_in_error_url("visit", scheduled)}"' not in casebook
    form = page_form_data(client, url, match=_retire_form)
    assert client.post(url, {**form, "reason": REASON}).status_code == 302
    assert Visit.objects.get(pk=extra.pk).entered_in_error


def test_a_monitor_sees_no_link_and_cannot_retire(client, alice, subject, event, monitor):
    client.force_login(monitor)
    url = _in_error_url("ae", event)
    casebook = client.get(reverse("subject_detail", args=[subject.pk]), {"tab": "aes"})
    assert f'href="{url}"' not in casebook.content.decode()
    assert client.get(url).status_code == 403
    assert client.post(url, {"reason": REASON, "loaded_version": event.version}).status_code == 403
    assert not AdverseEvent.objects.get(pk=event.pk).entered_in_error


def test_a_subject_is_not_retired_here(client, alice, subject):
    client.force_login(alice)
    assert client.get(_in_error_url("subject", subject)).status_code == 404
    assert DoseAdministration.objects.count() == 0
