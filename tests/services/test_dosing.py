"""The kind of reason of a dose other than planned (issue #12): adverse event, patient
decision, logistics or other. The DLT evaluability rule reads it, so a dose citing an adverse
event is always of kind adverse event.

Test trial: IM 400 mg/day days 1-14; first dose 2026-03-02.
"""

import datetime as dt
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError

from ecrf.models import AuditEvent
from ecrf.services import ae_record, dose_record
from ecrf.services.dosing import dose_correct
from tests.factories import POSSIBLY_IL2

C1D2 = dt.date(2026, 3, 3)


@pytest.fixture
def im(subject):
    return subject.study.agents.get(code="IM")


@pytest.fixture
def nausea(subject, alice):
    return ae_record(
        subject=subject, ctcae_term="Nausea", grade=3, onset_on=dt.date(2026, 3, 2),
        resolved_on=dt.date(2026, 3, 4), assessments=POSSIBLY_IL2, by=alice,
    )  # fmt: skip


def _dose(subject, im, alice, given=Decimal(200), **kwargs):
    return dose_record(
        subject=subject, agent=im, given_on=C1D2, given_dose=given, by=alice, **kwargs
    )


def test_a_changed_dose_keeps_the_kind_of_reason_it_was_given(subject, im, alice):
    dose = _dose(subject, im, alice, reason="Clinic closed", reason_category="logistics")
    assert dose.reason_category == "logistics"


def test_a_changed_dose_stated_only_in_words_is_of_kind_other(subject, im, alice):
    assert _dose(subject, im, alice, reason="Weight loss").reason_category == "other"


def test_a_dose_as_planned_has_no_kind_of_reason(subject, im, alice):
    dose = _dose(subject, im, alice, given=Decimal(400), reason_category="logistics")
    assert dose.reason_category == ""


def test_a_dose_citing_an_adverse_event_is_of_kind_adverse_event(subject, im, alice, nausea):
    dose = _dose(subject, im, alice, reason="Nausea", adverse_event=nausea)
    assert dose.reason_category == "adverse_event"


def test_a_dose_citing_an_adverse_event_with_another_kind_is_refused_by_name(
    subject, im, alice, nausea
):
    with pytest.raises(ValidationError) as info:
        _dose(subject, im, alice, reason="Nausea", adverse_event=nausea,
              reason_category="patient_decision")  # fmt: skip
    (error,) = info.value.error_dict["reason_category"]
    assert error.code == "reason_category_contradicts_event"
    assert "Patient decision" in error.message


def test_an_unknown_kind_of_reason_is_refused_by_name(subject, im, alice):
    with pytest.raises(ValidationError) as info:
        _dose(subject, im, alice, reason="x", reason_category="weather")
    assert info.value.error_dict["reason_category"][0].code == "invalid_choice"


def test_citing_an_adverse_event_in_a_correction_makes_the_kind_adverse_event_audited(
    subject, im, alice, nausea
):
    dose = _dose(subject, im, alice, reason="Clinic closed", reason_category="logistics")
    saved = dose_correct(
        dose=dose, changes={"adverse_event": nausea, "reason": "Nausea"},
        reason="Source checked", by=alice,
    )  # fmt: skip
    assert saved.reason_category == "adverse_event"
    row = AuditEvent.objects.get(
        object_id=str(dose.pk), field="reason_category", action__endswith="updated"
    )
    assert (row.old_value, row.new_value) == ("logistics", "adverse_event")


def test_a_correction_back_to_the_plan_clears_the_kind(subject, im, alice):
    dose = _dose(subject, im, alice, reason="Clinic closed", reason_category="logistics")
    saved = dose_correct(
        dose=dose, changes={"given_dose": Decimal(400), "reason": ""},
        reason="Transcription error", by=alice,
    )  # fmt: skip
    assert saved.reason_category == ""
