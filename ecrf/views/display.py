"""What the oversight pages share: where a record is corrected, where a page goes back to.

The records' own descriptions and field labels are reads, in `ecrf.selectors.records`.
"""

from __future__ import annotations

from django.db import models
from django.http import HttpRequest
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme

from ..forms.labs import PANELS
from ..models import AdverseEvent, DoseAdministration, LabResult, Subject, Visit
from ..services.signatures import NO_FULL_NAME, printed_name_of

ROWS_PER_PAGE = 50


def subject_of(record: models.Model) -> Subject:
    return record if isinstance(record, Subject) else record.subject


def edit_url(record: models.Model) -> str:
    """Where the site corrects this record (with a reason), or '' when there is no form."""
    if isinstance(record, Visit):
        return reverse("visit_edit", args=[record.pk])
    if isinstance(record, AdverseEvent):
        return reverse("ae_edit", args=[record.pk])
    if isinstance(record, DoseAdministration):
        return reverse("dose_edit", args=[record.pk])
    if isinstance(record, LabResult) and record.visit_id:
        panel = next((code for code, (_, tests) in PANELS.items() if record.test_code in tests), "")
        if panel:
            return reverse("lab_grid", args=[record.visit_id, panel])
    return ""


def next_url(request: HttpRequest, default: str) -> str:
    target = request.POST.get("next") or request.GET.get("next") or ""
    if target and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return default


def casebook_url(subject_id, anchor: str = "oversight") -> str:
    return reverse("subject_detail", args=[subject_id]) + f"#{anchor}"


def review_url(subject_id, kind: str) -> str:
    return reverse("subject_review", args=[subject_id]) + f"?kind={kind}"


def signer_context(user) -> dict:
    """What a signing page shows of the signer: the printed name the signature will carry (the
    account's full name), or why the account cannot sign (`ecrf/_signer.html`)."""
    return {"signer_name": printed_name_of(user), "no_full_name": NO_FULL_NAME}
