"""Changes to a user's own account that the audit trail keeps."""

from __future__ import annotations

from django.db import transaction

from .audit import as_actor, write_audit

PASSWORD_CHANGED_ACTION = "ecrf.user.password_changed"  # noqa: S105


def user_password_change(*, user, new_password: str) -> None:
    """Set the user's new password and write the change (never the password) to the audit trail.

    The new password has passed the password validators (settings.AUTH_PASSWORD_VALIDATORS) in
    the form; the save and its audit line are one transaction.
    """
    with transaction.atomic(durable=True):
        user.set_password(new_password)
        user.save(update_fields=["password"])
        write_audit(
            record=user,
            actor=as_actor(user),
            action=PASSWORD_CHANGED_ACTION,
            changes=[("password", None, "changed")],
        )
