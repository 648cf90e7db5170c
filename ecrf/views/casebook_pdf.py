"""The subject casebook as a PDF download, from the casebook page."""

from __future__ import annotations

from io import BytesIO
from uuid import UUID

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.urls import path
from django.utils import timezone
from django.utils.http import content_disposition_header
from django.views.decorators.http import require_GET

from .. import access
from ..models import Role
from ..reports.casebook import casebook_filename, casebook_load, casebook_write


def generated_by(user) -> str:
    """Who the cover names: "user name (full name), role"."""
    full_name, role = user.get_full_name(), access.primary_role(user)
    return (
        user.get_username()
        + (f" ({full_name})" if full_name else "")
        + (f", {Role(role).label}" if role else "")
    )


@login_required
@require_GET
def casebook_pdf(request: HttpRequest, subject_id: UUID) -> HttpResponse:
    subject = access.get_subject_for_user(request.user, subject_id)
    # The audit trail section only for those who read the trail (not sponsor viewers); the
    # `casebook` command runs as the installation and keeps it.
    include_audit = access.can(request.user, access.Action.READ_AUDIT, site=subject.site)
    out = BytesIO()
    casebook_write(
        out,
        casebook_load(subject, include_audit=include_audit),
        generated_at=timezone.now(),
        generated_by=generated_by(request.user),
    )
    response = HttpResponse(out.getvalue(), content_type="application/pdf")
    response["Content-Disposition"] = content_disposition_header(
        as_attachment=True, filename=casebook_filename(subject)
    )
    # A patient's record is not kept by browsers or proxies: the no-store middleware
    # (ecrf.auth.middleware) marks every response to a signed-in user.
    return response


urlpatterns = [
    path("subjects/<uuid:subject_id>/casebook.pdf", casebook_pdf, name="subject_casebook_pdf"),
]
