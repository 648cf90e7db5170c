"""The user admin's second-factor actions, and a TOTP device admin that only shows devices.

Superusers issue one-time enrolment tokens and reset lost devices from the user list; both go
through ecrf/auth/enrolment.py, which writes the audit line. The token is rendered once, on the
page the action answers with, never put into a message (messages may travel in a cookie). The
stock TOTP device admin could delete a device without an audit line and show its key, so here it
lists devices and changes nothing.

Registered from EcrfConfig.ready(), after the admin's autodiscovery: the actions are added to
whichever user admin is registered by then.
"""

from __future__ import annotations

from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError
from django.template.response import TemplateResponse
from django_otp.plugins.otp_totp.admin import TOTPDeviceAdmin
from django_otp.plugins.otp_totp.models import TOTPDevice

from .auth.enrolment import two_factor_reset, two_factor_token_issue
from .services.accounts import user_account_change, user_account_state

RESET_REASON = "Reset in the admin (lost or replaced device)"
TOKENS_TEMPLATE = "ecrf/admin_two_factor_tokens.html"


class SuperusersOnlyAdminMixin:
    """User accounts, roles (groups) and devices are managed by superusers only.

    A staff user given Django's user or group permissions still cannot open these pages: who holds
    which role is what every other check reads.
    """

    def has_module_permission(self, request) -> bool:
        return request.user.is_superuser and super().has_module_permission(request)

    def has_view_permission(self, request, obj=None) -> bool:
        return request.user.is_superuser and super().has_view_permission(request, obj)

    def has_add_permission(self, request, *args) -> bool:
        return request.user.is_superuser and super().has_add_permission(request, *args)

    def has_change_permission(self, request, obj=None) -> bool:
        return request.user.is_superuser and super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None) -> bool:
        return request.user.is_superuser and super().has_delete_permission(request, obj)


class AuditedAccountAdminMixin:
    """A change of a user's roles (groups), superuser, staff or active flag is audited.

    The state before the save is read in save_model; once the form has saved the account and its
    groups (save_related), user_account_change writes what changed, in the admin's transaction.
    """

    def save_model(self, request, obj, form, change):
        request._ecrf_account_before = user_account_state(obj) if change else None
        super().save_model(request, obj, form, change)

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        user_account_change(
            user=form.instance,
            before=getattr(request, "_ecrf_account_before", None),
            by=request.user,
        )


class TwoFactorUserAdminMixin(AuditedAccountAdminMixin, SuperusersOnlyAdminMixin):
    """Actions on the user list, for superusers only."""

    def has_two_factor_permission(self, request) -> bool:
        return request.user.is_superuser

    @admin.action(description="Issue a second-factor enrolment token", permissions=["two_factor"])
    def issue_two_factor_token(self, request, queryset):
        return self._issue(request, queryset, reset=False)

    @admin.action(
        description="Reset the second factor (lost device) and issue a new enrolment token",
        permissions=["two_factor"],
    )
    def reset_two_factor(self, request, queryset):
        return self._issue(request, queryset, reset=True)

    def _issue(self, request, queryset, *, reset: bool):
        issued = []
        for user in queryset.order_by("username"):
            if reset:
                two_factor_reset(user=user, by=request.user, reason=RESET_REASON)
            try:
                issued.append(two_factor_token_issue(user=user, by=request.user))
            except ValidationError as exc:
                self.message_user(request, " ".join(exc.messages), messages.WARNING)
        if not issued:
            return None
        context = {
            **self.admin_site.each_context(request),
            "title": "Second-factor enrolment tokens",
            "issued": issued,
            "reset": reset,
            "opts": self.model._meta,
        }
        return TemplateResponse(request, TOKENS_TEMPLATE, context)


class ReadOnlyTOTPDeviceAdmin(SuperusersOnlyAdminMixin, TOTPDeviceAdmin):
    """Devices are listed; removing one is the audited reset on the user list."""

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


def register() -> None:
    user_model = get_user_model()
    current = type(admin.site._registry[user_model])
    actions = [*(current.actions or ()), "issue_two_factor_token", "reset_two_factor"]
    user_admin = type(current.__name__, (TwoFactorUserAdminMixin, current), {"actions": actions})
    admin.site.unregister(user_model)
    admin.site.register(user_model, user_admin)
    if admin.site.is_registered(TOTPDevice):
        admin.site.unregister(TOTPDevice)
    admin.site.register(TOTPDevice, ReadOnlyTOTPDeviceAdmin)
    if admin.site.is_registered(Group):
        current = type(admin.site._registry[Group])
        admin.site.unregister(Group)
        admin.site.register(Group, type(current.__name__, (SuperusersOnlyAdminMixin, current), {}))
