"""The subject casebook as a PDF, made by a background job, from the casebook page."""

from __future__ import annotations

from uuid import UUID

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.urls import path
from django.views.decorators.http import require_http_methods

from .. import access
from ..models import ReportKind, Role
from . import jobs


def generated_by(user) -> str:
    """Who the cover names: "user name (full name), role"."""
    full_name, role = user.get_full_name(), access.primary_role(user)
    return (
        user.get_username()
        + (f" ({full_name})" if full_name else "")
        + (f", {Role(role).label}" if role else "")
    )


@login_required
@require_http_methods(["GET", "POST"])
def casebook_pdf(request: HttpRequest, subject_id: UUID) -> HttpResponse:
    """GET: the request form; POST: ask for the PDF (a background job) and go to its page.

    The job reads the casebook as the user may see it when it runs: the audit trail section
    only for those who read the trail (not sponsor viewers); the `casebook` command runs as the
    installation and keeps it.
    """
    subject = access.get_subject_for_user(request.user, subject_id)
    what = {"kind": ReportKind.CASEBOOK, "study": subject.study, "subject": subject}
    if request.method == "POST":
        return jobs.start_job(request, generated_by=generated_by(request.user), **what)
    return jobs.request_page(
        request,
        title=f"Casebook of {subject.subject_code} ({subject.study.code})",
        action=request.path,
        fields={},
        **what,
    )


urlpatterns = [
    path("subjects/<uuid:subject_id>/casebook.pdf", casebook_pdf, name="subject_casebook_pdf"),
]
