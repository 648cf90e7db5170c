"""Forms of the monitors', data managers' and investigators' oversight pages.

They only validate and normalise; the views hand the cleaned data to the services in
`ecrf.services.queries`, `ecrf.services.locking` and `ecrf.services.signoff`, which decide who may
do what and write nothing when they refuse.
"""

from __future__ import annotations

from django import forms

from ..models.limits import TEXT_MAX
from ..services.locking import UNLOCK_REASON_REQUIRED
from ..services.queries import MESSAGE_REQUIRED
from ..services.signoff import MEANING_REVIEWED

WHOLE_FORM = "The form as a whole"
IN_ERROR_REASON_REQUIRED = "Give the reason this record was entered in error."


class QueryRaiseForm(forms.Form):
    """A question on one field of one record; the record comes from the URL."""

    field = forms.ChoiceField(label="Field", required=False)
    message = forms.CharField(
        label="Question to the site",
        widget=forms.Textarea(attrs={"rows": 3}),
        max_length=TEXT_MAX,
        error_messages={"required": MESSAGE_REQUIRED},
    )

    def __init__(self, *args, fields: list[tuple[str, str]], **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["field"].choices = [("", WHOLE_FORM), *fields]


class QueryStepForm(forms.Form):
    """Answer or re-open a query: a message, and the version of the query the page showed."""

    message = forms.CharField(
        label="Message",
        widget=forms.Textarea(attrs={"rows": 3}),
        max_length=TEXT_MAX,
        error_messages={"required": MESSAGE_REQUIRED},
    )
    loaded_version = forms.IntegerField(widget=forms.HiddenInput)


class QueryCloseForm(forms.Form):
    message = forms.CharField(
        label="Closing note (optional)",
        widget=forms.Textarea(attrs={"rows": 2}),
        max_length=TEXT_MAX,
        required=False,
    )
    loaded_version = forms.IntegerField(widget=forms.HiddenInput)


class UnlockForm(forms.Form):
    reason = forms.CharField(
        label="Reason for unlocking",
        widget=forms.Textarea(attrs={"rows": 2}),
        max_length=500,
        help_text="Kept in the audit trail.",
        error_messages={"required": UNLOCK_REASON_REQUIRED},
    )


class SignOffForm(forms.Form):
    """The investigator's signature: the password re-entered; the printed name is the full name
    of the account, shown by the page, not typed (21 CFR 11.50)."""

    password = forms.CharField(
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
        label="Your password",
        help_text="Re-enter your password to sign.",
    )
    meaning = MEANING_REVIEWED


class EnteredInErrorForm(forms.Form):
    """Retire a record that should never have been entered: the reason, and the version seen."""

    reason = forms.CharField(
        label="Why this record was entered in error",
        widget=forms.Textarea(attrs={"rows": 2}),
        max_length=500,
        help_text="Kept in the audit trail. The record stays in the casebook's history.",
        error_messages={"required": IN_ERROR_REASON_REQUIRED},
    )
    loaded_version = forms.IntegerField(widget=forms.HiddenInput)
