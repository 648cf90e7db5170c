"""One lock for every password a user types: signing in, signing data, changing the password.

django-axes counts failed sign-ins per user name (settings.AXES_LOCKOUT_PARAMETERS) and refuses
that user name for the cool-off period once the limit is reached. A password re-entered to sign
(21 CFR 11.200(a): the signature's components are the user name and password) or to change the
password is the same secret, so a wrong one counts toward the same lock, is written to the audit
trail, and a locked user can neither sign nor sign in until the lock lifts.

The functions below write their rows (the axes attempt, the audit line) at once: call them outside
any transaction that the refusal which follows rolls back, or the failure would leave no trace.
"""

from __future__ import annotations

from axes.conf import settings as axes_settings
from axes.handlers.proxy import AxesProxyHandler
from axes.helpers import get_cool_off, get_failure_limit
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.http import HttpRequest

from ..services.audit import as_actor, write_audit

LOCKED_OUT = "locked_out"
LOCKED_MESSAGE = (
    "Too many wrong passwords for this user name. Signing and signing in are locked for "
    "{minutes} minutes, even with the right password."
)
SIGNATURE_PASSWORD_FAILED = "ecrf.signature.password_failed"  # noqa: S105
PASSWORD_CHANGE_FAILED = "ecrf.user.password_change_failed"  # noqa: S105
# Request headers that tell axes who is asking, copied from the page's request when there is one.
CLIENT_HEADERS = ("REMOTE_ADDR", "HTTP_USER_AGENT", "HTTP_ACCEPT")


def _credentials(user) -> dict[str, str]:
    return {axes_settings.AXES_USERNAME_FORM_FIELD: user.get_username()}


def _axes_request(request: HttpRequest | None) -> HttpRequest:
    """A request for django-axes to mark, never the page's own.

    Axes flags the request it is given as locked out, and its middleware then swaps the response
    for the sign-in lock page; a signature form answers with its own error instead.
    """
    probe = HttpRequest()
    probe.method = "POST"
    if request is not None:
        probe.path = probe.path_info = request.path
        probe.META = {key: request.META[key] for key in CLIENT_HEADERS if key in request.META}
    return probe


def lock_minutes() -> int:
    cool_off = get_cool_off()
    return int(cool_off.total_seconds() // 60) if cool_off else 0


def is_locked_out(user, *, request: HttpRequest | None = None) -> bool:
    """Whether the user's name is locked by failed passwords (sign-in or re-entered)."""
    if not settings.AXES_ENABLED:
        return False
    return not AxesProxyHandler.is_allowed(_axes_request(request), _credentials(user))


def ensure_not_locked_out(user, *, request: HttpRequest | None = None) -> None:
    """Refuse, with code "locked_out", a password check for a user whose name is locked.

    Call it before checking the password, so that the right password does not get through a lock.
    """
    if is_locked_out(user, request=request):
        raise ValidationError(LOCKED_MESSAGE.format(minutes=lock_minutes()), code=LOCKED_OUT)


def password_failed(
    *, user, record: models.Model, action: str, request: HttpRequest | None = None
) -> bool:
    """Count one wrong re-entered password toward the sign-in lock and audit it.

    Returns whether the user name is now locked. The audit line names the record the password
    was typed for, with the failure count against the limit.
    """
    probe = _axes_request(request)
    credentials = _credentials(user)
    AxesProxyHandler.user_login_failed(sender=__name__, credentials=credentials, request=probe)
    failures = getattr(probe, "axes_failures_since_start", None)
    locked = bool(getattr(probe, "axes_locked_out", False))
    outcome = "wrong password"
    if failures is not None:
        outcome += f" ({failures} of {get_failure_limit(probe, credentials)} before the lock)"
    if locked:
        outcome += f"; user name locked for {lock_minutes()} minutes"
    write_audit(
        record=record, actor=as_actor(user), action=action, changes=[("password", None, outcome)]
    )
    return locked


def signature_password_failed(
    *, user, what: models.Model, request: HttpRequest | None = None
) -> bool:
    """A wrong password typed to sign `what` (a visit, a casebook, a DLT decision)."""
    return password_failed(
        user=user, record=what, action=SIGNATURE_PASSWORD_FAILED, request=request
    )
