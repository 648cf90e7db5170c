"""The lab entry grid of a visit: one row per test of a panel, saved all together or not at all."""

from __future__ import annotations

import datetime as dt
from uuid import UUID

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import path, reverse
from django.utils import timezone

from .. import access
from ..ctcae.labs import LAB_TESTS
from ..forms.errors import add_service_errors
from ..forms.labs import PANELS, LabGridForm, LabRowForm, shown, units_of
from ..models import LabResult, LabTest, Subject, Visit
from ..selectors.reconciliation import not_graded_reason, subject_reconciliation_items
from ..services.labs import (
    PANEL_REFUSED,
    PANEL_VALUES,
    LabPanelRefused,
    LabPanelRow,
    LabPanelSaved,
    lab_panel_save,
    reference_ranges_for,
)
from .subjects import role_label

# Samples are usually drawn in the morning of the visit.
DEFAULT_SAMPLE_TIME = dt.time(8, 0)
SAVED = "{panel} saved: {created} recorded, {corrected} corrected."
NOTHING_TO_SAVE = "Nothing to save: enter at least one value, or change a saved one."
NOT_GRADED = (
    "{name} ({test}) was saved without a CTCAE grade: {reason} It stays on the subject's open "
    "items until it is graded."
)
ROWS_REFUSED = PANEL_REFUSED


def _grade_text(result: LabResult | None) -> str:
    if result is None:
        return ""
    if result.ctcae_term:
        return f"{result.ctcae_term} grade {result.ctcae_grade}"
    if result.ctcae_version:
        return "Grade 0"
    return "Not graded" if result.test_code in LAB_TESTS else "Not graded by CTCAE"


def _visit_day(visit: Visit) -> dt.date:
    return visit.done_on or visit.planned_on or timezone.localdate()


def _saved_results(visit: Visit, tests: tuple[str, ...]) -> dict[str, LabResult]:
    """The latest result of each test entered for this visit."""
    results = visit.lab_results.filter(entered_in_error=False, test_code__in=tests).order_by(
        "collected_at", "created_at"
    )
    return {result.test_code: result for result in results}


def _build_rows(data, subject: Subject, visit: Visit, tests: tuple[str, ...]) -> list[LabRowForm]:
    day = _visit_day(visit)
    sample_time = timezone.make_aware(dt.datetime.combine(day, DEFAULT_SAMPLE_TIME))
    saved = _saved_results(visit, tests)
    # Unit to (LLN, ULN) of the site's ranges in force on the day, per test: one query.
    references = reference_ranges_for(subject, tests, day)
    return [
        LabRowForm(
            data,
            test=test,
            ranges={
                unit: (reference.lln, reference.uln)
                for unit in units_of(test)
                if (reference := references.get((test, unit))) is not None
            },
            collected_at=sample_time,
            result=saved.get(test),
        )
        for test in tests
    ]


def _panel_row(row: LabRowForm, grid: LabGridForm) -> LabPanelRow:
    """A row of the grid as the service takes it: a new result or a correction."""
    data = row.cleaned_data
    accepted = grid.row_audit_reason(row)
    if row.result is None:
        return LabPanelRow(
            test_code=row.test,
            values={name: data[name] for name in PANEL_VALUES},
            reason=accepted,
        )
    version = data.get("loaded_version")
    return LabPanelRow(
        test_code=row.test,
        values=row.changes,
        result=row.result,
        reason=" | ".join(p for p in (data["change_reason"].strip(), accepted) if p),
        expected_version=row.result.version if version is None else version,
    )


def _save_grid(rows: list[LabRowForm], grid: LabGridForm, **context) -> LabPanelSaved | None:
    """Save every row with work through the service; on a refusal put each row's errors back."""
    worked = {row.test: row for row in rows if row.has_work}
    try:
        saved = lab_panel_save(rows=[_panel_row(row, grid) for row in worked.values()], **context)
    except LabPanelRefused as exc:
        for test, error in exc.row_errors.items():
            row = worked[test]
            add_service_errors(
                row, error, record=row.result, field_names={"reason": "change_reason"}
            )
        return None
    return saved


@login_required
def lab_grid(request: HttpRequest, visit_id: UUID, panel: str) -> HttpResponse:
    """Enter or correct a panel of lab results of one visit; grades show once saved."""
    if panel not in PANELS:
        raise Http404("No such lab panel.")
    posting = request.method == "POST"
    visit = access.get_visit_for_user(request.user, visit_id, write=posting)
    subject = visit.subject
    panel_label, tests = PANELS[panel]
    data = request.POST if posting else None
    rows = _build_rows(data, subject, visit, tests)
    grid = LabGridForm(data, rows=rows)
    draft_key = f"labs-{visit.pk}-{panel}"
    if posting:
        # Every row is validated, not only up to the first invalid one, so that each row
        # shows its own errors.
        row_checks = [row.is_valid() for row in rows]
        if grid.is_valid() and all(row_checks):
            if not any(row.has_work for row in rows):
                messages.info(request, NOTHING_TO_SAVE)
            else:
                saved = _save_grid(rows, grid, subject=subject, visit=visit, by=request.user)
                if saved is not None:
                    counts = {"created": len(saved.created), "corrected": len(saved.corrected)}
                    messages.success(
                        request,
                        SAVED.format(panel=panel_label, **counts),
                        extra_tags=draft_key,
                    )
                    for item in saved.ungraded:
                        test = item.result.test_code
                        name = LabTest(test).label
                        messages.warning(
                            request, NOT_GRADED.format(name=name, test=test, reason=item.reason)
                        )
                    return redirect("lab_grid", visit_id=visit.pk, panel=panel)
        if any(row.errors for row in rows):
            grid.add_error(None, ROWS_REFUSED)
    for row in rows:
        row.mark_errors()
    flagged = {result.pk for result in subject_reconciliation_items(subject)}
    for row in rows:
        row.reconcile = row.result is not None and row.result.pk in flagged
        row.grade_text = _grade_text(row.result)
        row.not_graded = None if row.result is None else not_graded_reason(row.result)
    return render(
        request,
        "ecrf/lab_grid.html",
        {
            "subject": subject,
            "visit": visit,
            "visit_day": _visit_day(visit),
            "panel": panel,
            "panel_label": panel_label,
            "panels": [(code, label) for code, (label, _) in PANELS.items()],
            "grid": grid,
            "rows": rows,
            "has_saved": any(row.result is not None for row in rows),
            "unit_ranges": {
                row.test: {
                    unit: [shown(lln), shown(uln)] for unit, (lln, uln) in row.ranges.items()
                }
                for row in rows
            },
            "draft_key": draft_key,
            "can_write": access.can_write_site(request.user, subject.site),
            "casebook_url": reverse("subject_detail", args=[subject.pk]) + "?tab=labs#labs",
            "role_label": role_label(request.user),
        },
    )


urlpatterns = [
    path("visits/<uuid:visit_id>/labs/<str:panel>/", lab_grid, name="lab_grid"),
]
