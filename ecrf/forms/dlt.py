"""The investigator's signed DLT decisions: on an adverse event, and ruling out a lab toxicity."""

from django import forms

from ..models import DltDecision
from ..models.limits import TEXT_MAX
from ..services.signatures import PRINTED_NAME_REQUIRED


class DltDecisionForm(forms.Form):
    decision = forms.ChoiceField(
        choices=DltDecision.choices, widget=forms.RadioSelect, label="Decision"
    )
    reason = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}), label="Reason", max_length=TEXT_MAX
    )
    printed_name = forms.CharField(
        max_length=150,
        label="Your full name",
        help_text="As it is to appear on the signature.",
        error_messages={"required": PRINTED_NAME_REQUIRED},
    )
    password = forms.CharField(
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
        label="Your password",
        help_text="Re-enter your password to sign.",
    )


class LabToxicityRuleOutForm(forms.Form):
    """Rule out an unreconciled lab toxicity as a DLT: reason and signature, no choice."""

    reason = DltDecisionForm.base_fields["reason"]
    printed_name = DltDecisionForm.base_fields["printed_name"]
    password = DltDecisionForm.base_fields["password"]
