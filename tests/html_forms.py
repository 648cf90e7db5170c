"""What a browser would send for a form of a rendered page, read with the standard HTML parser."""

from __future__ import annotations

from collections.abc import Callable
from html.parser import HTMLParser

FormMatch = Callable[[dict], bool]


def admin_form(attrs: dict) -> bool:
    """The admin's add or change form (`<form id="..._form" method="post">`)."""
    return attrs.get("method", "").lower() == "post" and attrs.get("id", "").endswith("_form")


def entry_form(attrs: dict) -> bool:
    """A data-entry form of the eCRF pages (the forms that keep drafts)."""
    return attrs.get("method", "").lower() == "post" and "data-draft-key" in attrs


class _FormFields(HTMLParser):
    """The name/value pairs a browser sends for the first form the match accepts."""

    def __init__(self, match: FormMatch):
        super().__init__()
        self.match = match
        self.pairs: list[tuple[str, str]] = []
        self.in_form = False
        self.select: str | None = None
        self.options: list[tuple[str, bool]] = []
        self.textarea: str | None = None
        self.text = ""

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "form":
            self.in_form = self.match(attrs)
        if not self.in_form:
            return
        name = attrs.get("name")
        if tag == "input" and name and "__prefix__" not in name:
            kind = attrs.get("type", "text")
            if kind in ("submit", "button", "file"):
                return
            if kind in ("checkbox", "radio") and "checked" not in attrs:
                return
            self.pairs.append((name, attrs.get("value", "on" if kind == "checkbox" else "")))
        elif tag == "select" and name and "__prefix__" not in name:
            self.select, self.options = name, []
        elif tag == "option" and self.select:
            self.options.append((attrs.get("value", ""), "selected" in attrs))
        elif tag == "textarea" and name and "__prefix__" not in name:
            self.textarea, self.text = name, ""

    def handle_data(self, data):
        if self.textarea:
            self.text += data

    def handle_endtag(self, tag):
        if tag == "form":
            self.in_form = False
        elif tag == "select" and self.select:
            chosen = [value for value, selected in self.options if selected]
            if chosen or self.options:
                self.pairs.append((self.select, (chosen or [self.options[0][0]])[0]))
            self.select = None
        elif tag == "textarea" and self.textarea:
            self.pairs.append((self.textarea, self.text.removeprefix("\n")))
            self.textarea = None


def page_form_data(client, url: str, match: FormMatch = entry_form) -> dict:
    """GET a page and return what its form would send unchanged, as a dict."""
    page = client.get(url)
    assert page.status_code == 200, url
    parser = _FormFields(match)
    parser.feed(page.content.decode())
    assert parser.pairs, f"no form on {url}"
    return dict(parser.pairs)
