"""Unreconciled lab toxicity (issue #12): a lab result of CTCAE grade 3 or more in a treated
subject's DLT window (study days 1-21) with no matching adverse event is an unreconciled
potential DLT until an adverse event is recorded or an investigator signs that it is not one;
while any potential DLT or unreconciled lab toxicity is pending, the advice is provisional.

Hyponatremia, CTCAE v5.0: 120-124 mmol/L grade 3, <120 mmol/L grade 4 (ecrf.ctcae.labs).
Subject A-001: first dose (day 1) 2026-03-02, window to day 21 = 2026-03-22.
"""

import datetime as dt
import json
from decimal import Decimal
from io import StringIO

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.management import call_command

from ecrf.models import AuditEvent, LabToxicityAssessment, Signature
from ecrf.selectors.dlt import dlt_overview
from ecrf.services import ae_record, lab_record
from ecrf.services.dlt import MEANING_LAB_RULE_OUT, lab_toxicity_rule_out
from ecrf.services.signatures import ONLY_SITE_INVESTIGATOR, WRONG_PASSWORD
from tests.factories import PASSWORD, POSSIBLY_IL2, fatigue_grade_3

CUTOFF = dt.date(2026, 4, 30)


def _sodium(subject, by, value="118", on=dt.date(2026, 3, 10)):
    return lab_record(
        subject=subject, test_code="SODIUM", value=Decimal(value), unit="mmol/L",
        lln=Decimal(135), uln=Decimal(145),
        collected_at=dt.datetime.combine(on, dt.time(8, 0), tzinfo=dt.UTC), by=by,
    )  # fmt: skip


def _rule_out(result, by, **overrides):
    kwargs = {"reason": "Pseudohyponatraemia: sample drawn above the drip",
              "password": PASSWORD, **overrides}  # fmt: skip
    return lab_toxicity_rule_out(lab_result=result, by=by, **kwargs)


@pytest.fixture
def sodium(subject, alice):
    """Sodium 118 mmol/L on 2026-03-10 (day 9): hyponatremia grade 4, no adverse event."""
    result = _sodium(subject, alice)
    assert (result.ctcae_term, result.ctcae_grade) == ("Hyponatremia", 4)
    return result


def test_a_lab_only_grade_4_in_the_window_is_listed_as_unreconciled(sodium):
    overview = dlt_overview(sodium.subject.study, CUTOFF)
    (lab,) = overview.unreconciled_labs
    assert (lab.subject.subject_code, lab.test, lab.term, lab.grade) == (
        "A-001", "SODIUM", "Hyponatremia", 4,
    )  # fmt: skip
    assert (lab.collected_on, lab.days_pending) == (dt.date(2026, 3, 10), 51)
    assert lab.result == sodium


def test_a_result_before_day_1_or_after_day_21_is_not_listed(subject, alice):
    _sodium(subject, alice, on=dt.date(2026, 3, 1))  # day -1, lead-in
    _sodium(subject, alice, on=dt.date(2026, 3, 23))  # day 22
    assert dlt_overview(subject.study, CUTOFF).unreconciled_labs == []


def test_recording_the_adverse_event_reconciles_it(sodium, alice):
    ae_record(
        subject=sodium.subject, ctcae_term="Hyponatremia", grade=4, onset_on=dt.date(2026, 3, 10),
        assessments=POSSIBLY_IL2, by=alice,
    )  # fmt: skip
    assert dlt_overview(sodium.subject.study, CUTOFF).unreconciled_labs == []


def test_an_investigator_rules_it_out_with_a_signature_and_it_leaves_the_list(sodium, bob):
    decision = _rule_out(sodium, bob)
    assert decision.decision == "not_dlt" and decision.decided_by == bob
    signature = decision.signature
    assert (signature.meaning, signature.printed_name) == (MEANING_LAB_RULE_OUT, "Bob Baker")
    assert signature.object_id == str(decision.pk)
    assert AuditEvent.objects.filter(
        model="ecrf.LabToxicityAssessment", object_id=str(decision.pk), field="decision_reason"
    ).exists()
    assert dlt_overview(sodium.subject.study, CUTOFF).unreconciled_labs == []
    with pytest.raises(ValidationError) as info:
        _rule_out(sodium, bob)
    assert info.value.code == "already_decided"


def test_a_wrong_password_or_no_reason_signs_nothing(sodium, bob):
    with pytest.raises(ValidationError) as info:
        _rule_out(sodium, bob, password="wrong", reason=" ")
    assert info.value.message_dict["password"] == [WRONG_PASSWORD]
    assert info.value.error_dict["reason"][0].code == "reason_required"
    assert not LabToxicityAssessment.objects.exists() and not Signature.objects.exists()


@pytest.mark.parametrize("person", ["alice", "charlie", "data_manager"])
def test_only_an_investigator_of_the_site_rules_it_out(sodium, request, person):
    with pytest.raises(PermissionDenied, match=ONLY_SITE_INVESTIGATOR):
        _rule_out(sodium, request.getfixturevalue(person))
    assert not LabToxicityAssessment.objects.exists()


def test_a_grade_2_result_is_not_a_candidate(subject, alice, bob):
    result = _sodium(subject, alice, value="127")  # 125-129: grade 2
    with pytest.raises(ValidationError) as info:
        _rule_out(result, bob)
    assert info.value.code == "not_a_lab_toxicity"


def test_the_advice_is_provisional_while_anything_is_pending(sodium, alice, bob):
    study = sodium.subject.study
    fatigue = fatigue_grade_3(sodium.subject, resolved_on=dt.date(2026, 3, 23), by=alice)
    overview = dlt_overview(study, CUTOFF)
    assert overview.provisional
    assert overview.pending == [
        {"kind": "unreconciled_lab", "subject_id": "A-001",
         "what": "SODIUM Hyponatremia grade 4, collected 2026-03-10, no adverse event",
         "days_pending": 51},
        {"kind": "potential_dlt", "subject_id": "A-001",
         "what": "Fatigue grade 3, onset 2026-03-13", "days_pending": 48},
    ]  # fmt: skip
    assert overview.advice.startswith(
        "Provisional: 2 items pending (1 potential DLT undecided, 1 unreconciled lab toxicity). "
    )
    assert overview.advice.endswith(overview.recommendation.reason)

    _rule_out(sodium, bob)
    from ecrf.services.dlt import dlt_decide

    dlt_decide(assessment=fatigue.dlt_assessment, decision="confirmed", reason="Limiting",
               by=bob, password=PASSWORD)  # fmt: skip
    overview = dlt_overview(study, CUTOFF)
    assert not overview.provisional and overview.pending == []
    assert overview.advice == overview.recommendation.reason


def test_dlt_report_lists_unreconciled_labs_and_the_provisional_advice(sodium):
    out = StringIO()
    call_command("dlt_report", "--study", "TEST-IL2", "--cutoff", CUTOFF.isoformat(),
                 "--format", "json", stdout=out)  # fmt: skip
    data = json.loads(out.getvalue())
    (lab,) = data["unreconciled_labs"]
    assert (lab["subject_id"], lab["test"], lab["grade"], lab["collected_on"]) == (
        "A-001", "SODIUM", 4, "2026-03-10",
    )  # fmt: skip
    assert data["provisional"] is True
    assert [item["kind"] for item in data["pending"]] == ["unreconciled_lab"]
    assert data["recommendation"]["text"].startswith(
        "Provisional: 1 item pending (1 unreconciled lab toxicity)."
    )
    text = StringIO()
    call_command("dlt_report", "--study", "TEST-IL2", "--cutoff", CUTOFF.isoformat(), stdout=text)
    output = text.getvalue()
    assert "A-001 SODIUM Hyponatremia grade 4, collected 2026-03-10, pending 51 days" in output
    assert "Recommendation (3+3): Provisional: 1 item pending" in output


def test_a_locked_result_is_refused_before_the_password_is_checked(sodium, bob, data_manager):
    from ecrf.auth.lockout import SIGNATURE_PASSWORD_FAILED
    from ecrf.services.locking import RecordLocked, lock_place

    lock_place(target=sodium, by=data_manager)
    with pytest.raises(RecordLocked):
        _rule_out(sodium, bob, password="wrong")
    assert not LabToxicityAssessment.objects.exists()
    assert not AuditEvent.objects.filter(action=SIGNATURE_PASSWORD_FAILED).exists()
