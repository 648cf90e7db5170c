"""The investigator's signed DLT decisions: on an adverse event, and ruling out a lab toxicity."""

from django import forms

from ..models import DltDecision
from ..models.limits import TEXT_MAX


class DltDecisionForm(forms.Form):
    decision = forms.ChoiceField(
        choices=DltDecision.choices, widget=forms.RadioSelect, label="Decision"
    )
    reason = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}), label="Reason", max_length=TEXT_MAX
    )
    # No printed name: the signature shows the full name of the signer's account, which the
    # page shows above the form (21 CFR 11.50; `ecrf.services.signatures.printed_name_of`).
    password = forms.CharField(
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
        label="Your password",
        help_text="Re-enter your password to sign.",
    )


class LabToxicityRuleOutForm(forms.Form):
    """Rule out an unreconciled lab toxicity as a DLT: reason and signature, no choice."""

    reason = DltDecisionForm.base_fields["reason"]
    password = DltDecisionForm.base_fields["password"]
