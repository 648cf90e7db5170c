"""A dose far above the plan (issue #21 item 4): IL-2 60 MIU where 6 are planned.

The rule (ecrf/safety/dose_plan.py) lives in the dose services, so every write path has it: a
dose above the study's limit (study file `dosing.above_plan_pct`, default 110 % of the planned
dose, strictly above) is refused without an explicit confirmation, naming `confirm_above_plan`
and writing nothing; a confirmed one is saved with the confirmation in the audit trail and
opens an automatic data query (a possible medication error) that closes itself once the dose is
corrected.

Test trial: dose level 2 plans IL-2 6 MIU/day on days 10 to 14; first dose 2026-03-02, so day 10
is 2026-03-11.
"""

import datetime as dt
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError

from ecrf.models import AuditEvent, DataQuery, DoseAdministration, QueryOrigin, QueryState
from ecrf.services import dose_record
from ecrf.services.dosing import dose_correct
from ecrf.services.studies import study_correct
from tests.factories import subject_at_level

C1D10 = dt.date(2026, 3, 11)


@pytest.fixture
def level_2(study, site_a, alice):
    return subject_at_level(study, site_a, "A-002", level=2, by=alice)


@pytest.fixture
def il2(study):
    return study.agents.get(code="IL2")


def _record(subject, il2, alice, given, **extra):
    return dose_record(
        subject=subject,
        agent=il2,
        given_on=C1D10,
        given_dose=Decimal(given),
        reason=extra.pop("reason", "Pharmacy prepared the dose"),
        by=alice,
        **extra,
    )


def _queries(dose):
    return DataQuery.objects.filter(origin=QueryOrigin.DOSE_ABOVE_PLAN, object_id=str(dose.pk))


def test_110_percent_of_the_plan_exactly_needs_no_confirmation_and_opens_no_query(
    level_2, il2, alice
):
    dose = _record(level_2, il2, alice, "6.6")
    assert dose.given_dose == Decimal("6.6")
    assert not _queries(dose).exists()


def test_just_above_110_percent_is_refused_without_confirmation_and_nothing_is_written(
    level_2, il2, alice
):
    audit = AuditEvent.objects.count()
    with pytest.raises(ValidationError) as refused:
        _record(level_2, il2, alice, "6.601")
    [error] = refused.value.error_dict["confirm_above_plan"]
    assert error.code == "dose_above_plan_unconfirmed"
    assert error.message == (
        "IL2: 6.601 MIU given, 6 planned (110 %) is more than 110 % of the planned dose. "
        "Correct the dose, or confirm that this dose was given."
    )
    assert not DoseAdministration.objects.filter(subject=level_2).exists()
    assert AuditEvent.objects.count() == audit
    assert not DataQuery.objects.filter(origin=QueryOrigin.DOSE_ABOVE_PLAN).exists()


def test_60_miu_confirmed_is_saved_audited_and_opens_a_medication_error_query(level_2, il2, alice):
    dose = _record(level_2, il2, alice, "60", confirm_above_plan=True)
    created = AuditEvent.objects.get(object_id=str(dose.pk), field="given_dose")
    assert "Dose above plan confirmed: IL2 60 MIU given, 6 planned (1000 %)" in created.reason
    [query] = _queries(dose)
    assert (query.state, query.field, query.model) == (
        QueryState.OPEN,
        "given_dose",
        "ecrf.DoseAdministration",
    )
    assert query.message.startswith(
        "Possible medication error: IL2 on 2026-03-11 (cycle 1 day 10), 60 MIU given, "
        "6 planned (1000 %), more than the 110 % of the plan."
    )


def test_a_corrected_dose_closes_its_query(level_2, il2, alice):
    dose = _record(level_2, il2, alice, "60", confirm_above_plan=True)
    dose_correct(
        dose=dose,
        changes={"given_dose": Decimal(6), "reason": ""},
        reason="Typing error: 6 MIU given",
        by=alice,
    )
    [query] = _queries(dose)
    assert query.state == QueryState.CLOSED


def test_a_correction_to_another_dose_above_the_plan_needs_its_own_confirmation(
    level_2, il2, alice
):
    dose = _record(level_2, il2, alice, "60", confirm_above_plan=True)
    with pytest.raises(ValidationError) as refused:
        dose_correct(
            dose=dose, changes={"given_dose": Decimal(12)}, reason="Typing error", by=alice
        )
    assert "confirm_above_plan" in refused.value.error_dict
    dose.refresh_from_db()
    assert dose.given_dose == Decimal(60)
    dose_correct(
        dose=dose,
        changes={"given_dose": Decimal(12)},
        reason="Typing error",
        by=alice,
        confirm_above_plan=True,
    )
    # The query on 60 MIU closes, a new one opens on 12 MIU.
    states = dict(_queries(dose).values_list("message", "state"))
    assert sorted(states.values()) == [QueryState.CLOSED, QueryState.OPEN]
    assert any("12 MIU given, 6 planned (200 %)" in m for m, s in states.items() if s == "open")


def test_correcting_the_reason_of_a_confirmed_dose_does_not_ask_again(level_2, il2, alice):
    dose = _record(level_2, il2, alice, "60", confirm_above_plan=True)
    saved = dose_correct(
        dose=dose, changes={"reason": "Two vials drawn"}, reason="Clearer reason", by=alice
    )
    assert saved.reason == "Two vials drawn"
    assert _queries(dose).get().state == QueryState.OPEN


def test_the_study_setting_moves_the_limit(level_2, il2, alice, data_manager):
    study_correct(
        study=level_2.study,
        changes={"dose_above_plan_pct": 150},
        reason="Protocol amendment 2",
        by=data_manager,
    )
    level_2.refresh_from_db()
    dose = _record(level_2, il2, alice, "9")  # 150 % exactly
    assert not _queries(dose).exists()
    with pytest.raises(ValidationError) as refused:
        _record(level_2, il2, alice, "9.001")
    assert "more than 150 % of the planned dose" in str(refused.value)


def test_a_dose_where_none_is_planned_is_above_the_plan(level_2, il2, alice):
    with pytest.raises(ValidationError) as refused:
        dose_record(
            subject=level_2,
            agent=il2,
            given_on=C1D10,
            given_dose=Decimal(3),
            planned_dose=Decimal(0),
            reason="Given by mistake",
            by=alice,
        )
    assert "3 MIU given, 0 planned (none planned)" in str(refused.value)


def test_an_unconfirmed_dose_without_a_reason_is_told_both_in_one_answer(level_2, il2, alice):
    with pytest.raises(ValidationError) as refused:
        _record(level_2, il2, alice, "60", reason="")
    messages = str(refused.value)
    assert "confirm that this dose was given" in messages
    assert "A dose reduced, increased or missed needs a reason." in messages
    assert not DoseAdministration.objects.exists()
