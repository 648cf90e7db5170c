"""The lab entry grid: one row per test of a panel, plus one override reason for the grid."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal

from django import forms

from ..ctcae.labs import LAB_TESTS
from ..models import LabResult, LabTest
from ..safety.plausibility import IMPLAUSIBLE, IMPOSSIBLE, check_lab_value
from ..services.queries import WARNINGS_ACCEPTED
from .base import REASON_FOR_CHANGE_REQUIRED, RecordForm, SoftWarning

_CHEMISTRY = (
    "ALT", "AST", "BILI", "ALP", "GGT", "CREAT", "CK", "LIPASE", "AMYLASE",
    "GLUC", "K", "SODIUM", "CA", "MG", "ALB", "CHOL", "TRIG", "INR",
)  # fmt: skip
# The panels of the grid and their tests, in the order a lab report lists them.
PANELS: dict[str, tuple[str, tuple[str, ...]]] = {
    "haematology": ("Haematology", ("NEUT", "PLAT", "WBC", "LYM", "HGB")),
    "chemistry": ("Chemistry", _CHEMISTRY),
    "immune": ("Immune", ("CD4", "CD8", "NK")),
}
# CTCAE grades neither CD8 nor NK cells, so the grader does not list their units.
UNGRADED_UNITS = {"CD8": ("10^9/L", "cells/uL"), "NK": ("10^9/L", "cells/uL")}

SAMPLE_TIME_REQUIRED = "Give the date and time the sample was taken."
CANNOT_EMPTY = (
    "A saved result cannot be emptied: correct the value, or ask the data manager to mark "
    "the result as entered in error."
)
LLN_ABOVE_ULN = "The lower limit of normal cannot be above the upper."
AMBIGUOUS_COMMA = (
    '"{typed}" is ambiguous: the comma may separate thousands or decimals. '
    "Write {thousands} or {decimal}."
)
NO_THOUSANDS_SEPARATOR = (
    '"{typed}" is not a number this form reads: write it without thousands separators, with a '
    "point (or a single comma) before the decimals, e.g. 1234.5."
)

DECIMAL = {"inputmode": "decimal", "autocomplete": "off"}
# A number with one comma and no point, digits on each side, an optional sign before.
_ONE_COMMA = re.compile(r"([+-]?)(\d+),(\d+)")
# Digits before a comma that could be a thousands separator: any not starting with 0 ("0,123"
# can only be decimals).
_THOUSANDS_HEAD = re.compile(r"[1-9]\d*")

SMALL = "form-control form-control-sm"


def units_of(test: str) -> tuple[str, ...]:
    """The units a test accepts, in the grader's order."""
    if test in LAB_TESTS:
        return LAB_TESTS[test].units
    return UNGRADED_UNITS[test]


def shown(value: Decimal | None) -> str:
    """A stored number as typed: 130.0000 -> '130', 0.0500 -> '0.05' (never '1E+2')."""
    if value is None:
        return ""
    text = format(value, "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


Limits = tuple[Decimal | None, Decimal | None]


class DecimalCommaField(forms.DecimalField):
    """A decimal number that also takes a decimal comma ("4,1" is 4.1) when the comma cannot be
    a thousands separator.

    The site runs in one locale (LANGUAGE_CODE en-gb, whose decimal separator is a point), but lab
    reports and nurses of decimal-comma countries write "4,1". A comma is read as decimals when it
    is the only one, there is no point, and it is not followed by exactly three digits (unless the
    number starts with "0,"): "1,234" (a platelet count of 1234, or 1.234?) is refused with both
    readings offered rather than guessed, as are thousands groupings such as "1,234.5".
    """

    def to_python(self, value):
        if isinstance(value, str) and "," in value:
            typed = value.strip()
            match = _ONE_COMMA.fullmatch(typed)
            if match is None:
                raise forms.ValidationError(
                    NO_THOUSANDS_SEPARATOR.format(typed=typed), code="thousands_separator"
                )
            sign, head, tail = match.groups()
            if len(tail) == 3 and _THOUSANDS_HEAD.fullmatch(head):
                raise forms.ValidationError(
                    AMBIGUOUS_COMMA.format(
                        typed=typed, thousands=f"{sign}{head}{tail}", decimal=f"{sign}{head}.{tail}"
                    ),
                    code="ambiguous_comma",
                )
            value = f"{sign}{head}.{tail}"
        return super().to_python(value)


def _comparable(value):
    """The sample time to the minute, as the form shows it; other values as they are."""
    if isinstance(value, dt.datetime):
        return value.replace(second=0, microsecond=0)
    return value


class LabRowForm(forms.Form):
    """One test of the grid: a new result, or the correction of the one already saved.

    `ranges` maps each unit that has a site reference range to its (LLN, ULN); `result` is the
    result saved for this test at this visit, if any. After validation `warning` holds the
    plausibility warning, `changes` the fields a correction changes, and `has_work` says
    whether the row saves anything.
    """

    value = DecimalCommaField(
        max_digits=12, decimal_places=4, required=False, widget=forms.TextInput(attrs=DECIMAL)
    )
    unit = forms.ChoiceField(choices=())
    lln = DecimalCommaField(
        label="LLN",
        max_digits=12,
        decimal_places=4,
        required=False,
        widget=forms.TextInput(attrs=DECIMAL),
    )
    uln = DecimalCommaField(
        label="ULN",
        max_digits=12,
        decimal_places=4,
        required=False,
        widget=forms.TextInput(attrs=DECIMAL),
    )
    collected_at = forms.DateTimeField(
        label="Collected",
        required=False,
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
    )
    change_reason = forms.CharField(label="Reason for change", max_length=500, required=False)
    loaded_version = forms.IntegerField(widget=forms.HiddenInput, required=False)

    def __init__(
        self,
        *args,
        test: str,
        ranges: dict[str, Limits],
        collected_at: dt.datetime,
        result: LabResult | None = None,
        **kwargs,
    ):
        super().__init__(*args, prefix=test, **kwargs)
        self.test = test
        self.name = LabTest(test).label
        self.units = units_of(test)
        self.ranges = ranges
        self.result = result
        self.warning = ""
        self.changes: dict = {}
        self.has_work = False
        self.fields["unit"].choices = [(unit, unit) for unit in self.units]
        if result is None:
            # The first unit the site's ranges use, else the grader's first.
            unit = next((u for u in self.units if u in ranges), self.units[0])
            lln, uln = ranges.get(unit, (None, None))
            self.initial_values = {
                "unit": unit,
                "lln": lln,
                "uln": uln,
                "collected_at": collected_at,
            }
            del self.fields["change_reason"]
            del self.fields["loaded_version"]
        else:
            self.initial_values = {
                "value": result.value,
                "unit": result.unit,
                "lln": result.lln,
                "uln": result.uln,
                "collected_at": result.collected_at,
                "loaded_version": result.version,
            }
            if result.unit not in self.units:
                self.fields["unit"].choices += [(result.unit, result.unit)]
        self.initial = {
            name: shown(value) if isinstance(value, Decimal) else value
            for name, value in self.initial_values.items()
        }
        for name, field in self.fields.items():
            if not isinstance(field.widget, forms.HiddenInput):
                css = "form-select form-select-sm" if name == "unit" else SMALL
                field.widget.attrs["class"] = css

    def _limits_follow_unit(self, cleaned: dict) -> None:
        """Limits the nurse did not touch follow a change of unit to that unit's site range.

        The prefilled LLN and ULN belong to the unit shown first; left as they were after
        another unit is chosen, they would grade the value against the wrong numbers.
        """
        before = self.initial_values["unit"]
        unit = cleaned.get("unit")
        if not unit or unit == before or "lln" in self.errors or "uln" in self.errors:
            return
        untouched = (cleaned.get("lln"), cleaned.get("uln")) == (
            self.initial_values.get("lln"),
            self.initial_values.get("uln"),
        )
        if untouched:
            cleaned["lln"], cleaned["uln"] = self.ranges.get(unit, (None, None))

    def clean(self):
        cleaned = super().clean()
        value = cleaned.get("value")
        if "value" in self.errors:
            return cleaned
        if value is None:
            if self.result is not None:
                self.add_error("value", CANNOT_EMPTY)
            return cleaned
        self._limits_follow_unit(cleaned)
        if cleaned.get("collected_at") is None and "collected_at" not in self.errors:
            self.add_error("collected_at", SAMPLE_TIME_REQUIRED)
        lln, uln = cleaned.get("lln"), cleaned.get("uln")
        if lln is not None and uln is not None and lln > uln:
            self.add_error("lln", LLN_ABOVE_ULN)
        unit = cleaned.get("unit")
        if self.result is not None:
            self.changes = {
                name: cleaned.get(name)
                for name in ("value", "unit", "lln", "uln", "collected_at")
                if _comparable(cleaned.get(name)) != _comparable(self.initial_values.get(name))
            }
            if self.changes and not (cleaned.get("change_reason") or "").strip():
                self.add_error("change_reason", REASON_FOR_CHANGE_REQUIRED)
            self.has_work = bool(self.changes)
        else:
            self.has_work = True
        # A saved value that is not changed was accepted when it was saved.
        if unit and (self.result is None or {"value", "unit"} & set(self.changes)):
            verdict, message = check_lab_value(self.test, value, unit)
            if verdict == IMPOSSIBLE:
                self.add_error("value", message)
            elif verdict == IMPLAUSIBLE:
                self.warning = message
        return cleaned

    def mark_errors(self) -> None:
        """Flag the inputs in error for Bootstrap and screen readers."""
        for name in self.errors:
            if name in self.fields:
                attrs = self.fields[name].widget.attrs
                attrs["class"] = f"{attrs.get('class', '')} is-invalid".strip()
                attrs["aria-invalid"] = "true"
                attrs["aria-describedby"] = f"{self.prefix}-{name}-error"


class LabGridForm(RecordForm):
    """The grid as a whole: its soft warnings are the rows' and share one override reason."""

    def __init__(self, *args, rows: list[LabRowForm], **kwargs):
        super().__init__(*args, **kwargs)
        self.rows = rows
        override = self.fields["override_reason"]
        override.help_text = "Kept in the audit trail of each result saved despite a warning."

    def soft_warnings(self, data: dict) -> list[SoftWarning]:
        for row in self.rows:
            row.is_valid()
        return [SoftWarning(None, row.warning) for row in self.rows if row.warning]

    def row_audit_reason(self, row: LabRowForm) -> str:
        """The audit reason of a row saved despite its warning."""
        if not row.warning:
            return ""
        return (
            f"{WARNINGS_ACCEPTED} ({row.warning}): {self.cleaned_data['override_reason'].strip()}"
        )
