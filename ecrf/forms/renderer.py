"""The form renderer: Django's widget templates through Jinja2, everything else as before.

Every widget of every field, and every option of a select, is a template render; through
Django's template language that was about a third of a data-entry page's time. Django ships
the same widget templates for Jinja2 (django/forms/jinja2), which renders them several times
faster. Templates that exist only for the Django template language (the admin's own widgets)
are still found there. The commonest widget templates (inputs, selects, radios, textareas)
are not rendered at all: `widget_markup` writes the same markup in Python.
"""

from __future__ import annotations

from django.forms.renderers import DjangoTemplates, Jinja2
from django.template import TemplateDoesNotExist
from django.utils.functional import cached_property

from .widget_markup import write_widget


class FormRenderer(Jinja2):
    @cached_property
    def django_templates(self) -> DjangoTemplates:
        return DjangoTemplates()

    def get_template(self, template_name):
        try:
            return super().get_template(template_name)
        except TemplateDoesNotExist:
            return self.django_templates.get_template(template_name)

    def render(self, template_name, context, request=None):
        written = write_widget(template_name, context)
        if written is not None:
            return written
        return super().render(template_name, context, request=request)
