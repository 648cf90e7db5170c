"""The project's field template for crispy-forms: crispy-bootstrap5's markup, built in Python.

crispy-forms lays the forms out (FormHelper, Layout, Row, Column, Fieldset) and hands each field
to the template pack's `field.html`. crispy-bootstrap5's own field template tests the widget
with a dozen filters and includes three more templates per field, and a radio button or tick
box costs another include per choice: on the adverse event form that was most of the page's
time. `templates/bootstrap5/field.html` calls `{% bootstrap_field %}` instead, which writes the
same markup (the vertical layout the project uses: label above, errors and help text below) in
one pass. The widget itself is still rendered by Django's form renderer.

What the project's layouts do not use is refused rather than half supported: horizontal forms
(`label_class`/`field_class`), inline help or error text and file inputs.
"""

from __future__ import annotations

from django import forms, template
from django.conf import settings
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

register = template.Library()

# Bootstrap's class for each kind of widget, as crispy-bootstrap5 gives it.
WIDGET_CLASS = {"checkbox": "form-check-input", "select": "form-select", "input": "form-control"}
UNSUPPORTED = (
    "{name}: the project's field template lays out vertical forms only; {what} is not supported"
)
REQUIRED_MARK = format_html('<span class="asteriskField">{}</span>', "*")


def field_kind(field: forms.BoundField) -> str:
    """hidden, checkbox, choices (radio buttons or tick boxes), select or input."""
    widget = field.field.widget
    if field.is_hidden:
        return "hidden"
    if isinstance(widget, forms.CheckboxInput):
        return "checkbox"
    if isinstance(widget, forms.RadioSelect):  # CheckboxSelectMultiple is one too
        return "choices"
    if isinstance(widget, forms.Select):
        return "select"
    if isinstance(widget, forms.FileInput):
        raise template.TemplateSyntaxError(UNSUPPORTED.format(name=field.name, what="a file input"))
    return "input"


def _widget(field: forms.BoundField, kind: str) -> SafeString:
    """The widget with crispy-forms' classes: its own name (`textinput`) and Bootstrap's."""
    widget = field.field.widget
    name = type(widget).__name__.lower()
    name = getattr(settings, "CRISPY_CLASS_CONVERTERS", {}).get(name, name)
    classes = widget.attrs.get("class", "").split()
    wanted = [name, *WIDGET_CLASS[kind].split(), *(["is-invalid"] if field.errors else [])]
    widget.attrs["class"] = " ".join(classes + [c for c in wanted if c not in classes])
    return field.as_widget()


def _joined(parts) -> SafeString:
    """The parts one after the other, each escaped unless it is markup already."""
    return format_html_join("", "{}", ((part,) for part in parts))


def _attrs(attrs: dict) -> SafeString:
    """An option's attributes: name="value", a bare name for True, nothing for False."""
    return _joined(
        format_html(" {}", name) if value is True else format_html(' {}="{}"', name, value)
        for name, value in attrs.items()
        if value is not False
    )


def _choices(field: forms.BoundField, show_errors: bool) -> SafeString:
    """Radio buttons or tick boxes, one `form-check` each; the errors under the last one."""
    widget = field.field.widget
    id_ = widget.attrs.get("id") or field.auto_id
    attrs = field.build_widget_attrs({"id": id_} if id_ else {})
    groups = widget.optgroups(field.html_name, widget.format_value(field.value()), attrs)
    invalid = " is-invalid" if field.errors else ""
    parts = []
    for group_number, (group, options, _index) in enumerate(groups, start=1):
        if group:
            parts.append(format_html("<strong>{}</strong>", group))
        for number, option in enumerate(options, start=1):
            last = number == len(options) and group_number == len(groups)
            errors = _errors(field, inline=False) if show_errors and field.errors and last else ""
            parts.append(
                format_html(
                    '<div class="form-check"><input type="{}" class="form-check-input{}" '
                    'name="{}" value="{}"{}><label for="{}" class="form-check-label">{}</label>'
                    "{}</div>",
                    option["type"],
                    invalid,
                    field.html_name,
                    str(option["value"]),
                    _attrs(option["attrs"]),
                    option["attrs"].get("id", ""),
                    str(option["label"]),
                    errors,
                )
            )
    return format_html("<div>{}</div>", _joined(parts))


def _errors(field: forms.BoundField, *, inline: bool) -> SafeString:
    """The field's errors: each a `<span>` where the form helper asks for inline error text
    (crispy's default for `{% crispy %}`), each a `<p>` otherwise (`|crispy`, `|as_crispy_field`)."""
    element = "span" if inline else "p"
    return format_html(
        '<div id="{}_error" class="invalid-feedback">{}</div>',
        field.errors.field_id,
        format_html_join(
            "",
            f'<{element} id="error_{{}}_{{}}"><strong>{{}}</strong></{element}>',
            ((n, field.auto_id, error) for n, error in enumerate(field.errors, start=1)),
        ),
    )


def _help(field: forms.BoundField) -> SafeString:
    if not field.help_text:
        return SafeString("")
    # crispy-bootstrap5 marks help texts safe; the project's are plain text, so they are escaped.
    id_attr = format_html('id="{}_helptext" ', field.auto_id) if field.auto_id else ""
    return format_html('<div {}class="form-text">{}</div>', id_attr, field.help_text)


@register.simple_tag(takes_context=True)
def bootstrap_field(context) -> SafeString:
    """One field as crispy-bootstrap5 lays it out (see the module's docstring)."""
    field = context["field"]
    for option, what in (
        ("label_class", "a label class"),
        ("field_class", "a field class"),
        ("help_text_inline", "inline help text"),
        ("inline_class", "inline choices"),
    ):
        if context.get(option):
            raise template.TemplateSyntaxError(UNSUPPORTED.format(name=field.name, what=what))
    kind = field_kind(field)
    if kind == "hidden":
        return field.as_widget()
    show_labels = context.get("form_show_labels", True)
    show_errors = context.get("form_show_errors", True)
    tag = context.get("tag") or "div"
    required = REQUIRED_MARK if field.field.required else ""
    wrapper = ["form-check" if kind == "checkbox" and show_labels else "mb-3"]
    wrapper += [c for c in (context.get("wrapper_class"), field.css_classes()) if c]
    parts = []
    label = ""
    fieldset = field.use_fieldset and field.label and show_labels
    if field.label and kind != "checkbox" and show_labels:
        element = "legend" if field.use_fieldset else "label"
        label = format_html(
            '<{}{} class="form-label{}{}">{}{}</{}>',
            element,
            format_html(' for="{}"', field.id_for_label) if field.id_for_label else "",
            " requiredField" if field.field.required else "",
            " fs-6" if field.use_fieldset else "",
            field.label,
            required,
            element,
        )
        if fieldset:
            described = getattr(field, "aria_describedby", None)
            label = format_html(
                "<fieldset{}>{}",
                format_html(' aria-describedby="{}"', described) if described else "",
                label,
            )
    if kind == "choices":
        parts += [_choices(field, show_errors), _help(field)]
    else:
        parts.append(_widget(field, kind))
        if kind == "checkbox" and show_labels:
            parts.append(
                format_html(
                    '<label for="{}" class="form-check-label{}">{}{}</label>',
                    field.id_for_label,
                    " requiredField" if field.field.required else "",
                    field.label,
                    required,
                )
            )
        if show_errors and field.errors:
            parts.append(_errors(field, inline=context.get("error_text_inline", False)))
        parts.append(_help(field))
    html = format_html(
        '<{} id="div_{}" class="{}">{}{}{}</{}>',
        tag,
        field.auto_id,
        " ".join(wrapper),
        label,
        _joined(parts),
        SafeString("</fieldset>") if fieldset else "",
        tag,
    )
    if kind == "checkbox" and tag != "td":
        html = format_html('<div class="mb-3">{}</div>', html)
    return html
