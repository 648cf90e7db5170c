"""The project's field template (ecrf/templatetags/form_fields.py) writes the markup of
crispy-bootstrap5's own: every field of the data-entry forms, empty and refused with errors,
is rendered by both and compared as HTML (attribute order and white space aside)."""

from __future__ import annotations

from pathlib import Path

import crispy_bootstrap5
import pytest
from django import forms
from django.contrib.auth.forms import AuthenticationForm
from django.template import engines
from django.test.html import parse_html

from ecrf.forms.adverse_event import AdverseEventForm
from ecrf.forms.dosing import DoseForm
from ecrf.forms.oversight import EnteredInErrorForm
from ecrf.forms.subjects import ScreeningForm, SubjectSearchForm
from ecrf.templatetags.form_fields import field_kind

LIBRARY_FIELD_TEMPLATE = (
    Path(crispy_bootstrap5.__file__).parent / "templates" / "bootstrap5" / "field.html"
)
# What `{{ form.field|as_crispy_field }}` gives the field template; `{% crispy form %}` with a
# form helper adds the helper's settings, of which error_text_inline changes the markup.
CONTEXT = {"form_show_errors": True, "form_show_labels": True}
HELPER = {**CONTEXT, "error_text_inline": True, "help_text_inline": False}


def _library(field, context=CONTEXT) -> str:
    template = engines["django"].from_string(LIBRARY_FIELD_TEMPLATE.read_text())
    return template.render({"field": field, **context})


def _project(field, context=CONTEXT) -> str:
    template = engines["django"].from_string("{% include 'bootstrap5/field.html' %}")
    return template.render({"field": field, **context})


def _forms(subject, bound: bool):
    """Fresh instances (the widget classes are set on the instance's widgets) of the forms."""
    data = {} if bound else None
    study = subject.study
    yield AdverseEventForm(data, subject=subject, agents=list(study.agents.order_by("code")))
    yield DoseForm(data, subject=subject, planned={})
    yield ScreeningForm(data, sites=study.sites.all())
    yield SubjectSearchForm(data, sites=study.sites.all(), dose_levels=study.dose_levels.all())
    yield EnteredInErrorForm(data)
    yield AuthenticationForm(data=data)


@pytest.mark.parametrize("context", [CONTEXT, HELPER], ids=["filter", "helper"])
@pytest.mark.parametrize("bound", [False, True], ids=["empty", "refused"])
def test_every_field_has_crispy_bootstrap5s_markup(subject, bound, context):
    kinds = set()
    compared = refused = 0
    for index, form in enumerate(_forms(subject, bound)):
        twin = list(_forms(subject, bound))[index]
        if bound:
            form.is_valid(), twin.is_valid()
            refused += bool(form.errors)
        for name in form.fields:
            ours, theirs = _project(form[name], context), _library(twin[name], context)
            assert parse_html(ours) == parse_html(theirs), f"{type(form).__name__}.{name}"
            kinds.add(field_kind(form[name]))
            compared += 1
    # Every kind the template tells apart is among the fields compared.
    assert kinds == {"hidden", "checkbox", "choices", "select", "input"}
    assert compared > 30
    assert refused >= (4 if bound else 0)


def test_errors_and_help_text_are_in_the_markup(subject):
    form = AdverseEventForm({}, subject=subject, agents=list(subject.study.agents.all()))
    assert not form.is_valid()
    grade = _project(form["grade"])
    assert 'class="invalid-feedback"' in grade and "is-invalid" in grade
    term = _project(form["ctcae_term"])
    assert 'id="id_ctcae_term_helptext" class="form-text">Type part of the term' in term


def test_a_horizontal_layout_is_refused_not_half_drawn(subject):
    form = EnteredInErrorForm()
    template = engines["django"].from_string("{% load form_fields %}{% bootstrap_field %}")
    with pytest.raises(Exception, match="vertical forms only; a label class"):
        template.render({"field": form["reason"], "label_class": "col-lg-2", **CONTEXT})


def test_a_file_input_is_refused(subject):
    class Upload(forms.Form):
        document = forms.FileField()

    with pytest.raises(Exception, match="a file input is not supported"):
        field_kind(Upload()["document"])
