"""Django's widget templates written out in Python: the same markup, without a template render.

A data-entry page renders hundreds of widgets (a lab grid has about 400 inputs and selects),
and each widget, and each option of a select, is a template render even through Jinja2. The
writers below produce exactly what Django's own Jinja2 widget templates
(django/forms/jinja2/django/forms/widgets/) produce for the same widget context, character for
character (tests/views/test_widget_markup.py renders both and compares them), escaped the
same way Jinja2 escapes (markupsafe). `FormRenderer` uses them for the templates named in
`WIDGET_WRITERS` and renders every other template as before; a widget class that names a
template of its own is therefore never written here.
"""

from __future__ import annotations

from collections.abc import Callable

from markupsafe import escape

WIDGETS = "django/forms/widgets/"


def _attrs(attrs: dict) -> str:
    """attrs.html: ` name="value"`, a bare ` name` for True, nothing for False."""
    return "".join(
        f" {escape(name)}" if value is True else f' {escape(name)}="{escape(value)}"'
        for name, value in attrs.items()
        if value is not False
    )


def _input(widget: dict) -> str:
    """input.html, and every template that only includes it (text, number, date, hidden…)."""
    value = "" if widget["value"] is None else f' value="{escape(widget["value"])}"'
    return (
        f'<input type="{escape(widget["type"])}" name="{escape(widget["name"])}"'
        f"{value}{_attrs(widget['attrs'])}>"
    )


def _option(option: dict) -> str:
    """One option of a select or of a list of radios or checkboxes, by its own template."""
    write = OPTION_WRITERS.get(option["template_name"])
    if write is None:
        raise LookupError(option["template_name"])
    return write(option)


def _select_option(option: dict) -> str:
    return (
        f'<option value="{escape(option["value"])}"{_attrs(option["attrs"])}>'
        f"{escape(option['label'])}</option>"
    )


def _input_option(option: dict) -> str:
    """input_option.html: the radio or checkbox, wrapped in its label unless told not to."""
    if not option["wrap_label"]:
        return _input(option)
    target = option["attrs"].get("id")
    label_for = f' for="{escape(target)}"' if target else ""
    return f"<label{label_for}>{_input(option)} {escape(option['label'])}</label>"


def _grouped(optgroups, open_group: str, each: str, close_group: str) -> str:
    """The options of a choice widget, each by `each`, a group's between `open_group` (with
    its name) and `close_group`, as the widget's template writes them."""
    parts = []
    for group, options, _index in optgroups:
        if group:
            parts.append(open_group.format(escape(group)))
        parts.extend(each.format(_option(option)) for option in options)
        if group:
            parts.append(close_group)
    return "".join(parts)


def _select(widget: dict) -> str:
    options = _grouped(
        widget["optgroups"], '\n  <optgroup label="{}">', "\n  {}", "\n  </optgroup>"
    )
    return f'<select name="{escape(widget["name"])}"{_attrs(widget["attrs"])}>{options}\n</select>'


def _multiple_input(widget: dict) -> str:
    """multiple_input.html: radios and checkboxes, each in a div, groups in a labelled div."""
    target, css = widget["attrs"].get("id"), widget["attrs"].get("class")
    id_attr = f' id="{escape(target)}"' if target else ""
    class_attr = f' class="{escape(css)}"' if css else ""
    options = _grouped(
        widget["optgroups"], "\n  <div><label>{}</label>", "<div>\n    {}</div>", "\n  </div>"
    )
    return f"<div{id_attr}{class_attr}>{options}\n</div>"


def _textarea(widget: dict) -> str:
    value = escape(widget["value"]) if widget["value"] else ""
    return (
        f'<textarea name="{escape(widget["name"])}"{_attrs(widget["attrs"])}>\n{value}</textarea>'
    )


INPUTS = (
    "checkbox", "color", "date", "datetime", "email", "hidden", "input", "number", "password",
    "search", "tel", "text", "time", "url",
)  # fmt: skip
WIDGET_WRITERS: dict[str, Callable[[dict], str]] = {
    **{f"{WIDGETS}{name}.html": _input for name in INPUTS},
    f"{WIDGETS}select.html": _select,
    f"{WIDGETS}radio.html": _multiple_input,
    f"{WIDGETS}checkbox_select.html": _multiple_input,
    f"{WIDGETS}multiple_input.html": _multiple_input,
    f"{WIDGETS}textarea.html": _textarea,
}
OPTION_WRITERS: dict[str, Callable[[dict], str]] = {
    f"{WIDGETS}select_option.html": _select_option,
    f"{WIDGETS}radio_option.html": _input_option,
    f"{WIDGETS}checkbox_option.html": _input_option,
    f"{WIDGETS}input_option.html": _input_option,
}


def write_widget(template_name: str, context: dict) -> str | None:
    """The widget's markup, or None when its template (or an option's) is not one written
    here: the caller then renders the template."""
    write = WIDGET_WRITERS.get(template_name)
    if write is None or "widget" not in context:
        return None
    try:
        return write(context["widget"])
    except LookupError:
        return None
