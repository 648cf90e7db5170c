"""The second factor (TOTP, django-otp) for investigators, data managers, staff and superusers.

When ``settings.REQUIRE_TWO_FACTOR`` is on, such a user who has signed in with a password reaches
no page until they enter a code from their authenticator app. The first time, the page asks for
the one-time enrolment token an administrator issued them (ecrf/auth/enrolment.py); only then
does it show the secret key and the otpauth URI to type or paste into the app, and it confirms
the device with the first correct code. Knowing the password alone enrols nothing. Other roles
are unaffected.
"""

from __future__ import annotations

from base64 import b32encode
from collections.abc import Callable

from django import forms
from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import Resolver404, path, resolve, reverse
from django.utils.http import url_has_allowed_host_and_scheme, urlencode
from django_otp import login as otp_login
from django_otp.plugins.otp_totp.models import TOTPDevice

from .. import access
from ..auth.enrolment import two_factor_enrol_confirm, two_factor_enrol_start

# Pages a signed-in user may open before entering a code: this page, and signing in or out.
OPEN_BEFORE_VERIFICATION = frozenset({"two_factor", "login", "logout"})
WRONG_CODE = "That code is not right, or it has been used already. Enter the current code."
TOO_MANY_WRONG_CODES = "Too many wrong codes. Wait a few seconds, then enter the current code."
ENROLMENT_REFUSED = (
    "That enrolment token is not right, has expired or has been used. Ask an administrator "
    "for a new one."
)
# The session remembers the device an enrolment token opened, for this session only.
ENROLMENT_SESSION_KEY = "ecrf_two_factor_enrolment_device"


def needs_second_factor(request: HttpRequest) -> bool:
    """Whether the signed-in user must still enter a code before reaching any page."""
    user = request.user
    if not settings.REQUIRE_TWO_FACTOR or not user.is_authenticated or user.is_verified():
        return False
    return _privileged(user) or bool(access.user_roles(user) & access.TWO_FACTOR_ROLES)


def _privileged(user) -> bool:
    """Staff, superusers and administrators: whoever can reach the admin or every study."""
    return user.is_staff or user.is_superuser or access.ADMIN in access.user_roles(user)


class TwoFactorRequiredMiddleware:
    """Send a user who needs a second factor and has no verified code to the code page.

    Runs after django-otp's OTPMiddleware, which gives ``request.user.is_verified()``.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if needs_second_factor(request) and not _open_before_verification(request.path_info):
            return redirect_to_login(request.get_full_path(), reverse("two_factor"))
        return self.get_response(request)


def _open_before_verification(path_info: str) -> bool:
    if path_info.startswith("/" + settings.STATIC_URL.lstrip("/")):
        return True
    try:
        return resolve(path_info).url_name in OPEN_BEFORE_VERIFICATION
    except Resolver404:
        return False


class TokenForm(forms.Form):
    token = forms.RegexField(
        label="Code from your authenticator app",
        regex=r"^\d{6}$",
        error_messages={"invalid": "Enter the 6 digits the app shows."},
        widget=forms.TextInput(
            attrs={"autocomplete": "one-time-code", "inputmode": "numeric", "autofocus": True}
        ),
    )


def _next_url(request: HttpRequest) -> str:
    wanted = request.POST.get("next") or request.GET.get("next") or ""
    if url_has_allowed_host_and_scheme(
        wanted, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return wanted
    return reverse("home")


class EnrolmentTokenForm(forms.Form):
    enrolment_token = forms.CharField(
        label="Enrolment token from your administrator",
        max_length=40,
        widget=forms.TextInput(attrs={"autocomplete": "off", "autofocus": True}),
    )


@login_required
def two_factor(request: HttpRequest) -> HttpResponse:
    """Verify the app's code once per session; on first use, enrol the app with a token."""
    if request.user.is_verified():
        return redirect(_next_url(request))
    device = TOTPDevice.objects.filter(user=request.user, confirmed=True).first()
    if device is not None:
        return _verify(request, device, enrolling=False)
    device = _enrolment_device(request)
    if device is None:
        return _ask_for_enrolment_token(request)
    return _verify(request, device, enrolling=True)


def _enrolment_device(request: HttpRequest) -> TOTPDevice | None:
    """The unconfirmed device an enrolment token opened in this session, if any."""
    device_id = request.session.get(ENROLMENT_SESSION_KEY)
    if device_id is None:
        return None
    return TOTPDevice.objects.filter(pk=device_id, user=request.user, confirmed=False).first()


def _ask_for_enrolment_token(request: HttpRequest) -> HttpResponse:
    form = EnrolmentTokenForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        device = two_factor_enrol_start(
            user=request.user, token=form.cleaned_data["enrolment_token"]
        )
        if device is not None:
            request.session[ENROLMENT_SESSION_KEY] = device.pk
            # A fresh GET shows the key; reloading it does not post the token again.
            return redirect(f"{reverse('two_factor')}?{urlencode({'next': _next_url(request)})}")
        form.add_error("enrolment_token", ENROLMENT_REFUSED)
    return render(
        request,
        "registration/two_factor.html",
        {"form": form, "needs_token": True, "enrolling": True, "next": _next_url(request)},
    )


def _verify(request: HttpRequest, device: TOTPDevice, *, enrolling: bool) -> HttpResponse:
    form = TokenForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        allowed, _ = device.verify_is_allowed()
        if not allowed:
            form.add_error("token", TOO_MANY_WRONG_CODES)
        elif device.verify_token(form.cleaned_data["token"]):
            if enrolling:
                two_factor_enrol_confirm(device=device)
                request.session.pop(ENROLMENT_SESSION_KEY, None)
            otp_login(request, device)
            return redirect(_next_url(request))
        else:
            form.add_error("token", WRONG_CODE)
    return render(
        request,
        "registration/two_factor.html",
        {
            "form": form,
            "enrolling": enrolling,
            "secret": b32encode(device.bin_key).decode() if enrolling else "",
            "config_url": device.config_url if enrolling else "",
            "next": _next_url(request),
        },
    )


urlpatterns = [
    path("accounts/two-factor/", two_factor, name="two_factor"),
]
