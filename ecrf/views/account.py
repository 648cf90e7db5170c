"""The signed-in user's own account: changing the password, for every role.

Staff without admin access had no way to change their password. This page uses Django's
PasswordChangeView with the project's validators (settings.AUTH_PASSWORD_VALIDATORS). The current
password typed here is checked against the same lock as signing in (ecrf/auth/lockout.py), so a
session left open cannot be used to guess it, and every change is written to the audit trail.
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth import update_session_auth_hash
from django.contrib.auth.forms import PasswordChangeForm
from django.contrib.auth.views import PasswordChangeView
from django.core.exceptions import ValidationError
from django.http import HttpResponseRedirect
from django.urls import path, reverse_lazy

from ..auth.lockout import PASSWORD_CHANGE_FAILED, ensure_not_locked_out, password_failed
from ..services.accounts import user_password_change

PASSWORD_CHANGED = "Your password has been changed."  # noqa: S105


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
        user_password_change(user=form.user, new_password=form.cleaned_data["new_password1"])
        # Changing the password ends the user's other sessions but keeps this one.
        update_session_auth_hash(self.request, form.user)
        messages.success(self.request, PASSWORD_CHANGED)
        return HttpResponseRedirect(self.get_success_url())


urlpatterns = [
    path("accounts/password/", PasswordChange.as_view(), name="password_change"),
]
