"""Saving a lab result stores its CTCAE v5.0 term and grade from the value, the result's own
LLN/ULN and the subject's baseline; corrections and new baselines regrade.

The subject's first dose is 2026-03-02; ALT's ULN is 40 U/L throughout.
CTCAE v5.0 'Alanine aminotransferase increased': G1 >ULN-3.0xULN if baseline normal, 1.5-3.0 x
baseline if abnormal; G2 >3.0-5.0xULN or >3.0-5.0 x baseline; G3 >5.0-20.0; G4 >20.0.
"""

import datetime as dt
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from ecrf.models import AuditEvent, LabResult, ReferenceRange
from ecrf.selectors.reconciliation import subject_reconciliation_items
from ecrf.services import ae_record, record_create
from ecrf.services.labs import lab_correct, lab_record

PRE_DOSE = dt.datetime(2026, 2, 27, 8, tzinfo=dt.UTC)
DAY_8 = dt.datetime(2026, 3, 9, 8, tzinfo=dt.UTC)
ULN = Decimal(40)


def _alt(subject, by, value, at=DAY_8, **extra):
    extra.setdefault("uln", ULN)
    return lab_record(
        subject=subject,
        test_code="ALT",
        value=Decimal(value),
        unit="U/L",
        collected_at=at,
        by=by,
        **extra,
    )


@pytest.mark.parametrize(
    ("value", "grade"),
    [("40", 0), ("41", 1), ("120", 1), ("121", 2), ("200", 2), ("201", 3), ("800", 3), ("801", 4)],
)
def test_an_alt_result_is_graded_against_uln_when_there_is_no_baseline(
    subject, alice, value, grade
):
    """ALT with ULN 40: 3.0xULN = 120, 5.0xULN = 200, 20.0xULN = 800 (CTCAE v5.0)."""
    result = _alt(subject, alice, value)
    assert result.ctcae_grade == grade
    assert result.ctcae_term == ("Alanine aminotransferase increased" if grade else "")
    assert result.ctcae_version == "5.0"


def test_an_abnormal_baseline_makes_the_thresholds_multiples_of_baseline(subject, alice):
    """Baseline ALT 60 (> ULN 40): 80 is 1.33 x baseline, grade 0 (below 1.5 x baseline), though
    2.0 x ULN; 150 is 2.5 x baseline, grade 1, though 3.75 x ULN."""
    baseline = _alt(subject, alice, "60", at=PRE_DOSE)
    assert baseline.ctcae_grade == 1  # pre-dose results are graded against the ULN alone
    assert _alt(subject, alice, "80").ctcae_grade == 0
    assert _alt(subject, alice, "150", at=DAY_8 + dt.timedelta(days=1)).ctcae_grade == 1


def test_a_baseline_entered_later_regrades_the_results_after_it(subject, alice):
    later = _alt(subject, alice, "150")
    assert later.ctcae_grade == 2
    _alt(subject, alice, "60", at=PRE_DOSE)
    later.refresh_from_db()
    assert later.ctcae_grade == 1
    row = AuditEvent.objects.get(object_id=str(later.pk), action="ecrf.labresult.regraded")
    assert (row.field, row.old_value, row.new_value) == ("ctcae_grade", "2", "1")
    assert row.reason == "Regraded: the baseline changed"


def test_correcting_the_baseline_regrades_with_the_reason(subject, bob):
    baseline = _alt(subject, bob, "60", at=PRE_DOSE)
    later = _alt(subject, bob, "150")
    assert later.ctcae_grade == 1
    lab_correct(result=baseline, changes={"value": Decimal(30)}, reason="Typo", by=bob)
    later.refresh_from_db()
    assert later.ctcae_grade == 2  # baseline now normal: 150 is 3.75 x ULN
    assert AuditEvent.objects.filter(
        object_id=str(later.pk), reason="Regraded after a correction: Typo"
    ).exists()


def test_correcting_the_range_regrades_the_result(subject, bob):
    result = _alt(subject, bob, "130")
    assert result.ctcae_grade == 2
    corrected = lab_correct(result=result, changes={"uln": Decimal(50)}, reason="Site ULN", by=bob)
    assert corrected.ctcae_grade == 1


def test_the_site_reference_range_prefills_lln_and_uln(subject, data_manager, site_a):
    for sex, uln, since in (
        ("", 45, "2025-01-01"),
        ("F", 35, "2025-06-01"),
        ("F", 33, "2027-01-01"),
    ):
        record_create(
            record=ReferenceRange(
                site=site_a,
                test_code="ALT",
                unit="U/L",
                sex=sex,
                uln=Decimal(uln),
                effective_from=dt.date.fromisoformat(since),
            ),
            by=data_manager,
        )
    result = _alt(subject, data_manager, "36", uln=None)
    assert result.uln == Decimal(35)  # the female range in force on the day, not the future one
    assert result.ctcae_grade == 1


@pytest.mark.parametrize(
    ("unit", "field"),
    [("mg/dL", "unit"), ("furlongs", "unit")],
)
def test_a_unit_that_does_not_fit_the_test_is_refused(subject, alice, unit, field):
    before = (LabResult.objects.count(), AuditEvent.objects.count())
    with pytest.raises(ValidationError) as info:
        lab_record(
            subject=subject,
            test_code="ALT",
            value=Decimal(50),
            unit=unit,
            uln=ULN,
            collected_at=DAY_8,
            by=alice,
        )
    assert field in info.value.message_dict
    assert "ALT" in info.value.message_dict[field][0]
    assert (LabResult.objects.count(), AuditEvent.objects.count()) == before


def test_a_missing_uln_that_the_criterion_needs_is_named(subject, alice):
    with pytest.raises(ValidationError) as info:
        _alt(subject, alice, "50", uln=None)
    assert "uln" in info.value.message_dict
    assert LabResult.objects.count() == 0


def test_a_test_ctcae_does_not_grade_is_stored_without_a_grade(subject, alice):
    result = lab_record(
        subject=subject,
        test_code="CD8",
        value=Decimal("0.4"),
        unit="10^9/L",
        collected_at=DAY_8,
        by=alice,
    )
    assert (result.ctcae_grade, result.ctcae_term) == (None, "")


def test_a_grade_3_result_without_a_matching_event_is_a_reconciliation_item(
    client, subject, alice, all_agents_unrelated
):
    result = _alt(subject, alice, "250")  # 6.25 x ULN: grade 3
    assert subject_reconciliation_items(subject) == [result]
    client.force_login(alice)
    page = client.get(reverse("subject_detail", args=[subject.pk])).content.decode()
    assert "Lab-AE reconciliation" in page
    ae_record(
        subject=subject,
        ctcae_term="Alanine aminotransferase increased",
        grade=3,
        onset_on=dt.date(2026, 3, 12),
        assessments=all_agents_unrelated,
        by=alice,
    )
    assert subject_reconciliation_items(subject) == []
    page = client.get(reverse("subject_detail", args=[subject.pk])).content.decode()
    assert "Lab-AE reconciliation" not in page


def test_the_admin_grades_a_result_it_adds(client, data_manager, subject):
    client.force_login(data_manager)
    response = client.post(
        reverse("admin:ecrf_labresult_add"),
        {
            "subject": subject.pk,
            "test_code": "ALT",
            "value": "130",
            "unit": "U/L",
            "uln": "40",
            "collected_at_0": "2026-03-09",
            "collected_at_1": "08:00:00",
        },
    )
    assert response.status_code == 302, response.content.decode()[:3000]
    result = LabResult.objects.get()
    assert (result.ctcae_term, result.ctcae_grade) == ("Alanine aminotransferase increased", 2)
    assert AuditEvent.objects.filter(object_id=str(result.pk), actor="dana").exists()


def test_correcting_a_site_range_regrades_the_results_that_used_it(subject, data_manager, site_a):
    """ALT 130 U/L: 3.25 x ULN 40 is grade 2; with the corrected ULN 50 it is 2.6 x ULN, grade 1.
    A result typed with its own ULN keeps it; a result under a newer range (ALT 140, ULN 45:
    3.1 x ULN, grade 2) is not touched."""
    from ecrf.services.labs import reference_range_correct

    def new_range(uln, since):
        return record_create(
            record=ReferenceRange(
                site=site_a,
                test_code="ALT",
                unit="U/L",
                uln=Decimal(uln),
                effective_from=dt.date.fromisoformat(since),
            ),
            by=data_manager,
        )

    wrong = new_range(40, "2026-01-01")
    new_range(45, "2026-04-01")
    prefilled = _alt(subject, data_manager, "130", uln=None)
    typed = _alt(subject, data_manager, "130", at=DAY_8 + dt.timedelta(days=1), uln=Decimal(42))
    after = _alt(subject, data_manager, "140", at=dt.datetime(2026, 4, 2, tzinfo=dt.UTC), uln=None)
    assert (prefilled.ctcae_grade, typed.ctcae_grade, after.ctcae_grade) == (2, 2, 2)

    reference_range_correct(
        reference_range=wrong, changes={"uln": Decimal(50)}, reason="Typo", by=data_manager
    )
    for result in (prefilled, typed, after):
        result.refresh_from_db()
    assert (prefilled.uln, prefilled.ctcae_grade) == (Decimal(50), 1)
    assert (typed.uln, typed.ctcae_grade) == (Decimal(42), 2)
    assert (after.uln, after.ctcae_grade) == (Decimal(45), 2)
    assert AuditEvent.objects.filter(
        object_id=str(prefilled.pk), field="uln", reason="Site reference range corrected: Typo"
    ).exists()
