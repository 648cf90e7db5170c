"""The research nurse's adverse event form: CTCAE term and grade, dates, seriousness, and the
attribution and action taken for each study agent.

The form runs every check of the event on the first save, so that one submit shows every
problem at once: the CTCAE v5.0 term, the grades the term allows, the "Other, specify"
verbatim, seriousness criteria and the time the site became aware, the order of dates, and
the subject's (no date before consent or in the future, with the model's own rule). The
service runs the model's checks again for every other caller.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from crispy_forms.helper import FormHelper
from crispy_forms.layout import HTML, Column, Field, Fieldset, Layout, Row
from django import forms
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import timezone

from ..ctcae.dictionary import (
    GradeNotAllowedError,
    UnknownTermError,
    check_grade,
    get_term,
)
from ..models import (
    SERIOUSNESS_CRITERIA,
    ActionTaken,
    AdverseEvent,
    AdverseEventAgent,
    Agent,
    Attribution,
    Outcome,
    Subject,
)
from ..models.adverse_event import OTHER_SPECIFY_NEEDS_VERBATIM, awareness_errors
from ..models.base import date_errors
from ..safety.grade_history import FIELD as GRADE_CHANGES
from ..safety.grade_history import check_grade_history, parse_steps, steps_text
from .base import DATE, REASON_FOR_CHANGE_REQUIRED, RecordForm

SERIOUS_NEEDS_CRITERION = (
    "A serious adverse event needs at least one seriousness criterion (ICH E2A): "
    "tick the criteria that apply."
)
CRITERIA_NEED_SERIOUS = (
    "Seriousness criteria apply only to a serious event: answer Yes to Serious, "
    "or untick the criteria."
)
RESOLVED_BEFORE_ONSET = "The resolution date cannot come before the onset date."
DEATH_BEFORE_ONSET = "The date of death cannot come before the onset date."
FATAL_NEEDS_DEATH_DATE = "A fatal outcome needs the date of death."
DEATH_DATE_NEEDS_FATAL = "Give a date of death only when the outcome is fatal."
GRADE5_NEEDS_FATAL = "A grade 5 event needs a fatal outcome and a date of death."
AWARENESS_HELP = (
    "Required for a serious event: when the site first learnt of it, {zone} time. The 24-hour "
    "report to the sponsor counts from it."
)
STEP_NEEDS_BOTH = "Give both the date and the grade of this step, or leave the row empty."
GRADE_HISTORY_HELP = (
    "Leave empty if the event stayed at one grade. Otherwise one row per grade: the first on the "
    "onset date, the worst equal to the CTCAE grade above."
)
# Empty rows shown below the saved steps of the grade history.
GRADE_HISTORY_EMPTY_ROWS = 3
GRADE_HISTORY_PREFIX = "grade_history"

# CTCAE v5.0 general grade definitions; each term's own wording is shown once loaded.
GRADE_CHOICES = [
    (1, "1 Mild"),
    (2, "2 Moderate"),
    (3, "3 Severe or medically significant"),
    (4, "4 Life-threatening"),
    (5, "5 Death related to the adverse event"),
]
SERIOUS_CHOICES = [("no", "No"), ("yes", "Yes")]
CRITERION_CHOICES = [
    (name, AdverseEvent._meta.get_field(name).verbose_name.capitalize())
    for name in SERIOUSNESS_CRITERIA
]
# The event fields the form edits, in the order of the audit trail.
EVENT_FIELDS = (
    "ctcae_term",
    "verbatim",
    "grade",
    "onset_on",
    "resolved_on",
    "outcome",
    "death_on",
    "serious",
    *SERIOUSNESS_CRITERIA,
    "site_aware_at",
    "despite_supportive_care",
)


def _date_field(label: str, *, required: bool, help_text: str = "") -> forms.DateField:
    return forms.DateField(
        label=label,
        required=required,
        help_text=help_text,
        widget=DATE,
    )


def same_minute(moment: dt.datetime) -> dt.datetime:
    """The moment to the minute, as the date and time inputs take it."""
    return moment.replace(second=0, microsecond=0)


def attribution_field(agent: Agent) -> str:
    return f"attribution_{agent.code}"


def action_field(agent: Agent) -> str:
    return f"action_{agent.code}"


def version_field(agent: Agent) -> str:
    return f"version_{agent.code}"


class GradeStepForm(forms.Form):
    """One step of the grade history: the event is at `grade` from `from_on` on."""

    from_on = _date_field("From", required=False)
    grade = forms.TypedChoiceField(
        label="Grade",
        choices=[("", "Grade")] + [(value, str(value)) for value, _ in GRADE_CHOICES],
        coerce=int,
        empty_value=None,
        required=False,
    )

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        from_on, grade = cleaned.get("from_on"), cleaned.get("grade")
        if (from_on is None) != (grade is None) and not self.errors:
            self.add_error("from_on" if from_on is None else "grade", STEP_NEEDS_BOTH)
        return cleaned


class BaseGradeHistoryFormSet(forms.BaseFormSet):
    """The rows of the grade history; empty rows are ignored."""

    def steps(self) -> list[tuple[dt.date, int]]:
        """The filled rows as (from date, grade), by date (call once the formset is valid)."""
        filled = [
            (row.cleaned_data["from_on"], row.cleaned_data["grade"])
            for row in self.forms
            if row.cleaned_data.get("from_on") and row.cleaned_data.get("grade")
        ]
        return sorted(filled, key=lambda step: step[0])

    def add_history_error(self, error: ValidationError | str) -> None:
        """Show a problem of the history as a whole next to its rows."""
        self.non_form_errors()
        messages = error.messages if isinstance(error, ValidationError) else [error]
        self._non_form_errors.extend(messages)


GradeHistoryFormSet = forms.formset_factory(
    GradeStepForm, formset=BaseGradeHistoryFormSet, extra=GRADE_HISTORY_EMPTY_ROWS
)


class AdverseEventForm(RecordForm):
    """Create or correct one adverse event with an assessment per study agent.

    `agents` are the study agents to assess; when editing, `assessments` maps agent code to
    the saved AdverseEventAgent, whose versions the form carries so that a save over someone
    else's newer attribution is refused too.
    """

    ctcae_term = forms.CharField(
        label="CTCAE term",
        max_length=200,
        help_text="Type part of the term or its MedDRA code and choose from the list.",
    )
    verbatim = forms.CharField(
        label="Verbatim description",
        required=False,
        max_length=300,
        help_text="The event in the investigator's words; required for 'Other, specify' terms.",
    )
    grade = forms.TypedChoiceField(
        label="CTCAE grade", choices=GRADE_CHOICES, coerce=int, widget=forms.RadioSelect
    )
    onset_on = _date_field("Onset date", required=True)
    resolved_on = _date_field(
        "Resolution date", required=False, help_text="Leave empty while the event is ongoing."
    )
    outcome = forms.ChoiceField(label="Outcome", choices=Outcome.choices)
    death_on = _date_field("Date of death", required=False, help_text="Only for a fatal outcome.")
    serious = forms.TypedChoiceField(
        label="Serious adverse event",
        choices=SERIOUS_CHOICES,
        coerce=lambda value: value == "yes",
        widget=forms.RadioSelect,
    )
    serious_criteria = forms.MultipleChoiceField(
        label="Seriousness criteria (ICH E2A)",
        choices=CRITERION_CHOICES,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="Tick every criterion that applies to a serious event.",
    )
    site_aware_at = forms.DateTimeField(
        label="Site became aware (date and time)",
        required=False,
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
    )
    despite_supportive_care = forms.BooleanField(
        label="Persisted despite optimal supportive care",
        required=False,
        help_text="Tick when the event did not come down although optimal supportive care "
        "was given.",
    )
    grade_history_help = GRADE_HISTORY_HELP
    # The service's "grade_changes" errors are shown next to the history rows (add_error).
    error_targets = (GRADE_CHANGES,)
    # The grade history the form was built from, so that a save over someone else's newer
    # history is refused.
    loaded_grade_changes = forms.CharField(widget=forms.HiddenInput, required=False)

    def __init__(
        self,
        *args,
        subject: Subject,
        agents: Sequence[Agent],
        assessments: dict[str, AdverseEventAgent] | None = None,
        grade_changes: Sequence[tuple[dt.date, int]] = (),
        **kwargs,
    ):
        super().__init__(*args, **kwargs)
        self.subject = subject
        self.agents = list(agents)
        self.term = None
        self.saved_grade_changes = list(grade_changes)
        self.fields["loaded_grade_changes"].initial = steps_text(self.saved_grade_changes)
        # A post without the history rows (an older page, a script) leaves the history alone.
        self.history_posted = not self.is_bound or (
            f"{GRADE_HISTORY_PREFIX}-TOTAL_FORMS" in self.data
        )
        self.grade_history = GradeHistoryFormSet(
            self.data if self.is_bound and self.history_posted else None,
            prefix=GRADE_HISTORY_PREFIX,
            initial=[{"from_on": on, "grade": grade} for on, grade in self.saved_grade_changes],
        )
        self.fields["ctcae_term"].widget.attrs.update(
            {
                "autocomplete": "off",
                "spellcheck": "false",
                "data-term-search": reverse("ctcae_term_search"),
            }
        )
        self.fields["outcome"].initial = Outcome.NOT_RECOVERED
        self.fields["site_aware_at"].help_text = AWARENESS_HELP.format(
            zone=timezone.get_current_timezone_name()
        )
        for agent in self.agents:
            self.fields[attribution_field(agent)] = forms.ChoiceField(
                label=f"{agent.name} ({agent.code}): attribution",
                choices=[("", "Choose the attribution")] + Attribution.choices,
            )
            self.fields[action_field(agent)] = forms.ChoiceField(
                label=f"{agent.name} ({agent.code}): action taken",
                choices=[("", "Choose the action taken")] + ActionTaken.choices,
            )
            if self.editing:
                saved = (assessments or {}).get(agent.code)
                self.fields[version_field(agent)] = forms.IntegerField(
                    widget=forms.HiddenInput,
                    required=False,
                    initial=saved.version if saved else None,
                )

    @property
    def helper(self) -> FormHelper:
        """The layout, built from the form's own fields only (never from request data)."""
        helper = FormHelper()
        helper.form_tag = False
        agent_rows = [
            Row(
                Column(attribution_field(agent), css_class="col-md-6"),
                Column(action_field(agent), css_class="col-md-6"),
            )
            for agent in self.agents
        ]
        hidden = ["loaded_version", "loaded_grade_changes"]
        if self.editing:
            hidden += [version_field(agent) for agent in self.agents]
        closing = []
        if self.editing:
            closing.append(Field("change_reason"))
        # No soft warnings are defined for adverse events; the override is shown only if a
        # subclass raises one.
        if self.warnings:
            closing.append(Field("override_reason"))
        helper.layout = Layout(
            Fieldset(
                "Event",
                Row(
                    Column("ctcae_term", css_class="col-lg-6 term-search"),
                    Column("verbatim", css_class="col-lg-6"),
                ),
                Field("grade", wrapper_class="grade-choices"),
            ),
            Fieldset(
                "Dates and outcome",
                Row(
                    Column("onset_on", css_class="col-md-6 col-xl-3"),
                    Column("resolved_on", css_class="col-md-6 col-xl-3"),
                    Column("outcome", css_class="col-md-6 col-xl-3"),
                    Column("death_on", css_class="col-md-6 col-xl-3"),
                ),
            ),
            Fieldset(
                "Course",
                Field("despite_supportive_care"),
                # A fixed template of the form's own formset, never request data.
                HTML('{% include "ecrf/_grade_history.html" %}'),
            ),
            Fieldset(
                "Seriousness",
                Row(
                    Column(Field("serious"), css_class="col-md-4"),
                    Column("serious_criteria", css_class="col-md-8"),
                ),
                Row(Column("site_aware_at", css_class="col-md-6 col-xl-4")),
            ),
            Fieldset("Study agents", *agent_rows),
            *closing,
            *hidden,
        )
        return helper

    def record_changed(self) -> bool:
        return self.has_clinical_changes()

    def clean_ctcae_term(self) -> str:
        value = " ".join(self.cleaned_data["ctcae_term"].split())
        try:
            self.term = get_term(value)
        except UnknownTermError as exc:
            raise forms.ValidationError(str(exc), code="unknown_term") from exc
        return self.term.term

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        grade = cleaned.get("grade")
        if self.term is not None and grade is not None:
            try:
                check_grade(self.term, grade)
            except GradeNotAllowedError as exc:
                self.add_error("grade", str(exc))
        needs_verbatim = self.term is not None and self.term.is_other_specify
        if needs_verbatim and not cleaned.get("verbatim", "").strip():
            self.add_error("verbatim", OTHER_SPECIFY_NEEDS_VERBATIM)
        serious = cleaned.get("serious")
        criteria = cleaned.get("serious_criteria") or []
        if serious is True and not criteria:
            self.add_error("serious_criteria", SERIOUS_NEEDS_CRITERION)
        elif serious is False and criteria:
            self.add_error("serious_criteria", CRITERIA_NEED_SERIOUS)
        self._check_awareness(cleaned)
        self._check_dates_and_outcome(cleaned)
        self._check_subject_dates(cleaned)
        self._check_grade_history(cleaned)
        self._check_change_reason(cleaned)
        return cleaned

    def _check_awareness(self, cleaned: dict[str, Any]) -> None:
        serious = cleaned.get("serious")
        if serious is None or "site_aware_at" in self.errors:
            return
        problems = awareness_errors(
            serious=serious,
            site_aware_at=cleaned.get("site_aware_at"),
            onset_on=cleaned.get("onset_on"),
        )
        for field, message in problems.items():
            self.add_error(field, message)

    def _check_subject_dates(self, cleaned: dict[str, Any]) -> None:
        """No date before the subject's consent or in the future: the model's rule, run here
        too so that it shows with the form's other errors instead of on a second save."""
        dates = {
            name: (label, cleaned.get(name))
            for name, label in (
                ("onset_on", "The onset date"),
                ("resolved_on", "The resolution date"),
                ("death_on", "The date of death"),
            )
            if name not in self.errors
        }
        for field, message in date_errors(self.subject, dates).items():
            self.add_error(field, message)

    def _check_change_reason(self, cleaned: dict[str, Any]) -> None:
        # The base form asks for the reason only when every other field is valid; a
        # correction asks for it with the other errors, on the same save.
        missing = not (cleaned.get("change_reason") or "").strip()
        needed = self.editing and self.record_changed()
        if needed and missing and "change_reason" not in self.errors:
            self.add_error("change_reason", REASON_FOR_CHANGE_REQUIRED)

    def _check_grade_history(self, cleaned: dict[str, Any]) -> None:
        if not (self.is_bound and self.history_posted) or not self.grade_history.is_valid():
            return
        onset = cleaned.get("onset_on")
        if self.term is None or cleaned.get("grade") is None or onset is None:
            return
        problems = check_grade_history(
            term=self.term.term,
            grade=cleaned["grade"],
            onset_on=onset,
            resolved_on=cleaned.get("resolved_on"),
            steps=self.grade_history.steps(),
        )
        for message in problems.values():
            self.grade_history.add_history_error(message)

    def add_error(self, field, error) -> None:
        # The service names the history "grade_changes": its problems go next to the rows.
        if field == GRADE_CHANGES:
            self.grade_history.add_history_error(error)
            return
        if isinstance(error, ValidationError) and hasattr(error, "error_dict"):
            history = error.error_dict.pop(GRADE_CHANGES, None)
            if history is not None:
                self.grade_history.add_history_error(ValidationError(history))
            if not error.error_dict:
                return
        super().add_error(field, error)

    def is_valid(self) -> bool:
        valid = super().is_valid()
        return self.grade_history_valid() and valid

    def grade_history_valid(self) -> bool:
        if not (self.is_bound and self.history_posted):
            return True
        return self.grade_history.is_valid() and not self.grade_history.non_form_errors()

    @property
    def has_grade_history_errors(self) -> bool:
        return self.is_bound and self.history_posted and not self.grade_history_valid()

    def grade_changes(self) -> list[tuple[dt.date, int]] | None:
        """The submitted history, or None when it was not posted or equals the saved one."""
        if not (self.is_bound and self.history_posted):
            return None
        steps = self.grade_history.steps()
        return None if steps == self.saved_grade_changes else steps

    def loaded_grade_changes_steps(self) -> list[tuple[dt.date, int]] | None:
        """The history the page was built from, or None when the post does not carry it."""
        if "loaded_grade_changes" not in self.data:
            return None
        try:
            return parse_steps(self.cleaned_data.get("loaded_grade_changes") or "")
        except ValueError:
            return None

    def _check_dates_and_outcome(self, cleaned: dict[str, Any]) -> None:
        onset: dt.date | None = cleaned.get("onset_on")
        resolved: dt.date | None = cleaned.get("resolved_on")
        death: dt.date | None = cleaned.get("death_on")
        outcome = cleaned.get("outcome")
        if onset and resolved and resolved < onset:
            self.add_error("resolved_on", RESOLVED_BEFORE_ONSET)
        if onset and death and death < onset:
            self.add_error("death_on", DEATH_BEFORE_ONSET)
        if outcome == Outcome.FATAL and death is None and "death_on" not in self.errors:
            self.add_error("death_on", FATAL_NEEDS_DEATH_DATE)
        if outcome and outcome != Outcome.FATAL and death is not None:
            self.add_error("death_on", DEATH_DATE_NEEDS_FATAL)
        if cleaned.get("grade") == 5 and outcome and outcome != Outcome.FATAL:
            self.add_error("outcome", GRADE5_NEEDS_FATAL)

    def has_clinical_changes(self) -> bool:
        """False when the submitted data differs from the loaded data only in bookkeeping."""
        bookkeeping = {"change_reason", "loaded_version", "override_reason", "loaded_grade_changes"}
        bookkeeping.update(version_field(agent) for agent in self.agents)
        history_changed = self.history_posted and self.grade_history.has_changed()
        return bool(set(self.changed_data) - bookkeeping) or history_changed

    def event_values(self) -> dict[str, Any]:
        """The adverse event's field values as the model stores them."""
        data = self.cleaned_data
        criteria = set(data["serious_criteria"]) if data["serious"] else set()
        values = {
            "ctcae_term": data["ctcae_term"],
            "verbatim": data["verbatim"].strip(),
            "grade": data["grade"],
            "onset_on": data["onset_on"],
            "resolved_on": data["resolved_on"],
            "outcome": data["outcome"],
            "death_on": data["death_on"],
            "serious": bool(criteria),
            "site_aware_at": data["site_aware_at"],
            "despite_supportive_care": data["despite_supportive_care"],
        }
        values.update({name: name in criteria for name in SERIOUSNESS_CRITERIA})
        return values

    def assessments(self) -> dict[str, tuple[str, str]]:
        """Agent code -> (attribution, action taken), as `ae_record` takes them."""
        return {
            agent.code: (
                self.cleaned_data[attribution_field(agent)],
                self.cleaned_data[action_field(agent)],
            )
            for agent in self.agents
        }

    def agent_version(self, agent: Agent) -> int | None:
        return self.cleaned_data.get(version_field(agent))


def initial_from_event(
    event: AdverseEvent, assessments: dict[str, AdverseEventAgent]
) -> dict[str, Any]:
    """The edit form's initial values: the saved event and its agent assessments."""
    initial: dict[str, Any] = {name: getattr(event, name) for name in EVENT_FIELDS}
    initial["serious"] = "yes" if event.serious else "no"
    initial["serious_criteria"] = [name for name in SERIOUSNESS_CRITERIA if getattr(event, name)]
    if event.site_aware_at is not None:
        # The page shows minutes; a time kept to the second (one set from the entry time when
        # the field was added) is not a change the nurse made.
        initial["site_aware_at"] = same_minute(event.site_aware_at)
    for code, assessment in assessments.items():
        initial[f"attribution_{code}"] = assessment.attribution
        initial[f"action_{code}"] = assessment.action_taken
    return initial
