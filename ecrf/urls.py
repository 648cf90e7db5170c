"""URLs of the eCRF pages. Records are addressed by UUID, never by subject ID or initials."""

from django.contrib.auth import views as auth_views
from django.urls import include, path

from .views import dlt, investigator, subjects

urlpatterns = [
    # Data-entry areas add their routes here, one include per module.
    path("", include("ecrf.views.dosing")),
    path("", include("ecrf.views.labs")),
    path("", include("ecrf.views.adverse_events")),
    path("", include("ecrf.views.audit")),
    path("", include("ecrf.views.exports")),
    path("", include("ecrf.views.casebook_pdf")),
    path("", include("ecrf.views.jobs")),
    path("", include("ecrf.views.review")),
    path("", include("ecrf.views.queries")),
    path("", include("ecrf.views.verification")),
    path("", include("ecrf.views.locks")),
    path("", include("ecrf.views.signoff")),
    path("", include("ecrf.views.entered_in_error")),
    path("", investigator.home, name="home"),
    path("subjects/", subjects.subject_list, name="subject_list"),
    path(
        "studies/<uuid:study_id>/subjects/new/", subjects.subject_register, name="subject_register"
    ),
    path("subjects/<uuid:subject_id>/", subjects.subject_detail, name="subject_detail"),
    path("subjects/<uuid:subject_id>/enrol/", subjects.subject_enrol_view, name="subject_enrol"),
    path(
        "subjects/<uuid:subject_id>/visits/unscheduled/",
        subjects.visit_unscheduled_view,
        name="visit_unscheduled",
    ),
    path("subjects/<uuid:subject_id>/cycle-delay/", subjects.cycle_delay_view, name="cycle_delay"),
    path(
        "subjects/<uuid:subject_id>/end-of-treatment/",
        subjects.treatment_end_view,
        name="treatment_end",
    ),
    path("visits/<uuid:visit_id>/", subjects.visit_edit, name="visit_edit"),
    path("dlt/", dlt.dlt_dashboard, name="dlt_dashboard"),
    path("dlt/<uuid:assessment_id>/decide/", dlt.dlt_decide_view, name="dlt_decide"),
    path(
        "dlt/labs/<uuid:result_id>/rule-out/",
        dlt.lab_toxicity_rule_out_view,
        name="lab_toxicity_rule_out",
    ),
    path(
        "studies/<uuid:study_id>/safety-summary.pdf",
        dlt.safety_report_download,
        name="safety_report",
    ),
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
]
