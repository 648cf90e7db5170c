"""Study-drug administration: one row per agent per day, given, changed or missed."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from django import forms

from ..models import AdverseEvent, Agent, AgentSchedule, DoseChangeReason, Subject
from ..models.base import date_errors
from ..safety.dose_plan import DoseAbovePlan, number_text
from ..services.dosing import (
    DOSE_ABOVE_PLAN_UNCONFIRMED,
    RANGE_MAX_DAYS,
    cycle_and_day,
    describe_dosing_days,
    is_dosing_day,
    planned_dose_exceeded,
)
from .base import DATE, RecordForm, SoftWarning

DOSE_NEGATIVE = "The given dose cannot be negative."
# The same words as the database constraint `dose_change_needs_reason`, so the nurse reads one
# message whichever check stops the save.
DOSE_CHANGE_NEEDS_REASON = "A dose reduced, increased or missed needs a reason."
DOSE_CHANGE_NEEDS_CATEGORY = "Choose the kind of reason for a dose other than planned."
CATEGORY_CONTRADICTS_EVENT = (
    "The dose cites an adverse event, so the kind of reason is adverse event."
)
NO_PLANNED_DOSE = "No dose of {agent} is planned at the subject's dose level."
OUTSIDE_DOSING_DAYS = (
    "{agent} on {date:%Y-%m-%d} is cycle {cycle} day {day}, outside its dosing days ({days})."
)
REASON_FROM_EVENT = "Adverse event: {term} grade {grade} (onset {onset:%Y-%m-%d})"
CONFIRM_ABOVE_PLAN_LABEL = (
    "I confirm the dose given was {given} {unit}, {pct} % of the planned {planned} {unit}."
)
RANGE_AS_PLANNED_REQUIRED = (
    "Tick that the days of the range were given as planned, or enter the days one by one."
)
CONFIRM_UNPLANNED_LABEL = "I confirm the dose given was {given} {unit}, where none is planned."


class GivenDoseField(forms.DecimalField):
    """The dose given on a day, as typed on the dose and the date-range forms: never negative."""

    def __init__(self, **kwargs):
        super().__init__(
            label="Dose given",
            max_digits=10,
            decimal_places=3,
            widget=forms.TextInput(attrs={"inputmode": "decimal", "autocomplete": "off"}),
            **kwargs,
        )

    def validate(self, value) -> None:
        super().validate(value)
        if value is not None and value < 0:
            raise forms.ValidationError(DOSE_NEGATIVE)


def _offer_agents(field: forms.ModelChoiceField, agents) -> None:
    """The agents a form offers, by code, each named with its code."""
    field.queryset = agents.order_by("code")
    field.label_from_instance = lambda agent: f"{agent.name} ({agent.code})"


class DoseForm(RecordForm):
    """One administration. `planned` maps agent id to the dose the subject's level plans."""

    agent = forms.ModelChoiceField(queryset=Agent.objects.none(), empty_label="Choose an agent")
    given_on = forms.DateField(label="Date given", widget=DATE)
    given_dose = GivenDoseField(help_text="Enter 0 for a missed dose.")
    adverse_event = forms.ModelChoiceField(
        label="Adverse event that caused the change",
        queryset=AdverseEvent.objects.none(),
        required=False,
        empty_label="None",
    )
    reason_category = forms.ChoiceField(
        label="Kind of reason",
        choices=[("", "---------"), *DoseChangeReason.choices],
        required=False,
        help_text="Required when the dose given differs from the dose planned or was missed; "
        "adverse event when an adverse event above caused it.",
    )
    reason = forms.CharField(
        label="Reason for a dose other than planned",
        max_length=200,
        required=False,
        help_text="Required when the dose given differs from the dose planned or was missed, "
        "unless an adverse event above explains it.",
    )

    # The template draws this as a checkbox whose value is the dose it confirms, so that a
    # confirmation shown for 60 MIU does not confirm 66 typed afterwards.
    confirm_above_plan = forms.CharField(required=False, max_length=20)

    field_order = [
        "agent",
        "given_on",
        "given_dose",
        "confirm_above_plan",
        "adverse_event",
        "reason_category",
        "reason",
    ]

    def __init__(
        self,
        *args,
        subject: Subject,
        planned: dict,
        saved: tuple | None = None,
        saved_dose: tuple | None = None,
        **kwargs,
    ):
        super().__init__(*args, **kwargs)
        self.subject = subject
        self.planned = planned
        # For a correction: the (agent id, dose given) saved, so that a dose above the plan
        # that was confirmed when it was saved is not asked about again.
        self.saved_dose = saved_dose
        # The dose above the plan the nurse is asked to confirm, once the form is cleaned.
        self.above_plan: DoseAbovePlan | None = None
        # For a correction: the (agent id, date) saved, so that the dosing-day warning is not
        # asked again for a date that was already accepted.
        self.saved = saved
        _offer_agents(self.fields["agent"], subject.study.agents.all())
        self.fields["adverse_event"].queryset = subject.adverse_events.filter(
            entered_in_error=False
        ).order_by("-onset_on", "ctcae_term")
        self.fields["adverse_event"].label_from_instance = lambda event: (
            f"{event.ctcae_term} grade {event.grade}, onset {event.onset_on:%Y-%m-%d}"
        )

    def clean(self):
        # The hard checks come first: the base class asks about soft warnings only when there
        # is no error left.
        cleaned = self.cleaned_data
        given_on = cleaned.get("given_on")
        for name, message in date_errors(
            self.subject, {"given_on": ("The dose date", given_on)}
        ).items():
            self.add_error(name, message)
        agent, dose = cleaned.get("agent"), cleaned.get("given_dose")
        event = cleaned.get("adverse_event")
        reason = (cleaned.get("reason") or "").strip()
        category = cleaned.get("reason_category") or ""
        if event is not None:
            if category and category != DoseChangeReason.ADVERSE_EVENT:
                self.add_error("reason_category", CATEGORY_CONTRADICTS_EVENT)
            category = DoseChangeReason.ADVERSE_EVENT
        if agent is not None and agent.pk not in self.planned:
            self.add_error("agent", NO_PLANNED_DOSE.format(agent=agent.code))
        elif agent is not None and dose is not None and dose != self.planned[agent.pk]:
            if not reason and event is not None:
                reason = REASON_FROM_EVENT.format(
                    term=event.ctcae_term, grade=event.grade, onset=event.onset_on
                )[:200]
            if not reason:
                self.add_error("reason", DOSE_CHANGE_NEEDS_REASON)
            if not category:
                self.add_error("reason_category", DOSE_CHANGE_NEEDS_CATEGORY)
        cleaned["confirm_above_plan"] = self._confirmed_above_plan(agent, dose)
        cleaned["reason"] = reason
        cleaned["reason_category"] = category
        return super().clean()

    def _confirmed_above_plan(self, agent: Agent | None, dose: Decimal | None) -> bool:
        """True when a dose above the study's limit of the plan is confirmed (the checkbox
        carries this very dose); an error on `confirm_above_plan` when it is not."""
        if agent is None or dose is None or agent.pk not in self.planned:
            return False
        if self.saved_dose == (agent.pk, dose):
            return False
        above = planned_dose_exceeded(
            subject=self.subject, agent=agent, planned=self.planned[agent.pk], given=dose
        )
        if above is None:
            return False
        self.above_plan = above
        try:
            confirmed = Decimal(self.cleaned_data.get("confirm_above_plan") or "x") == dose
        except InvalidOperation:
            confirmed = False
        if not confirmed:
            self.add_error(
                "confirm_above_plan",
                DOSE_ABOVE_PLAN_UNCONFIRMED.format(
                    agent=agent.code,
                    dose=above.describe(),
                    limit=self.subject.study.dose_above_plan_pct,
                ),
            )
        return confirmed

    @property
    def above_plan_label(self) -> str:
        """The words of the confirmation checkbox, with the dose, its share and the plan."""
        above = self.above_plan
        if above is None:
            return ""
        values = {"given": number_text(above.given), "unit": above.unit}
        if above.pct is None:
            return CONFIRM_UNPLANNED_LABEL.format(**values)
        return CONFIRM_ABOVE_PLAN_LABEL.format(
            **values, pct=number_text(above.pct), planned=number_text(above.planned)
        )

    @property
    def above_plan_value(self) -> str:
        return number_text(self.above_plan.given) if self.above_plan else ""

    def soft_warnings(self, data: dict) -> list[SoftWarning]:
        agent, given_on = data.get("agent"), data.get("given_on")
        subject = self.subject
        if agent is None or given_on is None or subject.first_dose_on is None:
            return []
        if self.saved == (agent.pk, given_on):
            return []
        schedule = AgentSchedule.objects.filter(agent=agent).first()
        if schedule is None:
            return []
        cycle, day = cycle_and_day(subject, given_on)
        if is_dosing_day(schedule, cycle, day):
            return []
        return [
            SoftWarning(
                "given_on",
                OUTSIDE_DOSING_DAYS.format(
                    agent=agent.code,
                    date=given_on,
                    cycle=cycle,
                    day=day,
                    days=describe_dosing_days(schedule),
                ),
            )
        ]


class DoseRangeForm(forms.Form):
    """A date range of one agent given as planned; the exceptions come in `DoseExceptionFormSet`."""

    agent = forms.ModelChoiceField(queryset=Agent.objects.none(), empty_label="Choose an agent")
    first_on = forms.DateField(label="From", widget=DATE)
    last_on = forms.DateField(label="To", widget=DATE)
    as_planned = forms.BooleanField(
        label="Given as planned on every day of the range, except the days listed below",
        error_messages={"required": RANGE_AS_PLANNED_REQUIRED},
    )

    def __init__(self, *args, subject: Subject, planned: dict, **kwargs):
        super().__init__(*args, **kwargs)
        self.subject = subject
        self.planned = planned
        _offer_agents(self.fields["agent"], subject.study.agents.filter(pk__in=list(planned)))

    def clean(self):
        cleaned = super().clean()
        for name in ("first_on", "last_on"):
            for field, message in date_errors(
                self.subject, {name: ("The day", cleaned.get(name))}
            ).items():
                self.add_error(field, message)
        return cleaned


class DoseExceptionForm(forms.Form):
    """A day of the range not given as planned: missed (0) or reduced, with its reason."""

    given_on = forms.DateField(label="Day", widget=DATE)
    given_dose = GivenDoseField(help_text="0 when missed.")
    reason_category = forms.ChoiceField(
        label="Kind of reason",
        choices=[("", "---------"), *DoseChangeReason.choices],
        error_messages={"required": DOSE_CHANGE_NEEDS_CATEGORY},
    )
    reason = forms.CharField(
        label="Reason", max_length=200, error_messages={"required": DOSE_CHANGE_NEEDS_REASON}
    )


DoseExceptionFormSet = forms.formset_factory(
    DoseExceptionForm, extra=3, max_num=RANGE_MAX_DAYS, validate_max=True
)
