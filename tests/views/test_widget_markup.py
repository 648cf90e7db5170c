"""The widgets written in Python (`ecrf.forms.widget_markup`) give exactly the markup of
Django's own Jinja2 widget templates, for every widget kind the project's forms use and for
the values that escaping and attribute rules treat specially."""

from __future__ import annotations

import datetime as dt

import pytest
from django import forms
from django.forms.renderers import Jinja2
from django.utils.safestring import mark_safe
from django.utils.translation import gettext_lazy

from ecrf.forms.renderer import FormRenderer
from ecrf.forms.widget_markup import WIDGET_WRITERS, write_widget

CHOICES = [
    ("", "---------"),
    ("a", 'Quote " and <tag> & amp'),
    (0, "zero"),
    ("Group <one>", [("g1", "first"), ("g2", gettext_lazy("second"))]),
    ("b", mark_safe("<b>safe</b>")),
]
ATTRS = [
    {},
    {"id": "id_x", "class": "form-control is-invalid", "required": True, "disabled": False},
    {"data-value": 0, "maxlength": "20", "placeholder": 'say "hi" <now>', "step": "any"},
    {"aria-describedby": mark_safe("a&b"), "autofocus": True, "min": 1},
]
VALUES = [None, "", "plain", "a \"quoted\" <b> & 'single'", 0, 12.5, mark_safe("<i>x</i>")]

WIDGETS = [
    forms.TextInput(),
    forms.NumberInput(),
    forms.EmailInput(),
    forms.URLInput(),
    forms.PasswordInput(render_value=True),
    forms.HiddenInput(),
    forms.DateInput(attrs={"type": "date"}),
    forms.DateTimeInput(),
    forms.TimeInput(),
    forms.CheckboxInput(),
    forms.Textarea(attrs={"rows": 3}),
    forms.Select(choices=CHOICES),
    forms.NullBooleanSelect(),
    forms.SelectMultiple(choices=CHOICES),
    forms.RadioSelect(choices=CHOICES),
    forms.CheckboxSelectMultiple(choices=CHOICES),
]


def _pairs():
    for widget in WIDGETS:
        for attrs in ATTRS:
            values = VALUES
            if isinstance(widget, forms.NullBooleanSelect):
                values = [None, True, False, "unknown", "true"]
            elif isinstance(widget, forms.widgets.ChoiceWidget):
                values = [None, "a", "0", 0, "g2", ["a", "g1"], "missing"]
            elif isinstance(widget, forms.CheckboxInput):
                values = [None, True, False, "on", ""]
            for value in values:
                yield widget, attrs, value


@pytest.mark.parametrize(
    ("widget", "attrs", "value"),
    list(_pairs()),
    ids=lambda item: type(item).__name__ if isinstance(item, forms.Widget) else None,
)
def test_written_widget_equals_djangos_jinja2_template(widget, attrs, value):
    context = widget.get_context("field-name", value, dict(attrs))
    expected = Jinja2().render(widget.template_name, context)
    assert widget.template_name in WIDGET_WRITERS
    assert write_widget(widget.template_name, context) == expected


def test_every_input_type_of_django_is_written():
    """The input templates of Django's widgets are all written here, but the file input's and
    the hidden list's (a template per value)."""
    inputs = [w for w in vars(forms.widgets).values() if isinstance(w, type)]
    names = {
        w.template_name
        for w in inputs
        if issubclass(w, forms.widgets.Input)
        and not issubclass(w, (forms.FileInput, forms.MultipleHiddenInput))
    }
    assert names <= set(WIDGET_WRITERS)


def test_a_template_not_written_here_is_rendered():
    """A widget with a template of its own (a date split in selects, here) is rendered by its
    template, through the renderer, as before."""
    widget = forms.SelectDateWidget(years=[2026])
    context = widget.get_context("born", dt.date(2026, 12, 7), {"id": "id_born"})
    assert write_widget(widget.template_name, context) is None
    assert FormRenderer().render(widget.template_name, context) == Jinja2().render(
        widget.template_name, context
    )
    html = widget.render("born", dt.date(2026, 12, 7), {"id": "id_born"}, FormRenderer())
    assert '<option value="2026" selected>2026</option>' in html


def test_an_option_of_another_template_falls_back_to_the_template():
    class Fancy(forms.Select):
        option_template_name = "django/forms/widgets/input_option.html.missing"

    context = Fancy(choices=[("a", "A")]).get_context("f", "a", {})
    assert write_widget("django/forms/widgets/select.html", context) is None
