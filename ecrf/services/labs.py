"""Recording, correcting and grading laboratory results.

A result is graded with CTCAE from its value, its own LLN/ULN and the subject's baseline (the
last value of the same test, in the same unit, on or before the first dose). Results taken on or
before the first dose are graded against the normal range alone.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q

from ..ctcae import CTCAE_VERSION
from ..ctcae.labs import LAB_TESTS, GradingError, grade_lab
from ..models import LabResult, ReferenceRange, Subject, Visit
from .queries import queries_sync_automatic
from .records import record_create, record_update

GRADE_FIELDS = ("ctcae_version", "ctcae_term", "ctcae_grade")


def reference_range_for(
    subject: Subject, test_code: str, unit: str, on: dt.date
) -> ReferenceRange | None:
    """The site's range for the test and unit in force on a date; a sex-specific one first."""
    ranges = ReferenceRange.objects.filter(
        Q(sex=subject.sex) | Q(sex=""),
        site_id=subject.site_id,
        test_code=test_code,
        unit=unit,
        effective_from__lte=on,
    )
    return ranges.order_by("-effective_from", "-sex").first()


def baseline_value(subject: Subject, test_code: str, unit: str) -> Decimal | None:
    """The last value of the test in this unit on or before the first dose, if any."""
    if subject.first_dose_on is None:
        return None
    row = (
        LabResult.objects.filter(
            subject=subject,
            test_code=test_code,
            unit=unit,
            entered_in_error=False,
            collected_at__date__lte=subject.first_dose_on,
        )
        .order_by("-collected_at")
        .values_list("value", flat=True)
        .first()
    )
    return row


def _float(value: Decimal | None) -> float | None:
    return None if value is None else float(value)


def _grading_error_field(message: str) -> str:
    lowered = message.lower()
    if "unit" in lowered:
        return "unit"
    if "uln" in lowered:
        return "uln"
    if "lln" in lowered:
        return "lln"
    return "value"


def ctcae_grade_of(result: LabResult, baseline: Decimal | None) -> dict[str, Any]:
    """The CTCAE fields of a result; tests CTCAE does not grade (CD8, NK) get none."""
    if result.test_code not in LAB_TESTS:
        return {"ctcae_version": "", "ctcae_term": "", "ctcae_grade": None}
    subject = result.subject
    pre_dose = subject.first_dose_on is None or result.collected_at.date() <= subject.first_dose_on
    try:
        graded = grade_lab(
            result.test_code,
            float(result.value),
            result.unit,
            lln=_float(result.lln),
            uln=_float(result.uln),
            baseline=None if pre_dose else _float(baseline),
        )
    except GradingError as exc:
        raise ValidationError({_grading_error_field(str(exc)): str(exc)}) from exc
    return {
        "ctcae_version": CTCAE_VERSION,
        "ctcae_term": graded.term or "",
        "ctcae_grade": graded.grade,
    }


def lab_record(
    *,
    subject: Subject,
    test_code: str,
    value: Decimal,
    unit: str,
    collected_at: dt.datetime,
    by,
    lln: Decimal | None = None,
    uln: Decimal | None = None,
    visit: Visit | None = None,
    audit_reason: str = "",
) -> LabResult:
    """Record one lab result with its CTCAE grade; LLN/ULN default to the site's range.

    `audit_reason` is kept with the new values in the audit trail (a warning accepted on entry).
    """
    if lln is None and uln is None:
        reference = reference_range_for(subject, test_code, unit, collected_at.date())
        if reference is not None:
            lln, uln = reference.lln, reference.uln
    result = LabResult(
        subject=subject,
        visit=visit,
        test_code=test_code,
        value=value,
        unit=unit,
        lln=lln,
        uln=uln,
        collected_at=collected_at,
    )
    # The model's own checks first, so that a bad value or range gets the data model's message
    # before grading looks at it.
    result.full_clean()
    with transaction.atomic():
        baseline = baseline_value(subject, test_code, unit)
        for name, graded in ctcae_grade_of(result, baseline).items():
            setattr(result, name, graded)
        record_create(record=result, by=by, reason=audit_reason)
        if subject.first_dose_on and collected_at.date() <= subject.first_dose_on:
            # A new pre-dose value can be the new baseline of the results after it.
            labs_regrade(
                subject=subject, test_code=test_code, by=by, reason="Regraded: the baseline changed"
            )
        queries_sync_automatic(subject=subject)
    return result


def labs_regrade(*, subject: Subject, by, reason: str, test_code: str | None = None) -> int:
    """Recompute the CTCAE grade of the subject's results; audit each one that changes."""
    results = subject.lab_results.filter(entered_in_error=False).select_related("subject")
    if test_code is not None:
        results = results.filter(test_code=test_code)
    baselines: dict[tuple[str, str], Decimal | None] = {}
    changed = 0
    with transaction.atomic():
        for result in results:
            key = (result.test_code, result.unit)
            if key not in baselines:
                baselines[key] = baseline_value(subject, *key)
            graded = ctcae_grade_of(result, baselines[key])
            if any(getattr(result, name) != value for name, value in graded.items()):
                record_update(
                    record=result,
                    changes=graded,
                    reason=reason,
                    by=by,
                    action="ecrf.labresult.regraded",
                )
                changed += 1
    return changed


def lab_correct(
    *,
    result: LabResult,
    changes: Mapping[str, Any],
    reason: str,
    by,
    expected_version: int | None = None,
) -> LabResult:
    """Correct a result (value, unit, range, time) and regrade what the correction affects."""
    with transaction.atomic():
        corrected = record_update(
            record=result,
            changes=changes,
            reason=reason,
            by=by,
            expected_version=expected_version,
        )
        labs_regrade(
            subject=corrected.subject,
            test_code=corrected.test_code,
            by=by,
            reason=f"Regraded after a correction: {reason}",
        )
        queries_sync_automatic(subject=corrected.subject)
    corrected.refresh_from_db()
    return corrected


def reference_range_correct(
    *,
    reference_range: ReferenceRange,
    changes: Mapping[str, Any],
    reason: str,
    by,
    expected_version: int | None = None,
) -> ReferenceRange:
    """Correct a site's reference range and regrade the results that took their limits from it.

    A result took its limits from the range when it was collected at that site, for that test,
    unit and sex, while the range was in force, and still carries the range's old limits.
    """
    old = ReferenceRange.objects.get(pk=reference_range.pk)
    with transaction.atomic():
        corrected = record_update(
            record=reference_range,
            changes=changes,
            reason=reason,
            by=by,
            expected_version=expected_version,
        )
        later = (
            ReferenceRange.objects.filter(
                site_id=old.site_id,
                test_code=old.test_code,
                unit=old.unit,
                sex=old.sex,
                effective_from__gt=old.effective_from,
            )
            .order_by("effective_from")
            .values_list("effective_from", flat=True)
            .first()
        )
        results = LabResult.objects.filter(
            subject__site_id=old.site_id,
            test_code=old.test_code,
            unit=old.unit,
            entered_in_error=False,
            collected_at__date__gte=old.effective_from,
        ).select_related("subject")
        # A limit that was empty must be matched with IS NULL, not "= NULL".
        results = results.filter(
            **({"lln__isnull": True} if old.lln is None else {"lln": old.lln}),
            **({"uln__isnull": True} if old.uln is None else {"uln": old.uln}),
        )
        if old.sex:
            results = results.filter(subject__sex=old.sex)
        if later is not None:
            results = results.filter(collected_at__date__lt=later)
        for result in results:
            lab_correct(
                result=result,
                changes={"lln": corrected.lln, "uln": corrected.uln},
                reason=f"Site reference range corrected: {reason}",
                by=by,
            )
    return corrected
