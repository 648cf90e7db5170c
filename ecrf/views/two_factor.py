"""The second factor (TOTP, django-otp) for investigators and data managers.

When ``settings.REQUIRE_TWO_FACTOR`` is on, an investigator or data manager who has signed in with
a password reaches no page until they enter a code from their authenticator app. The first time,
the page enrols the app: it shows the secret key and the otpauth URI to type or paste into it, and
confirms the device with the first correct code. Other roles are unaffected.
"""

from base64 import b32encode
from collections.abc import Callable

from django import forms
from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import Resolver404, path, resolve, reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django_otp import login as otp_login
from django_otp.plugins.otp_totp.models import TOTPDevice

from .. import access

# Pages a signed-in user may open before entering a code: this page, and signing in or out.
OPEN_BEFORE_VERIFICATION = frozenset({"two_factor", "login", "logout"})
WRONG_CODE = "That code is not right, or it has been used already. Enter the current code."
TOO_MANY_WRONG_CODES = "Too many wrong codes. Wait a few seconds, then enter the current code."
DEVICE_NAME = "Authenticator app"


def needs_second_factor(request: HttpRequest) -> bool:
    """Whether the signed-in user must still enter a code before reaching any page."""
    user = request.user
    if not settings.REQUIRE_TWO_FACTOR or not user.is_authenticated or user.is_verified():
        return False
    return bool(access.user_roles(user) & access.TWO_FACTOR_ROLES)


class TwoFactorRequiredMiddleware:
    """Send an investigator or data manager without a verified code to the code page.

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


@login_required
def two_factor(request: HttpRequest) -> HttpResponse:
    """Enrol an authenticator app on first use, then verify its code once per session."""
    if request.user.is_verified():
        return redirect(_next_url(request))
    device = TOTPDevice.objects.filter(user=request.user, confirmed=True).first()
    enrolling = device is None
    if enrolling:
        # The same unconfirmed device until its first correct code, so the key shown stays put.
        device = TOTPDevice.objects.filter(user=request.user, confirmed=False).first()
        if device is None:
            device = TOTPDevice.objects.create(user=request.user, name=DEVICE_NAME, confirmed=False)
    form = TokenForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        allowed, _ = device.verify_is_allowed()
        if not allowed:
            form.add_error("token", TOO_MANY_WRONG_CODES)
        elif device.verify_token(form.cleaned_data["token"]):
            if enrolling:
                device.confirmed = True
                device.save(update_fields=["confirmed"])
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
