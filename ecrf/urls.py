"""URLs of the eCRF pages. Records are addressed by UUID, never by subject ID or initials."""

from django.contrib.auth import views as auth_views
from django.urls import path

from .views import dlt, subjects

urlpatterns = [
    # Data-entry areas add their routes here, one include per module.
    path("", subjects.home, name="home"),
    path("subjects/<uuid:subject_id>/", subjects.subject_detail, name="subject_detail"),
    path("dlt/", dlt.dlt_dashboard, name="dlt_dashboard"),
    path("dlt/<uuid:assessment_id>/decide/", dlt.dlt_decide_view, name="dlt_decide"),
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
]
