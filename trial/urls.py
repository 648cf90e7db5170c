"""URL configuration."""

from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    # The second-factor page for investigators and data managers (django-otp, TOTP).
    path("", include("ecrf.views.two_factor")),
    path("", include("ecrf.urls")),
]
