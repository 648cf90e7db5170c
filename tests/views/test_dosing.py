"""Recording and correcting study-drug doses through the dose page.

The subject is at dose level 1 (CTX 50 mg, IM 400 mg, IL2 3 MIU), first dose 2026-03-02, with
21-day cycles. Dosing days: CTX -21 to 21 (a lead-in in cycle 1), IM 1 to 14, IL2 10 to 14.
"""

import datetime as dt
from decimal import Decimal

import pytest
from django.urls import reverse

from ecrf.forms.base import OVERRIDE_REQUIRED, REASON_FOR_CHANGE_REQUIRED
from ecrf.forms.dosing import (
    CATEGORY_CONTRADICTS_EVENT,
    DOSE_CHANGE_NEEDS_CATEGORY,
    DOSE_CHANGE_NEEDS_REASON,
    DOSE_NEGATIVE,
)
from ecrf.models import AuditEvent, DoseAdministration
from ecrf.services import STALE_RECORD, ae_record, dose_record, record_update
from tests.factories import dose_edit_data as _edit_data
from tests.factories import subject_at_level, user_create

C1D1 = dt.date(2026, 3, 2)


def _agent(subject, code):
    return subject.study.agents.get(code=code)


def _create(client, subject, code, given_on, dose, **extra):
    data = {
        "agent": str(_agent(subject, code).pk),
        "given_on": given_on.isoformat(),
        "given_dose": str(dose),
        "adverse_event": "",
        "reason": "",
        **extra,
    }
    return client.post(reverse("dose_create", args=[subject.pk]), data)


@pytest.fixture
def im_dose(subject, alice):
    return dose_record(
        subject=subject,
        agent=_agent(subject, "IM"),
        given_on=C1D1,
        given_dose=Decimal(400),
        by=alice,
    )


@pytest.fixture
def diarrhoea(subject, alice):
    return ae_record(
        subject=subject,
        ctcae_term="Diarrhea",
        grade=3,
        onset_on=dt.date(2026, 3, 8),
        assessments={
            "CTX": ("unrelated", "none"),
            "IM": ("probable", "interrupted"),
            "IL2": ("unrelated", "none"),
        },
        by=alice,
    )


def test_the_page_shows_the_planned_dose_and_prefills_agent_and_date(client, alice, subject):
    client.force_login(alice)
    url = reverse("dose_create", args=[subject.pk])
    response = client.get(url, {"agent": "IM", "date": "2026-03-09"})
    assert response.status_code == 200
    form = response.context["form"]
    assert form["agent"].value() == _agent(subject, "IM").pk
    assert form["given_on"].value() == dt.date(2026, 3, 9)
    page = response.content.decode()
    assert "planned 400 mg" in page
    assert 'data-draft-key="dose-new-' in page
    assert 'for="id_given_dose"' in page


def test_alice_records_the_cycle_1_doses_of_the_three_agents(client, alice, subject):
    client.force_login(alice)
    response = _create(client, subject, "CTX", C1D1, 50)
    assert response.status_code == 302
    assert response.url == reverse("subject_detail", args=[subject.pk]) + "?tab=doses#doses"
    assert _create(client, subject, "IM", C1D1, 400).status_code == 302
    # IL-2 is given on days 10 to 14 only: its first dose of cycle 1 is on day 10.
    assert _create(client, subject, "IL2", dt.date(2026, 3, 11), 3).status_code == 302

    doses = {d.agent.code: d for d in DoseAdministration.objects.filter(subject=subject)}
    assert {code: (d.cycle, d.day, d.given_dose, d.unit) for code, d in doses.items()} == {
        "CTX": (1, 1, Decimal(50), "mg"),
        "IM": (1, 1, Decimal(400), "mg"),
        "IL2": (1, 10, Decimal(3), "MIU"),
    }
    assert doses["IM"].planned_dose == Decimal(400)
    assert doses["IM"].visit.label == "C1D1"
    created = AuditEvent.objects.get(
        object_id=str(doses["IM"].pk), field="given_dose", action="ecrf.doseadministration.created"
    )
    assert created.actor == "alice"
    page = client.get(response.url).content.decode()
    assert "IM 400 mg on 2026-03-02 saved (cycle 1 day 1)." in page
    assert "IL2 3 MIU on 2026-03-11 saved (cycle 1 day 10)." in page


def test_save_and_record_another_keeps_the_date_and_clears_the_draft(client, alice, subject):
    client.force_login(alice)
    response = _create(client, subject, "CTX", C1D1, 50, then="another")
    assert response.status_code == 302
    assert response.url == reverse("dose_create", args=[subject.pk]) + "?date=2026-03-02"
    page = client.get(response.url).content.decode()
    assert f'data-clear-draft="dose-new-{subject.pk}"' in page


def test_a_changed_dose_without_a_reason_is_refused_with_the_message_at_the_field(
    client, alice, subject
):
    client.force_login(alice)
    response = _create(client, subject, "IM", C1D1, 300)
    assert response.status_code == 200
    assert response.context["form"].errors["reason"] == [DOSE_CHANGE_NEEDS_REASON]
    assert response.context["form"].errors["reason_category"] == [DOSE_CHANGE_NEEDS_CATEGORY]
    assert DOSE_CHANGE_NEEDS_REASON in response.content.decode()
    assert not DoseAdministration.objects.exists()

    response = _create(client, subject, "IM", C1D1, 300, reason="Weight loss")
    assert response.context["form"].errors["reason_category"] == [DOSE_CHANGE_NEEDS_CATEGORY]
    assert not DoseAdministration.objects.exists()

    response = _create(
        client, subject, "IM", C1D1, 300, reason="Weight loss", reason_category="patient_decision"
    )
    assert response.status_code == 302
    dose = DoseAdministration.objects.get()
    assert (dose.given_dose, dose.planned_dose, dose.reason, dose.reason_category) == (
        Decimal(300),
        Decimal(400),
        "Weight loss",
        "patient_decision",
    )


def test_a_dose_as_planned_needs_no_kind_of_reason(client, alice, subject):
    client.force_login(alice)
    assert _create(client, subject, "IM", C1D1, 400).status_code == 302
    assert DoseAdministration.objects.get().reason_category == ""


def test_a_dose_citing_an_adverse_event_with_another_kind_of_reason_is_refused(
    client, alice, subject, diarrhoea
):
    client.force_login(alice)
    response = _create(
        client, subject, "IM", dt.date(2026, 3, 9), 0,
        adverse_event=str(diarrhoea.pk), reason="Bus strike", reason_category="logistics",
    )  # fmt: skip
    assert response.status_code == 200
    assert response.context["form"].errors["reason_category"] == [CATEGORY_CONTRADICTS_EVENT]
    assert not DoseAdministration.objects.exists()


def test_a_negative_dose_is_refused(client, alice, subject):
    client.force_login(alice)
    response = _create(client, subject, "IM", C1D1, -400)
    assert response.context["form"].errors["given_dose"] == [DOSE_NEGATIVE]
    assert not DoseAdministration.objects.exists()


def test_a_dose_before_consent_or_in_the_future_is_refused_at_the_date(client, alice, subject):
    client.force_login(alice)
    response = _create(client, subject, "CTX", dt.date(2026, 1, 20), 50)
    assert "before the informed consent date (2026-02-01)" in str(
        response.context["form"].errors["given_on"]
    )
    tomorrow = dt.date.today() + dt.timedelta(days=1)
    response = _create(client, subject, "CTX", tomorrow, 50)
    assert "is in the future" in str(response.context["form"].errors["given_on"])
    assert not DoseAdministration.objects.exists()


def test_a_missed_dose_is_explained_by_the_adverse_event_that_caused_it(
    client, alice, subject, diarrhoea
):
    client.force_login(alice)
    response = _create(
        client, subject, "IM", dt.date(2026, 3, 9), 0, adverse_event=str(diarrhoea.pk)
    )
    assert response.status_code == 302
    dose = DoseAdministration.objects.get()
    assert dose.missed
    assert dose.adverse_event == diarrhoea
    assert dose.reason == "Adverse event: Diarrhea grade 3 (onset 2026-03-08)"
    assert dose.reason_category == "adverse_event"
    page = client.get(response.url).content.decode()
    assert "IM on 2026-03-09 saved as missed (cycle 1 day 8)." in page


def test_a_dose_outside_the_cycles_dosing_days_is_saved_only_with_an_override_reason(
    client, alice, subject
):
    client.force_login(alice)
    # IL-2 is given on days 10 to 14: day 1 is outside.
    response = _create(client, subject, "IL2", C1D1, 3)
    assert response.status_code == 200
    form = response.context["form"]
    warning = (
        "Warning: IL2 on 2026-03-02 is cycle 1 day 1, outside its dosing days "
        "(days 10 to 14 of each cycle)."
    )
    assert form.errors["given_on"] == [warning]
    assert form.errors["override_reason"] == [OVERRIDE_REQUIRED]
    assert not DoseAdministration.objects.exists()

    response = _create(client, subject, "IL2", C1D1, 3, override_reason="Protocol amendment 2")
    assert response.status_code == 302
    dose = DoseAdministration.objects.get()
    reasons = set(
        AuditEvent.objects.filter(object_id=str(dose.pk)).values_list("reason", flat=True)
    )
    assert reasons == {
        "Warnings accepted (IL2 on 2026-03-02 is cycle 1 day 1, outside its dosing days "
        "(days 10 to 14 of each cycle).): Protocol amendment 2"
    }


def test_the_cyclophosphamide_lead_in_counts_in_cycle_1_only(client, alice, subject):
    client.force_login(alice)
    assert _create(client, subject, "CTX", dt.date(2026, 2, 23), 50).status_code == 302
    dose = DoseAdministration.objects.get()
    assert (dose.cycle, dose.day) == (1, -7)
    # Imatinib has no lead-in: day -7 is outside its days.
    response = _create(client, subject, "IM", dt.date(2026, 2, 23), 400)
    assert "days 1 to 14 of each cycle" in str(response.context["form"].errors["given_on"])


def test_correcting_a_dose_needs_a_reason(client, alice, subject, im_dose):
    client.force_login(alice)
    url = reverse("dose_edit", args=[im_dose.pk])
    page = client.get(url)
    assert page.status_code == 200
    assert page.context["form"]["given_dose"].value() == Decimal(400)
    response = client.post(
        url, _edit_data(im_dose, given_dose=300, reason="Weight loss", reason_category="other")
    )
    assert response.context["form"].errors["change_reason"] == [REASON_FOR_CHANGE_REQUIRED]

    response = client.post(
        url,
        _edit_data(
            im_dose, given_dose=300, reason="Weight loss", reason_category="other",
            change_reason="Transcription error",
        ),
    )  # fmt: skip
    assert response.status_code == 302
    im_dose.refresh_from_db()
    assert (im_dose.given_dose, im_dose.version) == (Decimal(300), 2)
    assert im_dose.reason_category == "other"
    row = AuditEvent.objects.get(object_id=str(im_dose.pk), field="given_dose", old_value="400")
    assert (row.new_value, row.reason, row.action) == (
        "300",
        "Transcription error",
        "ecrf.doseadministration.updated",
    )


def test_correcting_the_date_recomputes_cycle_and_day(client, alice, subject, im_dose):
    client.force_login(alice)
    response = client.post(
        reverse("dose_edit", args=[im_dose.pk]),
        _edit_data(im_dose, given_on="2026-03-09", change_reason="Wrong day entered"),
    )
    assert response.status_code == 302
    im_dose.refresh_from_db()
    assert (im_dose.cycle, im_dose.day, im_dose.visit.label) == (1, 8, "C1D8")


def test_a_correction_over_someone_elses_newer_save_is_refused_with_their_change(
    client, alice, bob, subject, im_dose
):
    client.force_login(alice)
    url = reverse("dose_edit", args=[im_dose.pk])
    loaded = _edit_data(
        im_dose, given_dose=200, reason="Neutropenia", reason_category="adverse_event",
        change_reason="Late entry",
    )  # fmt: skip
    record_update(
        record=im_dose,
        changes={"given_dose": Decimal(300), "reason": "Vomited", "reason_category": "other"},
        reason="Source document checked",
        by=bob,
    )
    response = client.post(url, loaded)
    assert response.status_code == 200
    errors = response.context["form"].non_field_errors()
    assert errors[0] == STALE_RECORD
    assert any(
        e.startswith("bob changed given_dose from 400 to 300") and "(Source document checked)" in e
        for e in errors
    )
    im_dose.refresh_from_db()
    assert im_dose.given_dose == Decimal(300)


def test_charlie_of_site_b_gets_404_for_site_a_doses(client, charlie, subject, im_dose):
    client.force_login(charlie)
    assert client.get(reverse("dose_create", args=[subject.pk])).status_code == 404
    assert _create(client, subject, "IM", C1D1, 400).status_code == 404
    assert client.get(reverse("dose_edit", args=[im_dose.pk])).status_code == 404
    edit = client.post(reverse("dose_edit", args=[im_dose.pk]), _edit_data(im_dose))
    assert edit.status_code == 404
    assert DoseAdministration.objects.count() == 1


@pytest.fixture
def monitor(study, site_a):
    return user_create("mona", "monitor", study, site_a)


def test_a_monitor_reads_the_dose_pages_but_may_not_save(client, monitor, subject, im_dose):
    client.force_login(monitor)
    assert client.get(reverse("dose_create", args=[subject.pk])).status_code == 200
    assert _create(client, subject, "CTX", C1D1, 50).status_code == 403
    edit_url = reverse("dose_edit", args=[im_dose.pk])
    assert client.get(edit_url).status_code == 200
    data = _edit_data(
        im_dose, given_dose=300, reason="x", reason_category="other", change_reason="y"
    )
    assert client.post(edit_url, data).status_code == 403
    assert DoseAdministration.objects.count() == 1


# A dose far above the plan (issue #21 item 4) ------------------------------------------------
# Dose level 2 plans IL-2 6 MIU; 110 % of it (the study's default limit) is 6.6 MIU.

C1D10 = dt.date(2026, 3, 11)


@pytest.fixture
def level_2(study, site_a, alice):
    return subject_at_level(study, site_a, "A-002", level=2, by=alice)


def _il2_above_plan(client, subject, dose, **extra):
    return _create(
        client, subject, "IL2", C1D10, dose,
        reason="Pharmacy prepared the dose", reason_category="other", **extra,
    )  # fmt: skip


def test_il2_60_miu_where_6_are_planned_asks_for_a_confirmation_naming_the_doses(
    client, alice, level_2
):
    """IL-2 60 MIU with only a reason was accepted (issue #21 item 4); it now needs the box."""
    client.force_login(alice)
    response = _il2_above_plan(client, level_2, 60)
    assert response.status_code == 200
    form = response.context["form"]
    assert form.errors["confirm_above_plan"] == [
        "IL2: 60 MIU given, 6 planned (1000 %) is more than 110 % of the planned dose. "
        "Correct the dose, or confirm that this dose was given."
    ]
    page = response.content.decode()
    assert 'name="confirm_above_plan" id="id_confirm_above_plan" value="60"' in page
    assert "I confirm the dose given was 60 MIU, 1000 % of the planned 6 MIU." in page
    assert not DoseAdministration.objects.exists()


def test_il2_confirmed_is_saved_and_a_medication_error_query_opens(client, alice, level_2):
    from ecrf.models import DataQuery, QueryOrigin

    client.force_login(alice)
    assert _il2_above_plan(client, level_2, 60, confirm_above_plan="60").status_code == 302
    dose = DoseAdministration.objects.get()
    assert dose.given_dose == Decimal(60)
    query = DataQuery.objects.get(origin=QueryOrigin.DOSE_ABOVE_PLAN)
    assert (query.object_id, query.state) == (str(dose.pk), "open")


def test_a_confirmation_of_another_dose_does_not_confirm_this_one(client, alice, level_2):
    client.force_login(alice)
    response = _il2_above_plan(client, level_2, 66, confirm_above_plan="60")
    assert "confirm_above_plan" in response.context["form"].errors
    assert "I confirm the dose given was 66 MIU, 1100 % of the planned 6 MIU." in (
        response.content.decode()
    )
    assert not DoseAdministration.objects.exists()


def test_110_percent_exactly_is_saved_without_confirmation(client, alice, level_2):
    client.force_login(alice)
    response = _il2_above_plan(client, level_2, "6.6")
    assert response.status_code == 302
    assert 'id="id_confirm_above_plan"' not in client.get(response.url).content.decode()


def test_correcting_a_confirmed_dose_to_the_plan_closes_its_query(client, alice, level_2):
    from ecrf.models import DataQuery, QueryOrigin

    client.force_login(alice)
    _il2_above_plan(client, level_2, 60, confirm_above_plan="60")
    dose = DoseAdministration.objects.get()
    url = reverse("dose_edit", args=[dose.pk])
    # Another field of the confirmed dose changes: no second confirmation.
    data = _edit_data(dose, reason="Two vials drawn", change_reason="Clearer reason")
    assert client.post(url, data).status_code == 302
    dose.refresh_from_db()
    data = _edit_data(dose, given_dose="6", reason="", reason_category="",
                      change_reason="Typing error: 6 MIU given")  # fmt: skip
    assert client.post(url, data).status_code == 302
    dose.refresh_from_db()
    assert dose.given_dose == Decimal(6)
    assert DataQuery.objects.get(origin=QueryOrigin.DOSE_ABOVE_PLAN).state == "closed"
