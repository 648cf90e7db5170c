"""Admin pages. Every save goes through the services, so the admin writes the audit trail too.

Nothing can be deleted here: clinical records are marked entered in error with a reason.
"""

from __future__ import annotations

from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError
from django.db.models import Q
from django.urls import reverse
from django.utils.html import format_html, format_html_join

from . import access
from .models import (
    AdverseEvent,
    AdverseEventAgent,
    Agent,
    AgentSchedule,
    AuditEvent,
    DltReviewQueue,
    DltStatus,
    DoseAdministration,
    DoseLevel,
    DoseLevelDose,
    LabResult,
    ReferenceRange,
    ScheduledVisit,
    Site,
    Study,
    StudyAssignment,
    Subject,
    Visit,
)
from .selectors.dlt import dlt_overview
from .services import REASON_REQUIRED, STALE_RECORD, record_create, record_update
from .services.adverse_events import ae_correct
from .services.ctcae import ctcae_grade_descriptions
from .services.labs import lab_correct, lab_record, reference_range_correct
from .services.studies import study_correct
from .services.subjects import subject_correct

BOOKKEEPING = ("id", "version", "created_at", "updated_at")


class AuditedAdminForm(forms.ModelForm):
    """Adds the reason for a change, and refuses a save over someone else's newer save."""

    change_reason = forms.CharField(
        label="Reason for change",
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="Required when changing saved data; it is kept in the audit trail.",
    )
    loaded_version = forms.IntegerField(widget=forms.HiddenInput, required=False)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if not self.instance._state.adding:
            self.fields["loaded_version"].initial = self.instance.version

    def clean(self):
        cleaned = super().clean()
        if not self.instance._state.adding:
            if self.has_changed() and not (cleaned.get("change_reason") or "").strip():
                self.add_error("change_reason", REASON_REQUIRED)
            loaded = cleaned.get("loaded_version")
            if (
                loaded is not None
                and loaded != type(self.instance).objects.get(pk=self.instance.pk).version
            ):
                raise ValidationError(STALE_RECORD)
        return cleaned


def form_changes(form: AuditedAdminForm) -> dict:
    """The model fields the user changed in an audited admin form, with their new values."""
    return {
        name: form.cleaned_data[name]
        for name in form.changed_data
        if name not in ("change_reason", "loaded_version")
    }


def correcting(service, record_keyword: str):
    """Adapt a correction service that names its record otherwise to AuditedAdmin.correct."""

    def correct(*, record, **kwargs):
        return service(**{record_keyword: record}, **kwargs)

    return staticmethod(correct)


class AuditedAdmin(admin.ModelAdmin):
    form = AuditedAdminForm
    # The service that corrects a saved record; models with follow-up rules name their own.
    correct = staticmethod(record_update)
    readonly_fields = BOOKKEEPING
    # Subject-linked records are filtered to the user's sites; see get_queryset.
    subject_path: str | None = None

    def get_fields(self, request, obj=None):
        fields = [f for f in super().get_fields(request, obj) if f not in BOOKKEEPING]
        fields = [f for f in fields if f not in ("change_reason", "loaded_version")]
        extra = ["change_reason", "loaded_version"] if obj else []
        return [*fields, *extra, *(BOOKKEEPING if obj else ())]

    def get_queryset(self, request):
        queryset = super().get_queryset(request)
        if self.subject_path is None:
            return queryset
        visible = access.subjects_for_user(request.user).values("pk")
        return queryset.filter(**{f"{self.subject_path}__in": visible})

    def has_delete_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        if not change:
            record_create(record=obj, by=request.user)
            return
        saved = self.correct(
            record=type(obj).objects.get(pk=obj.pk),
            changes=form_changes(form),
            reason=form.cleaned_data["change_reason"],
            by=request.user,
            expected_version=form.cleaned_data.get("loaded_version"),
        )
        obj.version = saved.version

    def save_related(self, request, form, formsets, change):
        # Many-to-many fields do not exist on these models and inlines are read-only, so there
        # is nothing related to save outside the services.
        return None


class ReadOnlyInline(admin.TabularInline):
    extra = 0
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


class DoseLevelDoseInline(ReadOnlyInline):
    model = DoseLevelDose
    fields = ("agent", "dose")


class AgentAssessmentInline(ReadOnlyInline):
    model = AdverseEventAgent
    fields = ("agent", "attribution", "action_taken")


@admin.register(Study)
class StudyAdmin(AuditedAdmin):
    correct = correcting(study_correct, "study")
    list_display = ("code", "title", "design_method", "ctcae_version", "cycle_days")
    search_fields = ("code", "title")


@admin.register(Site)
class SiteAdmin(AuditedAdmin):
    list_display = ("code", "name", "study")
    list_filter = ("study",)


@admin.register(Agent)
class AgentAdmin(AuditedAdmin):
    list_display = ("code", "name", "unit", "study")
    list_filter = ("study",)


@admin.register(AgentSchedule)
class AgentScheduleAdmin(AuditedAdmin):
    list_display = ("agent", "first_day", "last_day")


@admin.register(DoseLevel)
class DoseLevelAdmin(AuditedAdmin):
    list_display = ("study", "level", "label", "open_for_enrolment")
    list_filter = ("study", "open_for_enrolment")
    inlines = [DoseLevelDoseInline]

    def get_list_display(self, request):
        # Counts and advice come from the study's DLT overview, computed once per page.
        def row(obj: DoseLevel):
            return next(
                r for r in overview_for(request, obj.study_id).levels if r.level == obj.level
            )

        def column(description, read):
            return admin.display(description=description)(lambda obj: read(obj))

        def recommendation(obj: DoseLevel):
            overview = overview_for(request, obj.study_id)
            position = [r.level for r in overview.levels].index(obj.level) + 1
            rec = overview.recommendation
            return rec.reason if rec.dose == position or rec.mtd == position else ""

        return (
            *self.list_display,
            column("treated", lambda obj: row(obj).summary.treated),
            column("evaluable", lambda obj: row(obj).summary.evaluable),
            column("with DLT", lambda obj: row(obj).summary.with_dlt),
            column("replacements needed", lambda obj: row(obj).summary.replacements_needed),
            column("design recommendation", recommendation),
        )


@admin.register(DoseLevelDose)
class DoseLevelDoseAdmin(AuditedAdmin):
    list_display = ("dose_level", "agent", "dose")


@admin.register(ScheduledVisit)
class ScheduledVisitAdmin(AuditedAdmin):
    list_display = ("study", "day", "window_before", "window_after")


@admin.register(StudyAssignment)
class StudyAssignmentAdmin(AuditedAdmin):
    list_display = ("user", "study", "site")
    list_filter = ("study", "site")


def overview_for(request, study_id):
    """The DLT overview of a study, computed once per admin page."""
    cache = request.__dict__.setdefault("_dlt_overviews", {})
    if study_id not in cache:
        cache[study_id] = dlt_overview(Study.objects.get(pk=study_id))
    return cache[study_id]


@admin.register(Subject)
class SubjectAdmin(AuditedAdmin):
    subject_path = "pk"
    correct = correcting(subject_correct, "subject")
    list_display = ("subject_code", "study", "site", "dose_level", "status", "first_dose_on")
    list_filter = ("study", "site", "status", "dose_level")
    search_fields = ("subject_code",)
    list_select_related = ("study", "site", "dose_level")

    def get_list_display(self, request):
        # The column reads the study's DLT overview, computed once for the page's request.
        @admin.display(description="DLT-evaluable")
        def dlt_evaluable(obj: Subject):
            overview = overview_for(request, obj.study_id)
            row = next((r for r in overview.subjects if r.subject.pk == obj.pk), None)
            if row is None:
                return "—"
            answer = "yes" if row.evaluability.evaluable else "no"
            return f"{answer}: {row.evaluability.reason}"

        return (*self.list_display, dlt_evaluable)


@admin.register(Visit)
class VisitAdmin(AuditedAdmin):
    subject_path = "subject"
    list_display = ("subject", "label", "planned_on", "status", "done_on")
    list_filter = ("status", "kind", "subject__site")
    search_fields = ("subject__subject_code", "label")
    list_select_related = ("subject",)


@admin.register(DoseAdministration)
class DoseAdministrationAdmin(AuditedAdmin):
    subject_path = "subject"
    list_display = (
        "subject",
        "agent",
        "given_on",
        "cycle",
        "day",
        "planned_dose",
        "given_dose",
        "unit",
        "reason",
    )
    list_filter = ("agent", "subject__site")
    search_fields = ("subject__subject_code",)
    list_select_related = ("subject", "agent")
    date_hierarchy = "given_on"


DLT_BADGE_COLOURS = {
    DltStatus.POTENTIAL: "#f0ad4e",  # amber
    DltStatus.CONFIRMED: "#c9302c",  # red
    DltStatus.RULED_OUT: "#8a8a8a",  # grey
}


def dlt_badge(status: str, label: str, needs_review: bool = False):
    colour = DLT_BADGE_COLOURS.get(status)
    if colour is None:
        return "—"
    return format_html(
        '<span class="dlt-badge dlt-{}" style="background:{};color:#fff;padding:1px 6px;'
        'border-radius:8px;white-space:nowrap">{}{}</span>',
        status,
        colour,
        label,
        " (review)" if needs_review else "",
    )


class GradeAtLeast3Filter(admin.SimpleListFilter):
    title = "grade 3 or more"
    parameter_name = "grade3plus"

    def lookups(self, request, model_admin):
        return [("yes", "Grade 3 or more"), ("no", "Grade 1-2")]

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.filter(grade__gte=3)
        if self.value() == "no":
            return queryset.filter(grade__lt=3)
        return queryset


@admin.register(AdverseEvent)
class AdverseEventAdmin(AuditedAdmin):
    subject_path = "subject"
    correct = staticmethod(ae_correct)
    list_display = (
        "subject",
        "ctcae_term",
        "grade_badge",
        "onset_on",
        "resolved_on",
        "serious",
        "dlt_status",
        "outcome",
    )
    list_filter = (
        ("dlt_assessment__status", admin.ChoicesFieldListFilter),
        "subject__dose_level",
        "subject__site",
        GradeAtLeast3Filter,
        "serious",
        "outcome",
    )
    search_fields = ("subject__subject_code", "ctcae_term", "verbatim")
    list_select_related = ("subject", "dlt_assessment")
    # Rendering the rows is most of the page's time; 50 keep it quick.
    list_per_page = 50
    inlines = [AgentAssessmentInline]
    readonly_fields = (*BOOKKEEPING, "ctcae_grades", "dlt_status")

    @admin.display(description="DLT", ordering="dlt_assessment__status")
    def dlt_status(self, obj: AdverseEvent):
        assessment = getattr(obj, "dlt_assessment", None)
        if assessment is None:
            return "—"
        return dlt_badge(
            assessment.status, assessment.get_status_display(), assessment.needs_review
        )

    @admin.display(description="CTCAE grades of this term")
    def ctcae_grades(self, obj: AdverseEvent):
        descriptions = ctcae_grade_descriptions(obj.ctcae_term, obj.ctcae_version)
        if not descriptions:
            return "Not loaded (manage.py load_ctcae PATH loads them from the NCI workbook)."
        return format_html_join(
            "", "<div><strong>Grade {}</strong>: {}</div>", sorted(descriptions.items())
        )

    @admin.display(description="grade", ordering="grade")
    def grade_badge(self, obj: AdverseEvent):
        colour = "danger" if obj.grade >= 3 else "secondary"
        return format_html('<strong class="grade-{}">{}</strong>', colour, obj.grade)


@admin.register(DltReviewQueue)
class DltReviewQueueAdmin(admin.ModelAdmin):
    list_display = ("subject", "event", "grade", "onset_on", "onset_day", "rule_reason", "decide")
    list_select_related = ("adverse_event__subject",)
    ordering = ("adverse_event__onset_on", "created_at")

    def get_queryset(self, request):
        visible = access.subjects_for_user(request.user).values("pk")
        return (
            super()
            .get_queryset(request)
            .filter(adverse_event__subject__in=visible)
            .filter(Q(status=DltStatus.POTENTIAL) | Q(needs_review=True))
        )

    @admin.display(description="subject", ordering="adverse_event__subject__subject_code")
    def subject(self, obj):
        return obj.adverse_event.subject.subject_code

    @admin.display(description="adverse event", ordering="adverse_event__ctcae_term")
    def event(self, obj):
        url = reverse("admin:ecrf_adverseevent_change", args=[obj.adverse_event_id])
        return format_html('<a href="{}">{}</a>', url, obj.adverse_event.ctcae_term)

    @admin.display(description="grade")
    def grade(self, obj):
        return obj.adverse_event.grade

    @admin.display(description="onset", ordering="adverse_event__onset_on")
    def onset_on(self, obj):
        return obj.adverse_event.onset_on

    @admin.display(description="")
    def decide(self, obj):
        return format_html('<a href="{}">Decide and sign</a>', reverse("dlt_decide", args=[obj.pk]))

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def has_view_permission(self, request, obj=None):
        # Staff, and the investigators who decide (access.CAPABILITIES[Action.DECIDE_DLT]).
        return request.user.is_staff or access.can(request.user, access.Action.DECIDE_DLT)


@admin.register(AdverseEventAgent)
class AdverseEventAgentAdmin(AuditedAdmin):
    subject_path = "adverse_event__subject"
    correct = staticmethod(ae_correct)
    list_display = ("adverse_event", "agent", "attribution", "action_taken")


@admin.register(LabResult)
class LabResultAdmin(AuditedAdmin):
    """Lab results are graded by the services; the CTCAE fields are computed, not typed."""

    subject_path = "subject"
    exclude = ("ctcae_version", "ctcae_term", "ctcae_grade")
    correct = correcting(lab_correct, "result")
    readonly_fields = (*BOOKKEEPING, "ctcae_version", "ctcae_term", "ctcae_grade")

    def save_model(self, request, obj, form, change):
        if not change:
            saved = lab_record(
                subject=obj.subject,
                visit=obj.visit,
                test_code=obj.test_code,
                value=obj.value,
                unit=obj.unit,
                lln=obj.lln,
                uln=obj.uln,
                collected_at=obj.collected_at,
                by=request.user,
            )
            obj.pk = saved.pk
            return
        super().save_model(request, obj, form, change)

    list_display = (
        "subject",
        "test_code",
        "value",
        "unit",
        "lln",
        "uln",
        "collected_at",
        "ctcae_grade",
    )
    list_filter = ("test_code", "ctcae_grade", "subject__site")
    search_fields = ("subject__subject_code",)
    list_select_related = ("subject",)


@admin.register(ReferenceRange)
class ReferenceRangeAdmin(AuditedAdmin):
    """Correcting a range regrades the lab results that took their limits from it."""

    list_display = ("site", "test_code", "unit", "sex", "lln", "uln", "effective_from")
    list_filter = ("site", "test_code")
    correct = correcting(reference_range_correct, "reference_range")


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    """The audit trail, read only: nobody can add, change or delete an audit event."""

    list_display = (
        "at",
        "actor",
        "role",
        "site",
        "action",
        "object_repr",
        "field",
        "old_value",
        "new_value",
        "reason",
    )
    list_filter = ("action", "role", "site", "model")
    search_fields = ("actor", "object_repr", "field", "reason", "object_id")
    date_hierarchy = "at"

    def get_queryset(self, request):
        queryset = super().get_queryset(request)
        if request.user.is_superuser:
            return queryset
        visible = access.subjects_for_user(request.user).values("pk")
        return queryset.filter(subject_id__in=visible)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
