"""Electronic signatures (21 CFR Part 11: 11.50 signature manifestations, 11.70 linking, 11.200
components): one check and one record for every signature, a DLT decision or a data sign-off.

A signature is given by an investigator of the subject's site who re-enters their password; it
records the signer's printed name, which is the full name of their account as the signing page
shows it (never typed, 11.50(a)(1)), the UTC time and its meaning, and is bound to the SHA-256
hash of the content signed (`ecrf.selectors.signatures.content_hash`). An account with no full
name cannot sign.
"""

from __future__ import annotations

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import models, transaction
from django.utils import timezone

from .. import access
from ..auth.lockout import ensure_not_locked_out, signature_password_failed
from ..models import Signature, Subject
from ..selectors.signatures import content_hash
from .audit import Actor

ONLY_SITE_INVESTIGATOR = "Only an investigator of this subject's site signs for it."
NO_FULL_NAME = "Your account has no full name: ask the administrator to add it before you can sign."
WRONG_PASSWORD = "The password is not correct; nothing was signed."  # noqa: S105

# Error codes of the signature fields, for forms and API clients that route by code.
CODE_NO_FULL_NAME = "no_full_name"
CODE_WRONG_PASSWORD = "wrong_password"  # noqa: S105


def printed_name_of(user) -> str:
    """The name a signature of `user` shows: the full name of the account, or "" when it has
    none (such an account cannot sign)."""
    return (user.get_full_name() or "").strip() if user is not None else ""


def signature_errors(*, actor: Actor, password: str, target) -> dict:
    """The signature's own field errors (the account's printed name, the password), each with
    its code.

    The password is the one the user signs in with (21 CFR 11.200(a)), so it shares the sign-in
    lock: a locked user name is refused even with the right password, and a wrong password
    counts toward the lock and is written to the audit trail on `target` at once, outside any
    transaction, so that the refusal which follows does not take the line back. An account
    with no full name is refused before the password is read: nothing is written.
    """
    if actor.is_system:
        return {"password": ValidationError(WRONG_PASSWORD, code=CODE_WRONG_PASSWORD)}
    if not printed_name_of(actor.user):
        return {"printed_name": ValidationError(NO_FULL_NAME, code=CODE_NO_FULL_NAME)}
    try:
        ensure_not_locked_out(actor.user)
    except ValidationError as locked:
        return {"password": locked}
    if not actor.user.check_password(password or ""):
        signature_password_failed(user=actor.user, what=target)
        return {"password": ValidationError(WRONG_PASSWORD, code=CODE_WRONG_PASSWORD)}
    return {}


def signature_check(
    *,
    actor: Actor,
    subject: Subject,
    target: models.Model,
    password: str,
    errors: dict | None = None,
) -> str:
    """Refuse a signer who is not an investigator of the subject's site, then an account with
    no full name or a wrong password, together with the caller's own field `errors`; nothing
    is written but the audit line of a wrong password (see `signature_errors`).

    Returns the printed name to record: the signer's full name, as the signing page shows it.
    """
    if actor.is_system or not access.is_site_investigator(actor.user, subject.site):
        raise PermissionDenied(ONLY_SITE_INVESTIGATOR)
    own = signature_errors(actor=actor, password=password, target=target)
    found = {**(errors or {}), **own}
    if found:
        raise ValidationError(found)
    return printed_name_of(actor.user)


def signature_sign(
    *,
    actor: Actor,
    target: models.Model,
    meaning: str,
    content: str,
    printed_name: str,
    signed_at=None,
) -> Signature:
    """Record a checked signature (see `signature_check`) of `target`, bound to the hash of
    `content`, the canonical text of what is signed."""
    with transaction.atomic():
        return Signature.objects.create(
            signer=actor.user,
            printed_name=printed_name,
            role=actor.role,
            signed_at=signed_at or timezone.now(),
            meaning=meaning,
            model=target._meta.label,
            object_id=str(target.pk),
            content_hash=content_hash(content),
        )
