"""URL configuration."""

from __future__ import annotations

from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    # The second-factor page for privileged users (django-otp, TOTP), with token enrolment.
    path("", include("ecrf.views.two_factor")),
    # Every signed-in user changes their own password here.
    path("", include("ecrf.views.account")),
    path("", include("ecrf.urls")),
]
