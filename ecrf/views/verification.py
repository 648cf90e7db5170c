"""Source data verification: a monitor marks the version of a record the page showed as
checked against the source (`ecrf.services.locking.verification_record`).
"""

from __future__ import annotations

from uuid import UUID

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import path
from django.views.decorators.http import require_POST

from ..access import get_record_for_user, may_verify
from ..selectors.records import describe_record
from ..services.locking import verification_record
from .display import next_url, review_url, subject_of

VERIFIED = "{record} marked as source-verified (version {version})."
CHANGED_SINCE_LOADED = (
    "{record} changed after you opened the page (now version {version}); review it again "
    "before marking it as verified."
)
NO_LOADED_VERSION = "loaded_version: the page did not say which version of the record you saw."
ONLY_MONITORS = "Only monitors mark data as source-verified."


@login_required
@require_POST
def record_verify(request: HttpRequest, kind: str, record_id: UUID) -> HttpResponse:
    record = get_record_for_user(request.user, kind, record_id)
    subject = subject_of(record)
    back = next_url(request, review_url(subject.pk, kind))
    if not may_verify(request.user):
        raise PermissionDenied(ONLY_MONITORS)
    try:
        loaded = int(request.POST.get("loaded_version", ""))
    except ValueError:
        messages.error(request, NO_LOADED_VERSION)
        return redirect(back)
    # The monitor verifies what the page showed; a newer version has not been looked at.
    if loaded != record.version:
        messages.error(
            request,
            CHANGED_SINCE_LOADED.format(record=describe_record(record), version=record.version),
        )
        return redirect(back)
    verification = verification_record(record=record, by=request.user)
    messages.success(
        request,
        VERIFIED.format(record=describe_record(record), version=verification.record_version),
    )
    return redirect(back)


urlpatterns = [
    path("records/<slug:kind>/<uuid:record_id>/verify/", record_verify, name="record_verify"),
]
