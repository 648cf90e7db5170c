"""Enrolment tokens for the second factor: issued by an administrator, shown once, used once.

Knowing a password must not be enough to enrol an authenticator app (whoever enrols first owns
the second factor). So the two-factor page shows a new user's key only after they type a token
an administrator issued them. The token is random (about 100 bits), stored as a SHA-256 hash,
expires after settings.TWO_FACTOR_ENROLMENT_HOURS and works once. Issuing a token, resetting a
lost device and confirming a new app each write an audit line on the user.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from dataclasses import dataclass

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django_otp.plugins.otp_totp.models import TOTPDevice

from ..models import TwoFactorEnrolmentToken
from ..services.audit import as_actor, write_audit

# No 0/O or 1/I: the token is read off a screen and typed in.
TOKEN_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # noqa: S105
TOKEN_LENGTH = 20  # 20 characters of 32 symbols: 100 bits
TOKEN_GROUP = 5
DEVICE_NAME = "Authenticator app"
ALREADY_ENROLLED = "already_enrolled"
ALREADY_ENROLLED_MESSAGE = (
    "{user} already has an authenticator app. Reset the second factor to issue a new token."
)
TOKEN_ISSUED = "ecrf.user.two_factor_token_issued"  # noqa: S105
DEVICE_RESET = "ecrf.user.two_factor_reset"
DEVICE_ENROLLED = "ecrf.user.two_factor_enrolled"
FIELD = "two_factor"


@dataclass(frozen=True)
class IssuedToken:
    """The token in clear, to be shown once; only its hash is kept."""

    user: object
    token: str
    expires_at: dt.datetime


def normalise_token(raw: str) -> str:
    """Upper case without the spaces and dashes people type between the groups."""
    return "".join(ch for ch in (raw or "").upper() if ch.isalnum())


def _hash(token: str) -> str:
    return hashlib.sha256(normalise_token(token).encode()).hexdigest()


def _new_token() -> str:
    raw = "".join(secrets.choice(TOKEN_ALPHABET) for _ in range(TOKEN_LENGTH))
    return "-".join(raw[i : i + TOKEN_GROUP] for i in range(0, TOKEN_LENGTH, TOKEN_GROUP))


def has_authenticator(user) -> bool:
    return TOTPDevice.objects.filter(user=user, confirmed=True).exists()


def two_factor_token_issue(*, user, by) -> IssuedToken:
    """Issue a one-time enrolment token for a user without an authenticator app.

    A token issued earlier and not used stops working: only the newest one counts.
    """
    actor = as_actor(by)
    if has_authenticator(user):
        raise ValidationError(
            ALREADY_ENROLLED_MESSAGE.format(user=user.get_username()), code=ALREADY_ENROLLED
        )
    token = _new_token()
    now = timezone.now()
    expires_at = now + dt.timedelta(hours=settings.TWO_FACTOR_ENROLMENT_HOURS)
    with transaction.atomic():
        _cancel_unused_tokens(user, now)
        TwoFactorEnrolmentToken.objects.create(
            user=user,
            token_hash=_hash(token),
            issued_at=now,
            issued_by=actor.name,
            expires_at=expires_at,
        )
        write_audit(
            record=user,
            actor=actor,
            action=TOKEN_ISSUED,
            changes=[(FIELD, None, f"enrolment token valid until {expires_at:%Y-%m-%d %H:%M} UTC")],
        )
    return IssuedToken(user=user, token=token, expires_at=expires_at)


def _cancel_unused_tokens(user, now) -> None:
    """Make the user's unused tokens expire now. They are kept, not deleted: the database role
    of the application may delete no ecrf row (ecrf/database_roles.py)."""
    TwoFactorEnrolmentToken.objects.filter(
        user=user, used_at__isnull=True, expires_at__gt=now
    ).update(expires_at=now)


def two_factor_reset(*, user, by, reason: str = "") -> int:
    """Remove a user's authenticator apps (a lost or replaced phone); return how many.

    The user then needs a new enrolment token to set up another app.
    """
    actor = as_actor(by)
    with transaction.atomic():
        devices = TOTPDevice.objects.filter(user=user)
        count = devices.count()
        devices.delete()
        _cancel_unused_tokens(user, timezone.now())
        write_audit(
            record=user,
            actor=actor,
            action=DEVICE_RESET,
            changes=[(FIELD, f"{count} authenticator app(s)", None)],
            reason=reason,
        )
    return count


def two_factor_enrol_start(*, user, token: str) -> TOTPDevice | None:
    """Use an enrolment token: a fresh unconfirmed device with a new key, or None if refused.

    The token is spent here, in one conditional update, so two sessions cannot both use it. Any
    device left unconfirmed by an earlier attempt goes, so a key seen before is worth nothing.
    """
    now = timezone.now()
    with transaction.atomic():
        used = TwoFactorEnrolmentToken.objects.filter(
            user=user, token_hash=_hash(token), used_at__isnull=True, expires_at__gt=now
        ).update(used_at=now)
        if not used or has_authenticator(user):
            return None
        TOTPDevice.objects.filter(user=user, confirmed=False).delete()
        return TOTPDevice.objects.create(user=user, name=DEVICE_NAME, confirmed=False)


def two_factor_enrol_confirm(*, device: TOTPDevice) -> None:
    """The first correct code from a new app: the device counts from now on."""
    with transaction.atomic():
        device.confirmed = True
        device.save(update_fields=["confirmed"])
        write_audit(
            record=device.user,
            actor=as_actor(device.user),
            action=DEVICE_ENROLLED,
            changes=[(FIELD, None, device.name)],
        )
