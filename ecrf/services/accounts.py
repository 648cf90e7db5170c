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


ACCOUNT_CHANGED_ACTION = "ecrf.user.account_changed"
ACCOUNT_FLAGS = ("is_active", "is_staff", "is_superuser")


def user_account_state(user) -> dict[str, object] | None:
    """What `user_account_change` compares: the account flags and the roles (groups, by name).

    None for a user not saved yet.
    """
    if user is None or user.pk is None:
        return None
    saved = type(user)._default_manager.get(pk=user.pk)
    state: dict[str, object] = {flag: getattr(saved, flag) for flag in ACCOUNT_FLAGS}
    state["groups"] = ", ".join(sorted(saved.groups.values_list("name", flat=True)))
    return state


def user_account_change(*, user, before: dict[str, object] | None, by) -> None:
    """Write to the audit trail what changed in the user's roles and account flags since `before`.

    The user admin saves the account and its groups in its own transaction, then calls this in
    that same transaction: the audit lines (old and new value, and who changed it) are written
    with the change or not at all. `before` is `user_account_state` read before the save (None
    for a new user).
    """
    after = user_account_state(user)
    if after is None:
        raise ValueError("The account must be saved before its change is audited.")
    old = before or dict.fromkeys(after)
    changes = [(name, old[name], value) for name, value in after.items() if old[name] != value]
    if not changes:
        return
    with transaction.atomic():
        write_audit(record=user, actor=as_actor(by), action=ACCOUNT_CHANGED_ACTION, changes=changes)
