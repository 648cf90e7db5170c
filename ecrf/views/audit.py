"""The audit trail viewer: a subject's (or one record's) history, filtered, as a page or CSV."""

from __future__ import annotations

import csv
import datetime as dt
from uuid import UUID

from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import path
from django.views.decorators.http import require_GET

from ..access import Action, ensure_can, get_subject_for_user
from ..exports.writers import neutralised_text
from ..forms.audit import AuditFilterForm
from ..models import AuditEvent
from ..selectors.audit import audit_field_choices, readable_audit

NOT_AN_AUDIT_READER = "Your role does not give access to the audit trail."
PAGE_ROWS = 100
CSV_COLUMNS = [
    ("at", "Time (UTC)"),
    ("actor", "User"),
    ("role", "Role"),
    ("site", "Site"),
    ("action", "Action"),
    ("model", "Record type"),
    ("object_id", "Record ID"),
    ("object_repr", "Record"),
    ("field", "Field"),
    ("old_value", "Old value"),
    ("new_value", "New value"),
    ("reason", "Reason"),
]


def _filtered(subject, form: AuditFilterForm):
    events = AuditEvent.objects.filter(subject_id=subject.pk)
    if not form.is_valid():
        return events.none()
    data = form.cleaned_data
    if data["record"]:
        events = events.filter(object_id=str(data["record"]))
    if data["user"]:
        events = events.filter(actor=data["user"])
    if data["field"]:
        events = events.filter(field=data["field"])
    if data["date_from"]:
        events = events.filter(at__gte=dt.datetime.combine(data["date_from"], dt.time(), dt.UTC))
    if data["date_to"]:
        end = dt.datetime.combine(data["date_to"] + dt.timedelta(days=1), dt.time(), dt.UTC)
        events = events.filter(at__lt=end)
    return events


def _csv_cell(value) -> str:
    """A cell a spreadsheet shows as text and never runs as a formula."""
    if value is None:
        return ""
    return neutralised_text(value.isoformat() if isinstance(value, dt.datetime) else str(value))


@login_required
@require_GET
def audit_trail(request: HttpRequest, subject_id: UUID) -> HttpResponse:
    """A subject's audit trail, newest first; `?record=<id>` narrows it to one record."""
    # Who reads it: access.CAPABILITIES[Action.READ_AUDIT]. The role is asked first, so a sponsor
    # viewer gets 403 whether or not the subject exists.
    ensure_can(request.user, Action.READ_AUDIT, message=NOT_AN_AUDIT_READER)
    subject = get_subject_for_user(request.user, subject_id)
    trail = AuditEvent.objects.filter(subject_id=subject.pk)
    form = AuditFilterForm(
        request.GET,
        users=trail.order_by("actor").values_list("actor", flat=True).distinct(),
        fields=audit_field_choices(trail),
    )
    events = _filtered(subject, form).order_by("-at", "-id")
    if request.GET.get("format") == "csv":
        response = HttpResponse(content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = (
            f'attachment; filename="audit-trail-{subject.study.code}-{subject.subject_code}.csv"'
        )
        writer = csv.writer(response)
        writer.writerow([label for _, label in CSV_COLUMNS])
        names = [name for name, _ in CSV_COLUMNS]
        for row in events.values_list(*names).iterator(chunk_size=2000):
            writer.writerow([_csv_cell(value) for value in row])
        return response
    page = Paginator(events, PAGE_ROWS).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request,
        "ecrf/audit_trail.html",
        {
            "subject": subject,
            "form": form,
            "page": page,
            "lines": readable_audit(page.object_list, subject),
            "filters": query.urlencode(),
            "record": form.cleaned_data.get("record") if form.is_valid() else None,
        },
    )


urlpatterns = [
    path("subjects/<uuid:subject_id>/audit/", audit_trail, name="audit_trail"),
]
