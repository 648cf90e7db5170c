"""What every data-entry form shares: the reason for change, the version the form was loaded
from (so a save over someone else's newer save is refused), and soft warnings that are saved
only with an override reason.

Hard errors are ordinary form errors (the record is not saved). Soft warnings come from
`soft_warnings()`; while any is unanswered the form is invalid, each warning stands next to its
field, and the nurse either corrects the value or gives a reason in `override_reason`, which the
view passes to the service so that it lands in the audit trail.
"""

from __future__ import annotations

from dataclasses import dataclass

from django import forms

from ..services.queries import WARNINGS_ACCEPTED

REASON_FOR_CHANGE_REQUIRED = "Give a reason for changing data that has already been saved."
OVERRIDE_REQUIRED = "Check the warnings above: correct the values or give a reason to save anyway."

# A browser's date input shows only an ISO date, whatever the display format of the locale: a
# saved date rendered any other way reopens empty.
DATE = forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")
# The fields of a save that are not the record's data.
_BOOKKEEPING = {"change_reason", "loaded_version", "override_reason"}


@dataclass(frozen=True)
class SoftWarning:
    field: str | None
    message: str


class RecordForm(forms.Form):
    """Base of the data-entry forms. `editing` is True when the form changes a saved record."""

    change_reason = forms.CharField(
        label="Reason for change",
        required=False,
        max_length=500,
        help_text="Required when changing saved data; kept in the audit trail.",
    )
    loaded_version = forms.IntegerField(widget=forms.HiddenInput, required=False)
    override_reason = forms.CharField(
        label="Reason to save despite the warnings",
        required=False,
        max_length=500,
    )

    def __init__(self, *args, editing: bool = False, version: int | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.editing = editing
        self.warnings: list[SoftWarning] = []
        if editing:
            self.fields["loaded_version"].initial = version
        else:
            del self.fields["change_reason"]

    def record_changed(self) -> bool:
        """Whether the post changes the saved record (the form's initial values are the saved
        ones): saving a record unchanged needs no reason for change."""
        return bool(set(self.changed_data) - _BOOKKEEPING)

    def soft_warnings(self, data: dict) -> list[SoftWarning]:
        """Warnings a form raises on clean data; subclasses override."""
        return []

    def clean(self):
        cleaned = super().clean()
        if self.errors:
            return cleaned
        if (
            self.editing
            and self.record_changed()
            and not (cleaned.get("change_reason") or "").strip()
        ):
            self.add_error("change_reason", REASON_FOR_CHANGE_REQUIRED)
        self.warnings = self.soft_warnings(cleaned)
        if self.warnings and not (cleaned.get("override_reason") or "").strip():
            for warning in self.warnings:
                target = warning.field if warning.field in self.fields else None
                self.add_error(target, f"Warning: {warning.message}")
            self.add_error("override_reason", OVERRIDE_REQUIRED)
        return cleaned

    @property
    def audit_reason(self) -> str:
        """The reason the services write into the audit trail for this save."""
        parts = []
        if self.editing:
            parts.append(self.cleaned_data.get("change_reason", "").strip())
        if self.warnings:
            shown = "; ".join(w.message for w in self.warnings)
            parts.append(
                f"{WARNINGS_ACCEPTED} ({shown}): {self.cleaned_data['override_reason'].strip()}"
            )
        return " | ".join(p for p in parts if p)
