"""Analysis exports for data managers: a page of their studies, one download per format."""

from uuid import UUID

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import path
from django.views.decorators.http import require_GET, require_http_methods

from ..exports import FORMATS
from ..exports.permissions import (
    NO_EXPORT_ROLE,
    can_export,
    get_study_for_export,
    studies_for_export,
)
from ..models import ReportKind
from ..services.report_jobs import recent_jobs_for_user
from . import jobs
from .subjects import role_label


@login_required
@require_GET
def export_list(request: HttpRequest) -> HttpResponse:
    if not can_export(request.user):
        raise PermissionDenied(NO_EXPORT_ROLE)
    return render(
        request,
        "ecrf/exports.html",
        {
            "studies": studies_for_export(request.user),
            "formats": FORMATS.items(),
            "recent": recent_jobs_for_user(request.user),
            "role_label": role_label(request.user),
        },
    )


@login_required
@require_http_methods(["GET", "POST"])
def export_file(request: HttpRequest, study_id: UUID, fmt: str) -> HttpResponse:
    """The workbook (xlsx), or a zip of the files (csv, sdtm, xpt), of the user's subjects.

    GET shows the request form; POST asks for the file, made by a background job with the
    subjects the user sees when it runs, and redirects to the job's page.
    """
    study = get_study_for_export(request.user, study_id)
    if fmt not in FORMATS:
        raise Http404("No such export format.")
    what = {"kind": ReportKind.EXPORT, "study": study, "fmt": fmt}
    if request.method == "POST":
        return jobs.start_job(request, generated_by=request.user.get_username(), **what)
    return jobs.request_page(
        request,
        title=f"{FORMATS[fmt]}: export of {study.code}",
        action=request.path,
        fields={},
        **what,
    )


urlpatterns = [
    path("exports/", export_list, name="export_list"),
    path("exports/<uuid:study_id>/<slug:fmt>/", export_file, name="export_file"),
]
