"""Locks: a data manager locks a form, a visit or a subject, and lifts a lock with a reason
(`ecrf.services.locking.lock_place` and `lock_remove`).
"""

from __future__ import annotations

from uuid import UUID

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import path
from django.views.decorators.http import require_POST

from ..access import get_lock_for_user, get_record_for_user, may_lock
from ..forms.errors import add_service_errors
from ..forms.oversight import UnlockForm
from ..selectors.records import describe_record, records_by_key
from ..services.locking import lock_place, lock_remove
from .display import casebook_url, next_url, review_url, subject_of
from .subjects import role_label

LOCKED = "{scope} locked: {record}."
UNLOCKED = "{scope} unlocked: {record}."
ONLY_DATA_MANAGERS = "Only data managers lock and unlock data."


@login_required
@require_POST
def record_lock(request: HttpRequest, kind: str, record_id: UUID) -> HttpResponse:
    """Lock one form, a visit (with its forms) or a whole subject."""
    record = get_record_for_user(request.user, kind, record_id)
    subject = subject_of(record)
    back = next_url(request, review_url(subject.pk, kind))
    if not may_lock(request.user):
        raise PermissionDenied(ONLY_DATA_MANAGERS)
    try:
        lock = lock_place(target=record, by=request.user)
    except ValidationError as exc:
        for message in exc.messages:
            messages.error(request, message)
    else:
        messages.success(
            request, LOCKED.format(scope=lock.get_scope_display(), record=describe_record(record))
        )
    return redirect(back)


@login_required
def lock_release(request: HttpRequest, lock_id: UUID) -> HttpResponse:
    """Lift a lock, with a reason."""
    lock = get_lock_for_user(request.user, lock_id)
    if not may_lock(request.user):
        raise PermissionDenied(ONLY_DATA_MANAGERS)
    target = records_by_key([(lock.model, lock.object_id)]).get((lock.model, lock.object_id))
    description = describe_record(target) if target else lock.model
    form = UnlockForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            lock_remove(lock=lock, reason=form.cleaned_data["reason"], by=request.user)
        except ValidationError as exc:
            add_service_errors(form, exc)
        else:
            messages.success(
                request, UNLOCKED.format(scope=lock.get_scope_display(), record=description)
            )
            return redirect(next_url(request, casebook_url(lock.subject_id)))
    return render(
        request,
        "ecrf/oversight/unlock.html",
        {
            "form": form,
            "lock": lock,
            "subject": lock.subject,
            "description": description,
            "next": next_url(request, ""),
            "role_label": role_label(request.user),
        },
    )


urlpatterns = [
    path("locks/<uuid:lock_id>/unlock/", lock_release, name="lock_release"),
    path("records/<slug:kind>/<uuid:record_id>/lock/", record_lock, name="record_lock"),
]
