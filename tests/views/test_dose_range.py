"""Entering a date range of one agent "as planned" with its exceptions (issue #21 item 4: "One
form per agent per day means about 42 entries per cycle for a daily oral drug").

Test trial: dose level 1 plans imatinib (IM) 400 mg on days 1 to 14 of each cycle; first dose
2026-03-02, so days 1 to 14 of cycle 1 are 2026-03-02 to 2026-03-15.
"""

import datetime as dt
from decimal import Decimal

import pytest
from django.urls import reverse

from ecrf.forms.dosing import DOSE_CHANGE_NEEDS_REASON, RANGE_AS_PLANNED_REQUIRED
from ecrf.models import AuditEvent, DoseAdministration
from ecrf.services import dose_record

C1D1 = dt.date(2026, 3, 2)
C1D14 = dt.date(2026, 3, 15)


def _post(client, subject, first=C1D1, last=C1D14, as_planned="on", exceptions=(), code="IM"):
    data = {
        "agent": str(subject.study.agents.get(code=code).pk),
        "first_on": first.isoformat(),
        "last_on": last.isoformat(),
        "exception-TOTAL_FORMS": "3",
        "exception-INITIAL_FORMS": "0",
        "exception-MIN_NUM_FORMS": "0",
        "exception-MAX_NUM_FORMS": "63",
    }
    if as_planned:
        data["as_planned"] = as_planned
    for index, row in enumerate(exceptions):
        for name, value in row.items():
            data[f"exception-{index}-{name}"] = str(value)
    return client.post(reverse("dose_range_create", args=[subject.pk]), data)


MISSED = {
    "given_on": "2026-03-05",
    "given_dose": "0",
    "reason_category": "patient_decision",
    "reason": "Forgot the tablets",
}
REDUCED = {
    "given_on": "2026-03-09",
    "given_dose": "300",
    "reason_category": "other",
    "reason": "Tablets ran short",
}


def test_days_1_to_14_as_planned_with_a_missed_and_a_reduced_day(client, alice, subject):
    client.force_login(alice)
    response = _post(client, subject, exceptions=[MISSED, REDUCED])
    assert response.status_code == 302
    assert response.url == reverse("subject_detail", args=[subject.pk]) + "?tab=doses#doses"
    doses = {d.given_on.day: d for d in DoseAdministration.objects.filter(subject=subject)}
    assert sorted(doses) == list(range(2, 16))
    assert {day: d.given_dose for day, d in doses.items() if d.given_dose != 400} == {
        5: Decimal(0),
        9: Decimal(300),
    }
    assert (doses[5].reason, doses[5].reason_category) == ("Forgot the tablets", "patient_decision")
    assert (doses[15].cycle, doses[15].day, doses[15].reason) == (1, 14, "")
    # Each day is audited as a single entry, with the range as the reason.
    created = AuditEvent.objects.filter(
        field="given_dose", action="ecrf.doseadministration.created"
    )
    assert created.count() == 14 and {a.actor for a in created} == {"alice"}
    assert {a.reason for a in created} == {
        "Entered as IM 2026-03-02 to 2026-03-15 given as planned, with 2 exceptions"
    }
    page = client.get(response.url).content.decode()
    assert "IM: 14 doses saved from 2026-03-02 to 2026-03-15, 2 of them missed or reduced." in page


def test_a_bad_day_refuses_the_whole_range_naming_the_day_and_field(client, alice, subject):
    client.force_login(alice)
    dose_record(subject=subject, agent=subject.study.agents.get(code="IM"),
                given_on=dt.date(2026, 3, 7), given_dose=Decimal(400), by=alice)  # fmt: skip
    # Day 15 (2026-03-16) is outside imatinib's days; 2026-03-07 is already recorded; an
    # "exception" at the planned dose is no exception.
    response = _post(
        client, subject, last=dt.date(2026, 3, 16),
        exceptions=[MISSED, {**REDUCED, "given_dose": "400"}],
    )  # fmt: skip
    assert response.status_code == 200
    errors = response.context["form"].non_field_errors()
    assert (
        "2026-03-16 (cycle 1 day 15) is outside the dosing days of IM "
        "(days 1 to 14 of each cycle)." in errors
    )
    assert "2026-03-07: a dose of IM is already recorded on that day." in errors
    assert (
        "Exception 2026-03-09: 400 mg is not less than the planned 400 mg; an exception is a "
        "missed or reduced dose (record a higher dose on its own)." in errors
    )
    page = response.content.decode()
    assert "Nothing was saved." in page
    assert DoseAdministration.objects.filter(subject=subject).count() == 1


def test_a_day_the_dose_service_refuses_refuses_the_range_and_writes_nothing(
    client, alice, subject, data_manager
):
    """A day that passes the range's checks but not the dose's own: its visit is locked."""
    from ecrf.services.locking import lock_place

    lock_place(target=subject.visits.get(label="C1D8"), by=data_manager)
    audit = AuditEvent.objects.count()
    client.force_login(alice)
    response = _post(client, subject)
    assert response.status_code == 200
    [error] = response.context["form"].non_field_errors()
    assert error.startswith("2026-03-09 (cycle 1 day 8), dose: ") and "locked" in error
    # The days before it, written first, were rolled back with it.
    assert DoseAdministration.objects.count() == 0 and AuditEvent.objects.count() == audit


def test_a_range_starting_before_consent_is_refused_at_its_first_day(client, alice, subject):
    client.force_login(alice)
    response = _post(
        client, subject, first=dt.date(2026, 1, 30), last=dt.date(2026, 2, 2), code="CTX"
    )
    assert "is before the informed consent date (2026-02-01)" in str(
        response.context["form"].errors["first_on"]
    )
    assert not DoseAdministration.objects.exists()


def test_an_exception_without_a_reason_is_refused_at_its_row(client, alice, subject):
    client.force_login(alice)
    response = _post(client, subject, exceptions=[{**MISSED, "reason": ""}])
    assert response.status_code == 200
    assert response.context["exceptions"].forms[0].errors["reason"] == [DOSE_CHANGE_NEEDS_REASON]
    assert not DoseAdministration.objects.exists()


def test_the_range_needs_the_as_planned_tick(client, alice, subject):
    client.force_login(alice)
    response = _post(client, subject, as_planned="")
    assert response.context["form"].errors["as_planned"] == [RANGE_AS_PLANNED_REQUIRED]
    assert not DoseAdministration.objects.exists()


@pytest.mark.parametrize(
    ("first", "last", "message"),
    [
        (C1D14, C1D1, "The last day (2026-03-02) comes before the first day (2026-03-15)."),
        (C1D1, dt.date(2026, 5, 31), "A range is at most 63 days; 2026-03-02 to 2026-05-31 is 91."),
    ],
)
def test_a_backwards_or_too_long_range_is_refused_at_the_last_day(
    client, alice, subject, first, last, message
):
    client.force_login(alice)
    response = _post(client, subject, first=first, last=last, code="CTX")
    assert response.context["form"].errors["last_on"] == [message]
    assert not DoseAdministration.objects.exists()


def test_charlie_of_site_b_gets_404(client, charlie, subject):
    client.force_login(charlie)
    assert client.get(reverse("dose_range_create", args=[subject.pk])).status_code == 404
    assert _post(client, subject).status_code == 404
    assert not DoseAdministration.objects.exists()
