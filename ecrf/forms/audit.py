"""Filters of the audit trail viewer."""

from __future__ import annotations

from django import forms

from .base import DATE

DATE_ORDER = "The 'to' date is before the 'from' date."


class AuditFilterForm(forms.Form):
    """Narrow a subject's audit trail to one record, user, field or period (dates in UTC)."""

    record = forms.UUIDField(required=False, label="Record", widget=forms.HiddenInput)
    user = forms.ChoiceField(required=False, label="User")
    field = forms.ChoiceField(required=False, label="Field")
    date_from = forms.DateField(required=False, label="From (UTC)", widget=DATE)
    date_to = forms.DateField(required=False, label="To (UTC)", widget=DATE)

    def __init__(self, *args, users=(), fields=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["user"].choices = [("", "Anyone"), *((u, u) for u in users)]
        # `fields`: (field name, label) pairs.
        self.fields["field"].choices = [("", "Any field"), *fields]

    def clean(self):
        cleaned = super().clean()
        start, end = cleaned.get("date_from"), cleaned.get("date_to")
        if start and end and end < start:
            self.add_error("date_to", DATE_ORDER)
        return cleaned
