"""Marking a record entered in error from the casebook (`record_mark_entered_in_error`): the
record stays in the database and the audit trail, out of the casebook's current data."""

from __future__ import annotations

from uuid import UUID

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import path

from .. import access
from ..forms.errors import add_service_errors
from ..forms.oversight import EnteredInErrorForm
from ..models import Visit, VisitKind
from ..selectors.records import describe_record
from ..services import record_mark_entered_in_error
from .display import casebook_url, next_url, subject_of
from .subjects import role_label

# The kinds of record a site retires from the casebook. A subject is withdrawn, not retired; a
# visit of the study schedule is recorded as missed, so only an unscheduled visit is retired.
RETIRABLE = ("ae", "dose", "lab", "visit")
TAB_OF_KIND = {"ae": "aes", "dose": "doses", "lab": "labs", "visit": "visits"}
MARKED = "{record} marked as entered in error."
SCHEDULED_VISIT = "A visit of the study schedule is recorded as missed, not entered in error."


@login_required
def record_entered_in_error(request: HttpRequest, kind: str, record_id: UUID) -> HttpResponse:
    if kind not in RETIRABLE:
        raise Http404("No such kind of record.")
    record = access.get_record_for_user(request.user, kind, record_id)
    if isinstance(record, Visit) and record.kind != VisitKind.UNSCHEDULED:
        raise Http404(SCHEDULED_VISIT)
    subject = subject_of(record)
    # Only the roles that change clinical data at the record's site reach the form.
    access.ensure_can_write_site(request.user, subject.site)
    description = describe_record(record)
    back = next_url(request, casebook_url(subject.pk, TAB_OF_KIND[kind]))
    form = EnteredInErrorForm(request.POST or None, initial={"loaded_version": record.version})
    if request.method == "POST" and form.is_valid():
        try:
            record_mark_entered_in_error(
                record=record,
                reason=form.cleaned_data["reason"],
                by=request.user,
                expected_version=form.cleaned_data["loaded_version"],
            )
        except (ValidationError, PermissionDenied) as exc:
            add_service_errors(form, exc, record=record)
        else:
            messages.success(request, MARKED.format(record=description))
            return redirect(back)
    return render(
        request,
        "ecrf/entered_in_error.html",
        {
            "form": form,
            "subject": subject,
            "description": description,
            "back": back,
            "role_label": role_label(request.user),
        },
    )


urlpatterns = [
    path(
        "records/<slug:kind>/<uuid:record_id>/entered-in-error/",
        record_entered_in_error,
        name="record_entered_in_error",
    ),
]
