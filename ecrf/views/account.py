"""The signed-in user's own account: changing the password, for every role.

Staff without admin access had no way to change their password. This page uses Django's
PasswordChangeView with the project's validators (settings.AUTH_PASSWORD_VALIDATORS). The current
password typed here is checked against the same lock as signing in (ecrf/auth/lockout.py), so a
session left open cannot be used to guess it, and every change is written to the audit trail.
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.forms import PasswordChangeForm
from django.contrib.auth.views import PasswordChangeView
from django.core.exceptions import ValidationError
from django.urls import path, reverse_lazy

from ..auth.lockout import PASSWORD_CHANGE_FAILED, ensure_not_locked_out, password_failed
from ..services.audit import as_actor, write_audit

PASSWORD_CHANGED = "Your password has been changed."  # noqa: S105
PASSWORD_CHANGED_ACTION = "ecrf.user.password_changed"  # noqa: S105


class LockedPasswordChangeForm(PasswordChangeForm):
    """Django's form, with the current password counted toward the sign-in lock."""

    def __init__(self, *args, request=None, **kwargs):
        self.request = request
        super().__init__(*args, **kwargs)

    def clean_old_password(self):
        ensure_not_locked_out(self.user, request=self.request)
        try:
            return super().clean_old_password()
        except ValidationError:
            password_failed(
                user=self.user,
                record=self.user,
                action=PASSWORD_CHANGE_FAILED,
                request=self.request,
            )
            raise


class PasswordChange(PasswordChangeView):
    template_name = "registration/password_change.html"
    form_class = LockedPasswordChangeForm
    success_url = reverse_lazy("home")

    def get_form_kwargs(self):
        return {**super().get_form_kwargs(), "request": self.request}

    def form_valid(self, form):
        response = super().form_valid(form)
        write_audit(
            record=self.request.user,
            actor=as_actor(self.request.user),
            action=PASSWORD_CHANGED_ACTION,
            changes=[("password", None, "changed")],
        )
        messages.success(self.request, PASSWORD_CHANGED)
        return response


urlpatterns = [
    path("accounts/password/", PasswordChange.as_view(), name="password_change"),
]
