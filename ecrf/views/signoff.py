"""Investigator sign-off of a visit or a whole casebook, with the password re-entered; the
signature shows the account's full name (`ecrf.services.signoff.signoff_sign`; 21 CFR Part 11,
11.50).
"""

from __future__ import annotations

from uuid import UUID

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import path

from ..access import get_record_for_user, may_sign
from ..forms.errors import add_service_errors
from ..forms.oversight import SignOffForm
from ..selectors.queries import open_query_total
from ..selectors.signatures import signature_states, signed_counts
from ..services.signoff import MEANING_REVIEWED, signoff_sign
from .display import casebook_url, signer_context, subject_of
from .subjects import role_label

SIGNABLE_KINDS = ("subject", "visit")
SIGNED = "{what} signed: {meaning}"
ONLY_INVESTIGATORS = "Only an investigator of this subject's site signs its data."


@login_required
def sign_off(request: HttpRequest, kind: str, record_id: UUID) -> HttpResponse:
    """An investigator of the site signs a visit or the whole casebook."""
    if kind not in SIGNABLE_KINDS:
        raise Http404("Only a visit or a whole casebook is signed.")
    target = get_record_for_user(request.user, kind, record_id)
    subject = subject_of(target)
    if not may_sign(request.user, subject):
        raise PermissionDenied(ONLY_INVESTIGATORS)
    form = SignOffForm(request.POST or None)
    what = "Casebook" if kind == "subject" else f"Visit {target.label}"
    if request.method == "POST" and form.is_valid():
        try:
            signoff_sign(
                target=target,
                by=request.user,
                password=form.cleaned_data["password"],
            )
        except ValidationError as exc:
            add_service_errors(form, exc)
        else:
            messages.success(request, SIGNED.format(what=what, meaning=MEANING_REVIEWED))
            return redirect(casebook_url(subject.pk))
    counts = signed_counts(target)
    return render(
        request,
        "ecrf/oversight/sign_off.html",
        {
            "form": form,
            "subject": subject,
            "target": target,
            "what": what,
            "counts": counts,
            "meaning": MEANING_REVIEWED,
            "states": list(reversed(signature_states(target))),
            "open_queries": open_query_total(subject),
            "role_label": role_label(request.user),
            **signer_context(request.user),
        },
    )


urlpatterns = [
    path("records/<slug:kind>/<uuid:record_id>/sign/", sign_off, name="sign_off"),
]
