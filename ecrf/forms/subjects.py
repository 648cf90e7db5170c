"""Screening, enrolment and visit forms."""

from __future__ import annotations

import datetime as dt

from django import forms

from ..models import DoseLevel, Sex, Site, SubjectStatus, TreatmentEnd, Visit, VisitStatus
from ..selectors.enrolment import EnrolmentDoseLevels
from .base import DATE, RecordForm, SoftWarning

DOSE_LEVEL_NOT_OFFERED = (
    "That dose level is not open today: choose one of those offered (the note above the form "
    "says why the others are not)."
)


class SubjectSearchForm(forms.Form):
    q = forms.CharField(label="Subject ID", required=False)
    site = forms.ModelChoiceField(queryset=Site.objects.none(), required=False)
    dose_level = forms.ModelChoiceField(queryset=DoseLevel.objects.none(), required=False)
    status = forms.ChoiceField(choices=[("", "Any status"), *SubjectStatus.choices], required=False)

    def __init__(self, *args, sites, dose_levels, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["site"].queryset = sites
        self.fields["dose_level"].queryset = dose_levels


class ScreeningForm(RecordForm):
    site = forms.ModelChoiceField(queryset=Site.objects.none())
    consent_on = forms.DateField(label="Informed consent date", widget=DATE)
    # No sex is preselected: a nurse who skips the field is asked, not recorded as female.
    sex = forms.ChoiceField(
        choices=[("", "Choose the sex")] + Sex.choices,
        error_messages={"required": "Choose the subject's sex (Unknown if it is not known)."},
    )
    birth_year = forms.IntegerField(
        label="Year of birth", required=False, min_value=1900, max_value=dt.date.today().year
    )

    def __init__(self, *args, sites, **kwargs):
        """The service refuses a consent date after today (`subject_screen`)."""
        super().__init__(*args, **kwargs)
        self.fields["site"].queryset = sites
        if sites.count() == 1:
            self.fields["site"].initial = sites.first()


class EnrolmentForm(RecordForm):
    eligibility_confirmed_on = forms.DateField(
        label="Eligibility confirmed on",
        widget=DATE,
        help_text="The date the investigator confirmed every inclusion and exclusion criterion.",
    )
    enrolled_on = forms.DateField(label="Enrolment date", widget=DATE)
    dose_level = forms.ModelChoiceField(
        queryset=DoseLevel.objects.none(),
        help_text="Only the dose levels the escalation design opens today.",
        error_messages={"invalid_choice": DOSE_LEVEL_NOT_OFFERED},
    )
    first_dose_on = forms.DateField(
        label="First dose (cycle 1 day 1)", widget=DATE, required=False,
        help_text="Plans the visit schedule; can be added later.",
    )  # fmt: skip

    def __init__(self, *args, dose_levels: EnrolmentDoseLevels, **kwargs):
        """`dose_levels`: the study's dose levels open and closed today (the service decides
        again when it saves, so a level closed in between is refused with its reason)."""
        super().__init__(*args, **kwargs)
        self.fields["dose_level"].queryset = DoseLevel.objects.filter(
            pk__in=[level.pk for level in dose_levels.open_levels]
        ).order_by("level")

    def clean(self):
        cleaned = super().clean()
        eligible, enrolled = cleaned.get("eligibility_confirmed_on"), cleaned.get("enrolled_on")
        if eligible and enrolled and enrolled < eligible:
            self.add_error("enrolled_on", "Enrolment cannot come before eligibility is confirmed.")
        first = cleaned.get("first_dose_on")
        if first and enrolled and first < enrolled:
            self.add_error("first_dose_on", "The first dose cannot come before enrolment.")
        return cleaned


class VisitForm(RecordForm):
    status = forms.ChoiceField(choices=VisitStatus.choices)
    done_on = forms.DateField(label="Visit date", widget=DATE, required=False)
    missed_reason = forms.CharField(
        label="Reason the visit was missed",
        required=False,
        max_length=Visit._meta.get_field("missed_reason").max_length,
    )

    def __init__(self, *args, visit, **kwargs):
        super().__init__(*args, **kwargs)
        self.visit = visit

    def clean(self):
        cleaned = super().clean()
        status = cleaned.get("status")
        if status == VisitStatus.DONE and not cleaned.get("done_on"):
            self.add_error("done_on", "Give the date of the visit.")
        if status == VisitStatus.MISSED and not (cleaned.get("missed_reason") or "").strip():
            self.add_error("missed_reason", "Give the reason the visit was missed.")
        return cleaned

    def soft_warnings(self, data: dict) -> list[SoftWarning]:
        visit, done_on = self.visit, data.get("done_on")
        if data.get("status") != VisitStatus.DONE or not done_on or not visit.planned_on:
            return []
        earliest = visit.planned_on - dt.timedelta(days=visit.window_before)
        latest = visit.planned_on + dt.timedelta(days=visit.window_after)
        if earliest <= done_on <= latest:
            return []
        return [
            SoftWarning(
                "done_on",
                f"{visit.label} on {done_on:%Y-%m-%d} is outside its window "
                f"({earliest:%Y-%m-%d} to {latest:%Y-%m-%d}).",
            )
        ]


class UnscheduledVisitForm(RecordForm):
    done_on = forms.DateField(label="Visit date", widget=DATE)
    label = forms.CharField(
        label="Name", max_length=30, help_text="e.g. 'Unscheduled: fever'. Must be unique."
    )


class CycleDelayForm(RecordForm):
    cycle = forms.IntegerField(min_value=1)
    days = forms.IntegerField(label="Delay (days)", min_value=1, max_value=90)
    reason = forms.CharField(label="Reason for the delay", max_length=300)


class TreatmentEndForm(RecordForm):
    ended_on = forms.DateField(
        label="Date of the last dose", widget=DATE, help_text="The end of study treatment."
    )
    reason = forms.ChoiceField(
        label="Why treatment ended", choices=[("", "Choose…"), *TreatmentEnd.choices]
    )
    detail = forms.CharField(
        label="Details", max_length=300, required=False,
        help_text="e.g. the adverse event or the finding of progression.",
    )  # fmt: skip
