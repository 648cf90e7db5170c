"""Recording, correcting and grading laboratory results.

A result is graded with CTCAE from its value, its own LLN/ULN and the subject's baseline (the
last value of the same test, in the same unit, on or before the first dose). Results taken on or
before the first dose are graded against the normal range alone.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q, QuerySet

from ..ctcae import CTCAE_VERSION
from ..ctcae.labs import LAB_TESTS, GradingError, grade_lab
from ..models import LabResult, ReferenceRange, Subject, Visit
from ..selectors.reconciliation import UngradedResult, not_graded_reason
from .dlt import dlt_refresh_subject
from .queries import queries_sync_automatic
from .records import record_create, record_update

GRADE_FIELDS = ("ctcae_version", "ctcae_term", "ctcae_grade")
UNGRADED = {"ctcae_version": "", "ctcae_term": "", "ctcae_grade": None}
# The grading errors that leave a result ungraded instead of refusing it, where the caller allows
# that: the input is valid, the grader only lacks what it needs (the limit of a direction the
# value may be abnormal in, a unit it grades in). Any other grading error is invalid input.
UNGRADABLE = frozenset({"required", "unit_not_accepted"})
# The fields of a new result that a panel row gives.
PANEL_VALUES = ("value", "unit", "lln", "uln", "collected_at")
PANEL_REFUSED = "Nothing was saved: correct the rows marked below, then save again."


def _ranges_in_force(subject: Subject, on: dt.date, **tests) -> QuerySet[ReferenceRange]:
    """The site's ranges for the subject's sex (or either) in force on a date, the one that
    applies first: the latest, and of two from the same day the sex-specific one."""
    return ReferenceRange.objects.filter(
        Q(sex=subject.sex) | Q(sex=""), site_id=subject.site_id, effective_from__lte=on, **tests
    ).order_by("-effective_from", "-sex")


def reference_range_for(
    subject: Subject, test_code: str, unit: str, on: dt.date
) -> ReferenceRange | None:
    """The site's range for the test and unit in force on a date; a sex-specific one first."""
    return _ranges_in_force(subject, on, test_code=test_code, unit=unit).first()


def reference_ranges_for(
    subject: Subject, test_codes: Iterable[str], on: dt.date
) -> dict[tuple[str, str], ReferenceRange]:
    """(test, unit) to the range `reference_range_for` gives, for many tests in one query."""
    found: dict[tuple[str, str], ReferenceRange] = {}
    for reference in _ranges_in_force(subject, on, test_code__in=list(test_codes)):
        found.setdefault((reference.test_code, reference.unit), reference)
    return found


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


# The inputs of a result the nurse can correct; a grading error about another input (the
# baseline, which comes from earlier results) is shown on the value.
GRADED_INPUTS = frozenset({"value", "unit", "lln", "uln"})


def _grading_error(exc: GradingError) -> ValidationError:
    """A grading error as a validation error on the field it names, with its code."""
    name = exc.field if exc.field in GRADED_INPUTS else "value"
    return ValidationError({name: ValidationError(str(exc), code=exc.code)})


def ctcae_grade_of(
    result: LabResult, baseline: Decimal | None, *, ungraded_ok: bool = False
) -> dict[str, Any]:
    """The CTCAE fields of a result; tests CTCAE does not grade (CD8, NK) get none.

    A result the grader cannot grade is refused, unless `ungraded_ok` and the grader only lacks
    a limit or a unit it grades in (UNGRADABLE): then it gets no grade either.
    """
    if result.test_code not in LAB_TESTS:
        return dict(UNGRADED)
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
        if ungraded_ok and exc.code in UNGRADABLE:
            return dict(UNGRADED)
        raise _grading_error(exc) from exc
    return {
        "ctcae_version": CTCAE_VERSION,
        "ctcae_term": graded.term or "",
        "ctcae_grade": graded.grade,
    }


def _lab_insert(
    *,
    subject: Subject,
    test_code: str,
    value: Decimal,
    unit: str,
    collected_at: dt.datetime,
    by,
    lln: Decimal | None,
    uln: Decimal | None,
    visit: Visit | None,
    audit_reason: str,
    ungraded_ok: bool = False,
) -> LabResult:
    """Grade and save a new result, regrading the later ones if it is a new baseline.

    A building block for callers that already hold a transaction: the automatic queries are
    left to them, so that a panel of results brings them up to date once. With `ungraded_ok`
    a result that cannot be graded is saved without a grade (see ctcae_grade_of).
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
    baseline = baseline_value(subject, test_code, unit)
    for name, graded in ctcae_grade_of(result, baseline, ungraded_ok=ungraded_ok).items():
        setattr(result, name, graded)
    # Inside the caller's transaction or row savepoint, which takes a refusal back whole.
    record_create(record=result, by=by, reason=audit_reason, savepoint=False)
    if subject.first_dose_on and collected_at.date() <= subject.first_dose_on:
        # A new pre-dose value can be the new baseline of the results after it.
        labs_regrade(
            subject=subject, test_code=test_code, by=by, reason="Regraded: the baseline changed"
        )
    return result


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
    Not durable: the imports and the demo record results inside their own transaction.
    """
    with transaction.atomic():
        result = _lab_insert(
            subject=subject,
            test_code=test_code,
            value=value,
            unit=unit,
            collected_at=collected_at,
            by=by,
            lln=lln,
            uln=uln,
            visit=visit,
            audit_reason=audit_reason,
        )
        dlt_refresh_subject(subject=subject, by=by, lab_tests=[test_code])
        queries_sync_automatic(subject=subject)
    return result


def labs_regrade(
    *, subject: Subject, by, reason: str, test_code: str | None = None, ungraded_ok: bool = False
) -> int:
    """Recompute the CTCAE grade of the subject's results; audit each one that changes.

    A result saved without a grade keeps none while it still cannot be graded; a graded one
    that can no longer be graded is refused, unless `ungraded_ok`. A building block of the lab
    services, inside their transaction.
    """
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
            graded = ctcae_grade_of(
                result, baselines[key], ungraded_ok=ungraded_ok or result.ctcae_grade is None
            )
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


def _lab_update(
    *,
    result: LabResult,
    changes: Mapping[str, Any],
    reason: str,
    by,
    expected_version: int | None,
    ungraded_ok: bool = False,
) -> LabResult:
    """Save a correction and regrade the results of its test; the caller syncs the queries.

    With `ungraded_ok` a correction that leaves the result ungradable saves it without a grade.
    """
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
        ungraded_ok=ungraded_ok,
    )
    return corrected


def lab_correct(
    *,
    result: LabResult,
    changes: Mapping[str, Any],
    reason: str,
    by,
    expected_version: int | None = None,
) -> LabResult:
    """Correct a result (value, unit, range, time) and regrade what the correction affects.

    Not durable: a reference range correction corrects many results in its own transaction.
    """
    with transaction.atomic():
        corrected = _lab_update(
            result=result, changes=changes, reason=reason, by=by, expected_version=expected_version
        )
        dlt_refresh_subject(subject=corrected.subject, by=by, lab_tests=[corrected.test_code])
        queries_sync_automatic(subject=corrected.subject)
    corrected.refresh_from_db()
    return corrected


@dataclass(frozen=True)
class LabPanelRow:
    """One row of a lab panel: a new result of `test_code`, or a correction of `result`.

    `values` holds, for a new result, value, unit, lln, uln and collected_at; for a correction,
    the changed fields only. `reason` goes to the audit trail: the reason for change of a
    correction, and for a new result the warnings accepted (or nothing).
    """

    test_code: str
    values: Mapping[str, Any]
    result: LabResult | None = None
    reason: str = ""
    expected_version: int | None = None


@dataclass
class LabPanelSaved:
    """What a panel save wrote: the new results and the corrected ones, and those of them that
    could not be graded, with why."""

    created: list[LabResult] = field(default_factory=list)
    corrected: list[LabResult] = field(default_factory=list)
    ungraded: list[UngradedResult] = field(default_factory=list)


class LabPanelRefused(ValidationError):
    """A panel save refused as a whole; `row_errors` maps a row's test code to its error.

    Each error is a ValidationError (with the fields of the row it is about) or a StaleRecord
    when someone else saved the row's result since the grid was loaded. Nothing was written.
    """

    def __init__(self, row_errors: Mapping[str, ValidationError]):
        super().__init__(PANEL_REFUSED, code="rows_refused")
        self.row_errors = dict(row_errors)


def _panel_row_save(row: LabPanelRow, *, subject: Subject, visit: Visit, by) -> LabResult:
    if row.result is None:
        return _lab_insert(
            subject=subject,
            visit=visit,
            test_code=row.test_code,
            by=by,
            audit_reason=row.reason,
            ungraded_ok=True,
            **{name: row.values.get(name) for name in PANEL_VALUES},
        )
    return _lab_update(
        result=row.result,
        changes=row.values,
        reason=row.reason,
        by=by,
        expected_version=row.expected_version,
        ungraded_ok=True,
    )


def lab_panel_save(
    *, subject: Subject, visit: Visit, rows: Sequence[LabPanelRow], by
) -> LabPanelSaved:
    """Save a visit's panel of lab results all together or not at all.

    A result that cannot be graded (its test needs a limit the row lacks, or its unit is not
    one CTCAE grades in) is valid input: it is saved without a grade and listed in `ungraded`
    with the grader's reason, and stays on the subject's open items until it is graded. Each row is saved in its own savepoint, so that a refused row does not stop the others
    from being checked and every row's errors are reported together; any error rolls back the
    whole panel and raises LabPanelRefused. The automatic queries (edit checks accepted, the
    lab-AE reconciliation) are brought up to date once, after the last row.
    """
    saved = LabPanelSaved()
    errors: dict[str, ValidationError] = {}
    with transaction.atomic(durable=True):
        for row in rows:
            try:
                with transaction.atomic():
                    result = _panel_row_save(row, subject=subject, visit=visit, by=by)
            except ValidationError as exc:
                errors[row.test_code] = exc
                continue
            (saved.created if row.result is None else saved.corrected).append(result)
        if errors:
            # Raising inside the transaction rolls back the rows that were saved too.
            raise LabPanelRefused(errors)
        written = [*saved.created, *saved.corrected]
        dlt_refresh_subject(subject=subject, by=by, lab_tests=[r.test_code for r in written])
        queries_sync_automatic(subject=subject)
    for result in saved.corrected:
        result.refresh_from_db()
    for result in [*saved.created, *saved.corrected]:
        reason = not_graded_reason(result)
        if reason is not None:
            saved.ungraded.append(UngradedResult(result, reason))
    return saved


def reference_range_create(
    *,
    site,
    test_code: str,
    unit: str,
    effective_from: dt.date,
    by,
    lln: Decimal | None = None,
    uln: Decimal | None = None,
    sex: str = "",
) -> ReferenceRange:
    """Add a site's normal range of a test, in force from `effective_from`.

    Results already recorded keep their limits; a range is corrected with
    reference_range_correct, which regrades them. Not durable: the demo adds its ranges inside
    the transaction that loads the demo trial.
    """
    reference = ReferenceRange(
        site=site,
        test_code=test_code,
        unit=unit,
        sex=sex,
        lln=lln,
        uln=uln,
        effective_from=effective_from,
    )
    return record_create(record=reference, by=by)


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
    Durable: only the admin corrects a range, each save its own transaction.
    """
    old = ReferenceRange.objects.get(pk=reference_range.pk)
    with transaction.atomic(durable=True):
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
