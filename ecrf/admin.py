"""Admin pages. Every save goes through the same domain service as the data-entry pages.

A page whose model has no service for a change is read-only. A service's refusal (a validation
error, a permission refusal, a lock, a newer save by someone else) is shown on the form, next
to the field it names or at the top. Nothing can be deleted here: clinical records are marked
entered in error with a reason.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from django import forms
from django.contrib import admin
from django.contrib.admin.options import csrf_protect_m
from django.contrib.admin.utils import get_fields_from_path
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Q, QuerySet
from django.http import Http404
from django.urls import reverse
from django.utils.html import format_html, format_html_join

from . import access
from .forms.errors import add_service_errors
from .models import (
    SERIOUSNESS_CRITERIA,
    AdverseEvent,
    AdverseEventAgent,
    AdverseEventGrade,
    Agent,
    AgentSchedule,
    AuditEvent,
    DltReviewQueue,
    DltRuleSet,
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
from .selectors.dlt import dlt_event_statuses, dlt_overview_today, study_unreconciled_labs
from .selectors.memo import kept
from .services import REASON_REQUIRED, STALE_RECORD, subject_screen
from .services.adverse_events import ae_record, ae_update
from .services.assignments import study_assignment_create
from .services.ctcae import ctcae_grade_descriptions
from .services.dosing import dose_correct, dose_record, visit_on
from .services.labs import lab_correct, lab_record, reference_range_correct
from .services.studies import dose_level_correct, study_correct
from .services.subjects import subject_correct
from .services.visits import visit_correct

BOOKKEEPING = ("id", "version", "created_at", "updated_at")
FORM_ONLY_FIELDS = ("change_reason", "loaded_version")
IN_ERROR_FIELDS = ("entered_in_error", "entered_in_error_reason")


# How each model's rows are limited to what the user may see: records of a subject through
# access.subjects_for_user, the others through access.studies_for_user (reference ranges by site).
_STUDY_PATHS = {
    Study: "pk",
    Agent: "study",
    DoseLevel: "study",
    ScheduledVisit: "study",
    DoseLevelDose: "dose_level__study",
    AgentSchedule: "agent__study",
    DltRuleSet: "study",
}
_SUBJECT_PATHS = {
    Subject: "pk",
    Visit: "subject",
    DoseAdministration: "subject",
    AdverseEvent: "subject",
    LabResult: "subject",
    AdverseEventAgent: "adverse_event__subject",
    AdverseEventGrade: "adverse_event__subject",
    DltReviewQueue: "adverse_event__subject",
}


def visible_to(user, queryset: QuerySet) -> QuerySet:
    """The rows of `queryset` the user may see in the admin (superusers: all of them).

    A model with no rule here shows nothing to a non-superuser: study assignments and user
    accounts are managed by superusers only.
    """
    if user.is_superuser:
        return queryset
    model = queryset.model
    if model in _STUDY_PATHS:
        studies = access.studies_for_user(user).values("pk")
        return queryset.filter(**{f"{_STUDY_PATHS[model]}__in": studies})
    if model in _SUBJECT_PATHS:
        subjects = access.subjects_for_user(user).values("pk")
        return queryset.filter(**{f"{_SUBJECT_PATHS[model]}__in": subjects})
    if model is Site:
        return queryset.filter(pk__in=access.assigned_sites(user).values("pk"))
    if model is ReferenceRange:
        return queryset.filter(site__in=access.assigned_sites(user).values("pk"))
    if model is AuditEvent:
        return queryset.filter(subject_id__in=access.subjects_for_user(user).values("pk"))
    if model is get_user_model():
        return queryset.filter(pk=user.pk)
    return queryset.none()


class ScopedAdmin:
    """Lists, pages, form choices and list filters limited to the user's studies and sites.

    A record the user may not see answers 404 on its change, view and history pages, as a
    missing id does; a choice they may not see is refused by the form, naming the field.
    """

    def get_queryset(self, request):
        return visible_to(request.user, super().get_queryset(request))

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        queryset = kwargs.get("queryset")
        if queryset is None:
            queryset = self.get_field_queryset(None, db_field, request)
        if queryset is None:
            queryset = db_field.remote_field.model._default_manager.all()
        kwargs["queryset"] = visible_to(request.user, queryset)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def get_list_filter(self, request):
        # A related filter lists only the values of the rows shown, not every study's.
        scoped = []
        for entry in super().get_list_filter(request):
            if isinstance(entry, str) and get_fields_from_path(self.model, entry)[-1].is_relation:
                entry = (entry, admin.RelatedOnlyFieldListFilter)
            scoped.append(entry)
        return scoped

    def _get_obj_does_not_exist_redirect(self, request, opts, object_id):
        raise Http404("No such record.")


def superusers_only(request) -> bool:
    return request.user.is_active and request.user.is_superuser


class AuditedAdminForm(forms.ModelForm):
    """Adds the reason for a change, and refuses a save over someone else's newer save."""

    change_reason = forms.CharField(
        label="Reason for change",
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="Required when changing saved data; it is kept in the audit trail.",
    )
    loaded_version = forms.IntegerField(widget=forms.HiddenInput, required=False)
    # The error a service gave on the first try of this save; see AuditedAdmin.changeform_view.
    refusal: ValidationError | PermissionDenied | None = None

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
        if self.refusal is not None:
            add_service_errors(
                self, self.refusal, record=None if self.instance._state.adding else self.instance
            )
        return cleaned


class VersionedInlineForm(forms.ModelForm):
    """An inline row that remembers the version it was loaded from, for the service's check."""

    loaded_version = forms.IntegerField(widget=forms.HiddenInput, required=False)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if not self.instance._state.adding:
            self.fields["loaded_version"].initial = self.instance.version


class ServiceRefused(Exception):
    """A service refused an admin save; nothing was written and the form is shown again."""

    def __init__(self, error: ValidationError | PermissionDenied):
        super().__init__(str(error))
        self.error = error


def form_changes(form: forms.BaseForm) -> dict:
    """The model fields the user changed in an admin form, with their new values."""
    return {
        name: form.cleaned_data[name] for name in form.changed_data if name not in FORM_ONLY_FIELDS
    }


def correction(request, form: AuditedAdminForm) -> dict:
    """The keyword arguments every correction service takes from a valid change form."""
    return {
        "changes": form_changes(form),
        "reason": form.cleaned_data["change_reason"],
        "by": request.user,
        "expected_version": form.cleaned_data.get("loaded_version"),
    }


class AuditedAdmin(ScopedAdmin, admin.ModelAdmin):
    """A model admin whose add and change pages save through a domain service.

    A subclass defines `create(request, form, formsets)` to allow adding and
    `correct(request, record, form, formsets)` to allow changing; each calls the model's service
    and returns the saved record. Without them the page is read-only.
    """

    form = AuditedAdminForm
    readonly_fields = BOOKKEEPING
    # The fields of the add page, when they are not those of the change page.
    add_fields: Sequence[str] | None = None
    # Fields shown but not changed on the change page (a record's subject, for one).
    change_readonly_fields: Sequence[str] = ()
    create = None
    correct = None

    def get_fields(self, request, obj=None):
        if obj is None and self.add_fields is not None:
            return list(self.add_fields)
        last = (*IN_ERROR_FIELDS, *FORM_ONLY_FIELDS, *BOOKKEEPING)
        every = super().get_fields(request, obj)
        fields = [f for f in every if f not in last]
        # Marking a saved record entered in error is the exception, so it comes after the data,
        # just above the reason for change; a new record is not entered in error.
        in_error = [f for f in IN_ERROR_FIELDS if f in every and obj is not None]
        extra = list(FORM_ONLY_FIELDS) if obj and self.correct is not None else []
        return [*fields, *in_error, *extra, *(BOOKKEEPING if obj else ())]

    def get_readonly_fields(self, request, obj=None):
        readonly = list(super().get_readonly_fields(request, obj))
        if obj is not None:
            readonly += [f for f in self.change_readonly_fields if f not in readonly]
        return readonly

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change=change, **kwargs)
        refusal = getattr(request, "_ecrf_admin_refusal", None)
        if refusal is not None:
            form = type(form.__name__, (form,), {"refusal": refusal})
        return form

    def has_add_permission(self, request):
        return self.create is not None and super().has_add_permission(request)

    def has_change_permission(self, request, obj=None):
        return self.correct is not None and super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        return False

    @csrf_protect_m
    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        # The services open their own outermost transaction, so the admin's usual transaction
        # around the whole page is not opened: it would nest theirs. A service's refusal comes
        # after the form was found valid; the page is then built again with the refusal added
        # to the form's errors (nothing was written, the service rolled back).
        try:
            return self._changeform_view(request, object_id, form_url, extra_context)
        except ServiceRefused as refused:
            request._ecrf_admin_refusal = refused.error
            return self._changeform_view(request, object_id, form_url, extra_context)

    def save_model(self, request, obj, form, change):
        # Saved in save_related instead, where the inline rows are at hand too: a service saves
        # a record and its rows in one call.
        return None

    def save_related(self, request, form, formsets, change):
        obj = form.instance
        try:
            if change:
                record = type(obj).objects.get(pk=obj.pk)
                if not self.has_changes(form, formsets):
                    saved = record
                elif not (form.cleaned_data.get("change_reason") or "").strip():
                    raise ValidationError({"change_reason": REASON_REQUIRED})
                else:
                    saved = self.correct(request, record, form, formsets)
            else:
                saved = self.create(request, form, formsets)
        except (ValidationError, PermissionDenied) as error:
            raise ServiceRefused(error) from error
        # The admin goes on with `obj` (its change message, its redirect): give it the saved row.
        for field in obj._meta.concrete_fields:
            setattr(obj, field.attname, getattr(saved, field.attname))
        obj._state.adding = False
        for formset in formsets:
            # Django's change message reads these; a service that saved rows sets its own.
            for name in ("new_objects", "changed_objects", "deleted_objects"):
                if not hasattr(formset, name):
                    setattr(formset, name, [])

    def has_changes(self, form, formsets) -> bool:
        # A read-only inline row has no data in the POST: it is unchanged whatever its fields say.
        return bool(form_changes(form)) or any(
            row.has_changed() and form_changes(row) for formset in formsets for row in formset.forms
        )


class ReadOnlyAdmin:
    """An admin page that only shows: its records are written by a service called elsewhere
    (a command, a page), never added, changed or deleted here."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class ReadOnlyInline(ScopedAdmin, admin.TabularInline):
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


class AgentAssessmentInline(ScopedAdmin, admin.TabularInline):
    """Attribution and action taken per study agent: saved with the event by its service.

    A new event gets one row per agent of the user's studies (rows left empty are ignored);
    a saved event's rows keep their agent, and rows are neither added nor removed.
    """

    model = AdverseEventAgent
    form = VersionedInlineForm
    fields = ("agent", "attribution", "action_taken", "loaded_version")
    can_delete = False

    def agents(self, request):
        return Agent.objects.filter(study__in=access.studies_for_user(request.user)).order_by(
            "study__code", "code"
        )

    def get_extra(self, request, obj=None, **kwargs):
        return 0 if obj is not None else self.agents(request).count()

    def get_max_num(self, request, obj=None, **kwargs):
        # One row per agent: no "add another" row beyond them (and none on a saved event,
        # where the admin sets max_num to 0 as rows cannot be added).
        if obj is None:
            return self.get_extra(request, obj)
        return super().get_max_num(request, obj, **kwargs)

    def get_readonly_fields(self, request, obj=None):
        return ("agent",) if obj is not None else ()

    def has_add_permission(self, request, obj=None):
        return obj is None and super().has_add_permission(request, obj)


class GradeHistoryInline(ReadOnlyInline):
    """The event's grade history, shown only: it is written on the adverse event page and by
    the import, through the adverse event services, never here."""

    model = AdverseEventGrade
    fields = ("from_on", "grade", "entered_in_error", "entered_in_error_reason")
    readonly_fields = fields
    show_change_link = False
    verbose_name = "grade history step"
    verbose_name_plural = "grade history (changed on the adverse event page)"


def _valid_rows(formsets, model=None) -> list[forms.ModelForm]:
    """The filled rows of the formsets (of `model`'s only, when given): a read-only inline's
    rows carry their initial values as cleaned data, and are no input."""
    return [
        row
        for formset in formsets
        if model is None or formset.model is model
        for row in formset.forms
        if row.cleaned_data
    ]


@admin.register(Study)
class StudyAdmin(AuditedAdmin):
    """Study settings are corrected here; the study itself is created by load_study."""

    list_display = ("code", "title", "design_method", "ctcae_version", "cycle_days")
    search_fields = ("code", "title")

    def correct(self, request, record, form, formsets):
        return study_correct(study=record, **correction(request, form))


# The study definition is loaded from its file by load_study (the study_load service): these
# pages show it, and nobody edits it here.


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
    """A data manager opens or closes a level for enrolment; its doses are the definition's."""

    list_display = ("study", "level", "label", "open_for_enrolment")
    list_filter = ("study", "open_for_enrolment")
    inlines = [DoseLevelDoseInline]
    change_readonly_fields = ("study", "level")

    def correct(self, request, record, form, formsets):
        return dose_level_correct(dose_level=record, **correction(request, form))

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
            # The advice as the dashboard gives it: "Provisional: ..." while anything is pending.
            return overview.advice if rec.dose == position or rec.mtd == position else ""

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
    """Giving a user access to a study's site; an assignment is not edited once given.

    Only superusers see or give assignments: an assignment is what every other check reads.
    """

    list_display = ("user", "study", "site")
    list_filter = ("study", "site")
    add_fields = ("user", "study", "site")

    def create(self, request, form, formsets):
        data = form.cleaned_data
        return study_assignment_create(
            user=data["user"], study=data["study"], site=data["site"], by=request.user
        )

    def has_view_permission(self, request, obj=None):
        return superusers_only(request) and super().has_view_permission(request, obj)

    def has_add_permission(self, request):
        return superusers_only(request) and super().has_add_permission(request)

    def has_change_permission(self, request, obj=None):
        return superusers_only(request) and super().has_change_permission(request, obj)

    def has_module_permission(self, request):
        return superusers_only(request) and super().has_module_permission(request)


def overview_for(request, study_id):
    """The DLT overview of a study at today, read once per admin page and kept while the data
    stay the same (`dlt_overview_today`)."""
    cache = request.__dict__.setdefault("_dlt_overviews", {})
    if study_id not in cache:
        cache[study_id] = dlt_overview_today(Study.objects.get(pk=study_id))
    return cache[study_id]


def dlt_statuses_for(request, study_id) -> dict:
    """Every event's DLT status in a study at today, computed at read time (the stored
    DltAssessment.status is only refreshed when data change): read once per admin page and
    kept while the data stay the same (`memo.kept`)."""
    cache = request.__dict__.setdefault("_dlt_statuses", {})
    if study_id not in cache:
        cache[study_id] = kept(
            "dlt_event_statuses",
            study_id,
            lambda: dlt_event_statuses(Study.objects.get(pk=study_id)),
        )
    return cache[study_id]


class DltStatusFilter(admin.SimpleListFilter):
    """The DLT status as of today, as the DLT dashboard and dlt_report give it."""

    title = "DLT status"
    parameter_name = "dlt_status"

    def lookups(self, request, model_admin):
        return DltStatus.choices

    def queryset(self, request, queryset):
        if self.value() not in DltStatus.values:
            return queryset
        studies = set(queryset.order_by().values_list("subject__study_id", flat=True).distinct())
        matching = [
            event_id
            for study_id in studies
            for event_id, status in dlt_statuses_for(request, study_id).items()
            if status == self.value()
        ]
        return queryset.filter(pk__in=matching)


@admin.register(Subject)
class SubjectAdmin(AuditedAdmin):
    """Screening a subject allocates the next subject ID, as on the subject page."""

    list_display = ("subject_code", "study", "site", "dose_level", "status", "first_dose_on")
    list_filter = ("study", "site", "status", "dose_level")
    search_fields = ("subject_code",)
    list_select_related = ("study", "site", "dose_level")
    add_fields = ("study", "site", "consent_on", "sex", "birth_year")
    change_readonly_fields = ("study", "subject_code")

    def create(self, request, form, formsets):
        data = form.cleaned_data
        return subject_screen(
            study=data["study"],
            site=data["site"],
            consent_on=data["consent_on"],
            sex=data["sex"],
            birth_year=data["birth_year"],
            by=request.user,
        )

    def correct(self, request, record, form, formsets):
        return subject_correct(subject=record, **correction(request, form))

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
    """Visits are planned from the study schedule; the admin corrects them."""

    list_display = ("subject", "label", "planned_on", "status", "done_on")
    list_filter = ("status", "kind", "subject__site")
    search_fields = ("subject__subject_code", "label")
    list_select_related = ("subject",)
    change_readonly_fields = ("subject",)

    def correct(self, request, record, form, formsets):
        return visit_correct(visit=record, **correction(request, form))


class DoseAdministrationAdminForm(AuditedAdminForm):
    confirm_above_plan = forms.BooleanField(
        label="I confirm the dose given",
        required=False,
        help_text="Required for a dose above the study's limit of the planned dose (a possible "
        "medication error: a data query opens on it).",
    )


@admin.register(DoseAdministration)
class DoseAdministrationAdmin(AuditedAdmin):
    """Cycle, day, visit, unit and planned dose follow from what is given; the service sets them."""

    form = DoseAdministrationAdminForm

    list_display = (
        "subject",
        "agent",
        "given_on",
        "cycle",
        "day",
        "planned_dose",
        "given_dose",
        "unit",
        "reason_category",
        "reason",
    )
    list_filter = ("agent", "reason_category", "subject__site")
    search_fields = ("subject__subject_code",)
    list_select_related = ("subject", "agent")
    date_hierarchy = "given_on"
    add_fields = (
        "subject",
        "agent",
        "given_on",
        "given_dose",
        "reason_category",
        "reason",
        "adverse_event",
        "confirm_above_plan",
    )
    readonly_fields = (*BOOKKEEPING, "visit", "cycle", "day", "planned_dose", "unit")
    change_readonly_fields = ("subject",)

    def create(self, request, form, formsets):
        data = form.cleaned_data
        return dose_record(
            subject=data["subject"],
            agent=data["agent"],
            given_on=data["given_on"],
            given_dose=data["given_dose"],
            reason=data["reason"],
            reason_category=data["reason_category"],
            adverse_event=data["adverse_event"],
            visit=visit_on(data["subject"], data["given_on"]),
            confirm_above_plan=data["confirm_above_plan"],
            by=request.user,
        )

    def correct(self, request, record, form, formsets):
        arguments = correction(request, form)
        arguments["changes"].pop("confirm_above_plan", None)
        if not arguments["changes"]:
            return record  # only the box ticked: nothing of the dose changed
        return dose_correct(
            dose=record, confirm_above_plan=form.cleaned_data["confirm_above_plan"], **arguments
        )


DLT_BADGE_COLOURS = {
    DltStatus.NOT_DLT: "#5b7f5b",  # muted green
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
    """An event and its per-agent attributions are saved together, by one service call."""

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
        DltStatusFilter,
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
    inlines = [AgentAssessmentInline, GradeHistoryInline]
    # The CTCAE version is the study's, the MedDRA code and SOC the term's, "serious" follows
    # from the criteria: the service sets them.
    readonly_fields = (
        *BOOKKEEPING,
        "ctcae_version",
        "meddra_code",
        "soc",
        "serious",
        "ctcae_grades",
        "dlt_status",
    )
    change_readonly_fields = ("subject",)

    def get_inlines(self, request, obj):
        # A new event has no history to show.
        return self.inlines if obj is not None else [AgentAssessmentInline]

    def get_formset_kwargs(self, request, obj, inline, prefix):
        kwargs = super().get_formset_kwargs(request, obj, inline, prefix)
        if obj._state.adding and isinstance(inline, AgentAssessmentInline):
            kwargs["initial"] = [{"agent": agent.pk} for agent in inline.agents(request)]
        return kwargs

    def create(self, request, form, formsets):
        data = form.cleaned_data
        return ae_record(
            subject=data["subject"],
            ctcae_term=data["ctcae_term"],
            grade=data["grade"],
            onset_on=data["onset_on"],
            assessments={
                row.cleaned_data["agent"].code: (
                    row.cleaned_data["attribution"],
                    row.cleaned_data["action_taken"],
                )
                for row in _valid_rows(formsets, AdverseEventAgent)
            },
            by=request.user,
            verbatim=data["verbatim"],
            resolved_on=data["resolved_on"],
            outcome=data["outcome"],
            death_on=data["death_on"],
            serious_criteria=tuple(name for name in SERIOUSNESS_CRITERIA if data[name]),
            despite_supportive_care=data["despite_supportive_care"],
            site_aware_at=data["site_aware_at"],
        )

    def correct(self, request, record, form, formsets):
        kwargs = correction(request, form)
        changes = kwargs.pop("changes")
        if any(name in changes for name in SERIOUSNESS_CRITERIA):
            changes["serious"] = any(form.cleaned_data[name] for name in SERIOUSNESS_CRITERIA)
        rows = [
            row for row in _valid_rows(formsets, AdverseEventAgent) if row.instance.pk is not None
        ]
        agent_changes = {row.instance.agent.code: form_changes(row) for row in rows}
        saved = ae_update(
            event=record,
            changes=changes,
            agent_changes={code: change for code, change in agent_changes.items() if change},
            agent_versions={
                row.instance.agent.code: row.cleaned_data.get("loaded_version") for row in rows
            },
            **kwargs,
        )
        for formset in formsets:
            # For the admin's history of the event: which rows changed, and which fields.
            formset.changed_objects = [
                (row.instance, list(form_changes(row)))
                for row in formset.forms
                if row in rows and form_changes(row)
            ]
        return saved

    def get_list_display(self, request):
        # The badge is the status as of today, computed once per study for the page's request.
        @admin.display(description="DLT")
        def dlt_status(obj: AdverseEvent):
            return self._dlt_badge(obj, dlt_statuses_for(request, obj.subject.study_id))

        return tuple(dlt_status if name == "dlt_status" else name for name in self.list_display)

    @admin.display(description="DLT")
    def dlt_status(self, obj: AdverseEvent):
        return self._dlt_badge(obj, dlt_event_statuses(obj.subject.study))

    def _dlt_badge(self, obj: AdverseEvent, statuses: dict):
        assessment = getattr(obj, "dlt_assessment", None)
        if assessment is None or obj.pk not in statuses:
            return "—"
        status = statuses[obj.pk]
        return dlt_badge(status, DltStatus(status).label, assessment.needs_review)

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
class DltReviewQueueAdmin(ReadOnlyAdmin, ScopedAdmin, admin.ModelAdmin):
    list_display = ("subject", "event", "grade", "onset_on", "onset_day", "rule_reason", "decide")
    list_select_related = ("adverse_event__subject",)
    ordering = ("adverse_event__onset_on", "created_at")
    # Above the list: the unreconciled lab toxicities, each with its "Rule out, signed" link.
    change_list_template = "admin/ecrf/dltreviewqueue/change_list.html"

    def changelist_view(self, request, extra_context=None):
        visible = set(access.subjects_for_user(request.user).values_list("pk", flat=True))
        labs = [
            lab
            for study in access.studies_for_user(request.user)
            for lab in study_unreconciled_labs(study)
            if request.user.is_superuser or lab.subject.pk in visible
        ]
        return super().changelist_view(
            request, {**(extra_context or {}), "unreconciled_labs": labs}
        )

    def get_queryset(self, request):
        # Potential DLTs as of today (computed at read time, as on the dashboard and in
        # dlt_report), and decisions the rules have since contradicted.
        queryset = super().get_queryset(request)
        studies = set(
            queryset.order_by()
            .values_list("adverse_event__subject__study_id", flat=True)
            .distinct()
        )
        potential = [
            event_id
            for study_id in studies
            for event_id, status in dlt_statuses_for(request, study_id).items()
            if status == DltStatus.POTENTIAL
        ]
        return queryset.filter(Q(adverse_event_id__in=potential) | Q(needs_review=True))

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

    def has_view_permission(self, request, obj=None):
        # Staff, and the investigators who decide (access.CAPABILITIES[Action.DECIDE_DLT]).
        return request.user.is_staff or access.can(request.user, access.Action.DECIDE_DLT)


@admin.register(DltRuleSet)
class DltRuleSetAdmin(ReadOnlyAdmin, ScopedAdmin, admin.ModelAdmin):
    """The versions of each study's DLT definition, read only: a version is recorded by
    load_study (the dlt_rules_record service) and never changed, nor deleted, here."""

    list_display = ("study", "number", "recorded_by", "created_at", "reason")
    list_filter = ("study",)
    list_select_related = ("study",)
    search_fields = ("reason", "source", "recorded_by")
    ordering = ("study__code", "-number")
    fields = (
        "study", "number", "created_at", "recorded_by", "reason", "source", "digest",
        "rule_list", "rules_json",
    )  # fmt: skip
    readonly_fields = fields

    @admin.display(description="rules, in the order they are applied")
    def rule_list(self, obj: DltRuleSet):
        return format_html(
            "<ol>{}</ol>",
            format_html_join(
                "",
                "<li><code>{}</code> ({}): {}</li>",
                (
                    (rule.get("id", ""), rule.get("outcome", ""), rule.get("text", ""))
                    for rule in obj.rules
                ),
            ),
        )

    @admin.display(description="rules as stored (JSON)")
    def rules_json(self, obj: DltRuleSet):
        # Wrapped, so that a long rule text stays on the page.
        return format_html(
            '<pre style="white-space: pre-wrap; max-width: 60em">{}</pre>',
            json.dumps(obj.rules, indent=2, ensure_ascii=False),
        )


@admin.register(AdverseEventAgent)
class AdverseEventAgentAdmin(AuditedAdmin):
    """One agent's attribution and action, corrected with its event by the event's service."""

    list_display = ("adverse_event", "agent", "attribution", "action_taken")
    change_readonly_fields = ("adverse_event", "agent")

    def correct(self, request, record, form, formsets):
        kwargs = correction(request, form)
        code = record.agent.code
        return _agent_row(
            ae_update(
                event=record.adverse_event,
                changes={},
                agent_changes={code: kwargs["changes"]},
                agent_versions={code: kwargs["expected_version"]},
                reason=kwargs["reason"],
                by=kwargs["by"],
            ),
            code,
        )


def _agent_row(event: AdverseEvent, code: str) -> AdverseEventAgent:
    return event.agent_assessments.get(agent__code=code, entered_in_error=False)


@admin.register(LabResult)
class LabResultAdmin(AuditedAdmin):
    """Lab results are graded by the services; the CTCAE fields are computed, not typed."""

    exclude = ("ctcae_version", "ctcae_term", "ctcae_grade")
    readonly_fields = (*BOOKKEEPING, "ctcae_version", "ctcae_term", "ctcae_grade")
    change_readonly_fields = ("subject",)

    def create(self, request, form, formsets):
        data = form.cleaned_data
        return lab_record(
            subject=data["subject"],
            visit=data["visit"],
            test_code=data["test_code"],
            value=data["value"],
            unit=data["unit"],
            lln=data["lln"],
            uln=data["uln"],
            collected_at=data["collected_at"],
            by=request.user,
        )

    def correct(self, request, record, form, formsets):
        return lab_correct(result=record, **correction(request, form))

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

    def correct(self, request, record, form, formsets):
        return reference_range_correct(reference_range=record, **correction(request, form))


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdmin, ScopedAdmin, admin.ModelAdmin):
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
