"""Analysis exports for data managers: a page of their studies, one download per format."""

from uuid import UUID

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import path
from django.views.decorators.http import require_GET

from ..exports import FORMATS, ExportError, export_download
from ..exports.permissions import (
    NO_EXPORT_ROLE,
    can_export,
    export_subjects,
    get_study_for_export,
    studies_for_export,
)
from .subjects import role_label

EXPORT_REFUSED = "The {fmt} export of {study} cannot be written: {error}"


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
            "role_label": role_label(request.user),
        },
    )


@login_required
@require_GET
def export_file(request: HttpRequest, study_id: UUID, fmt: str) -> HttpResponse:
    """The workbook (xlsx), or a zip of the files (csv, sdtm, xpt), of the user's subjects."""
    study = get_study_for_export(request.user, study_id)
    if fmt not in FORMATS:
        raise Http404("No such export format.")
    try:
        name, content_type, download = export_download(
            study, fmt, export_subjects(request.user, study)
        )
    except ExportError as exc:
        messages.error(request, EXPORT_REFUSED.format(study=study.code, fmt=fmt, error=exc))
        return redirect("export_list")
    return FileResponse(download, as_attachment=True, filename=name, content_type=content_type)


urlpatterns = [
    path("exports/", export_list, name="export_list"),
    path("exports/<uuid:study_id>/<slug:fmt>/", export_file, name="export_file"),
]
