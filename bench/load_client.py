"""The HTTP side of the load test: a browser-like session over plain HTTP on the loopback, the
HTML form reading a browser does before it submits, and the latency statistics.

Standard library only and no Django, so the client costs the machine as little as it can and
the parsing can be tested on its own.
"""

from __future__ import annotations

import http.client
import math
import re
import time
from dataclasses import dataclass, field
from html.parser import HTMLParser
from http.cookies import SimpleCookie
from urllib.parse import urlencode, urlsplit

CSRF_INPUT = re.compile(
    r'<input[^>]*name="csrfmiddlewaretoken"[^>]*value="([^"]+)"|'
    r'<input[^>]*value="([^"]+)"[^>]*name="csrfmiddlewaretoken"'
)
# The edit page shows this paragraph only when the save was refused as a conflict
# (templates/ecrf/adverse_event_form.html).
CONFLICT_MARKER = 'id="conflict"'


class FormNotFound(ValueError):
    """The page has no form of the kind the client looked for."""


def csrf_token(html: str) -> str:
    """The CSRF token of the first form of a page."""
    match = CSRF_INPUT.search(html)
    if match is None:
        raise FormNotFound("no csrfmiddlewaretoken input in the page")
    return match.group(1) or match.group(2)


@dataclass
class Form:
    """A parsed HTML form: its attributes and the (name, value) pairs a browser would submit."""

    attrs: dict[str, str]
    fields: list[tuple[str, str]] = field(default_factory=list)
    # Every named control, submitted or not (an unticked checkbox, an empty select).
    controls: set[str] = field(default_factory=set)

    def get(self, name: str, default: str | None = None) -> str | None:
        for key, value in self.fields:
            if key == name:
                return value
        return default

    def set(self, name: str, value: str) -> None:
        """Replace every value of `name` by one value, as typing into a text input does."""
        self.fields = [(key, val) for key, val in self.fields if key != name]
        self.fields.append((name, value))

    def data(self) -> list[tuple[str, str]]:
        return list(self.fields)


class _FormParser(HTMLParser):
    """Collect the successful controls of every form, the way a browser submits them."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.forms: list[Form] = []
        self._form: Form | None = None
        self._select: tuple[str, bool] | None = None  # (name, multiple)
        self._options: list[tuple[str, bool]] = []  # (value, selected)
        self._option: tuple[str | None, bool] | None = None  # the option being read
        self._option_text: list[str] = []
        self._textarea: str | None = None
        self._text: list[str] = []

    def handle_starttag(self, tag, attrs):
        attr = {key: (value if value is not None else "") for key, value in attrs}
        if tag == "form":
            self._form = Form(attrs=attr)
            self.forms.append(self._form)
            return
        if self._form is None:
            return
        name = attr.get("name")
        if tag == "input" and name:
            self._form.controls.add(name)
            kind = attr.get("type", "text").lower()
            if kind in {"submit", "button", "image", "reset", "file"} or "disabled" in attr:
                return
            if kind in {"checkbox", "radio"}:
                if "checked" in attr:
                    self._form.fields.append((name, attr.get("value", "on")))
                return
            self._form.fields.append((name, attr.get("value", "")))
        elif tag == "select" and name:
            self._form.controls.add(name)
            self._select = (name, "multiple" in attr)
            self._options = []
        elif tag == "option" and self._select is not None:
            self._close_option()
            self._option = (attr.get("value"), "selected" in attr)
            self._option_text = []
        elif tag == "textarea" and name:
            self._form.controls.add(name)
            self._textarea = name
            self._text = []

    def _close_option(self):
        """Finish the option being read: without a value attribute its text is its value."""
        if self._option is None:
            return
        value, selected = self._option
        if value is None:
            value = " ".join("".join(self._option_text).split())
        self._options.append((value, selected))
        self._option = None

    def handle_data(self, data):
        if self._textarea is not None:
            self._text.append(data)
        elif self._option is not None:
            self._option_text.append(data)

    def handle_endtag(self, tag):
        if tag == "option" and self._select is not None:
            self._close_option()
        elif tag == "select" and self._select is not None and self._form is not None:
            self._close_option()
            name, multiple = self._select
            chosen = [value for value, selected in self._options if selected]
            if not chosen and not multiple and self._options:
                chosen = [self._options[0][0]]
            if not multiple:
                chosen = chosen[-1:]
            self._form.fields.extend((name, value) for value in chosen)
            self._select = None
        elif tag == "textarea" and self._textarea is not None and self._form is not None:
            text = "".join(self._text)
            # A browser drops the one newline that follows <textarea>.
            if text.startswith("\n"):
                text = text[1:]
            self._form.fields.append((self._textarea, text))
            self._textarea = None
        elif tag == "form":
            self._form = None


def parse_forms(html: str) -> list[Form]:
    parser = _FormParser()
    parser.feed(html)
    parser.close()
    return parser.forms


def post_form(html: str, path: str | None = None) -> Form:
    """The data-entry form of the page: a POST form that submits to the page itself.

    A form without an action (or with the page's own path as its action) posts back to the
    page; other POST forms, such as the sign-out button of the navigation bar, are skipped.
    """
    own = [
        form
        for form in parse_forms(html)
        if form.attrs.get("method", "get").lower() == "post"
        and form.attrs.get("action", "") in ("", path)
    ]
    if not own:
        raise FormNotFound("no POST form that submits to the page itself")
    return max(own, key=lambda form: len(form.controls))


def lab_rows(form: Form) -> dict[str, dict[str, str | None]]:
    """Test code -> the row's inputs of a lab grid; `loaded_version` is None for an empty row.

    Rows are named by the test prefix (`ALT-value`, `ALT-unit`, ...); a row with a saved result
    carries `<test>-loaded_version`.
    """
    rows: dict[str, dict[str, str | None]] = {}
    for name in sorted(form.controls):
        if "-" not in name:
            continue
        test, part = name.split("-", 1)
        rows.setdefault(test, {"loaded_version": None})[part] = form.get(name, "")
    return {test: row for test, row in rows.items() if "value" in row}


@dataclass
class Response:
    status: int
    headers: dict[str, str]
    body: str
    seconds: float

    @property
    def location(self) -> str:
        return self.headers.get("location", "")


class Session:
    """One browser: its cookies, plain HTTP/1.1 to one host, one connection per request.

    gunicorn's sync workers close the connection after each response, so there is nothing to
    keep alive; a fresh connection on the loopback costs well under a millisecond.
    """

    def __init__(self, host: str, port: int, *, timeout: float = 30.0):
        self.host, self.port, self.timeout = host, port, timeout
        self.cookies: dict[str, str] = {}

    def _store_cookies(self, message: http.client.HTTPMessage) -> None:
        for header in message.get_all("Set-Cookie") or []:
            jar = SimpleCookie()
            jar.load(header)
            for name, morsel in jar.items():
                if morsel["max-age"] == "0" or morsel.value == "":
                    self.cookies.pop(name, None)
                else:
                    self.cookies[name] = morsel.value

    def request(
        self, method: str, path: str, fields: list[tuple[str, str]] | None = None
    ) -> Response:
        headers = {"Host": f"{self.host}:{self.port}", "Connection": "close"}
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        body = None
        if method == "POST":
            body = urlencode(fields or []).encode()
            headers["Content-Type"] = "application/x-www-form-urlencoded"
            # Django's CSRF check wants a same-origin Referer only over HTTPS; send it anyway.
            headers["Referer"] = f"http://{self.host}:{self.port}{path}"
            headers["Origin"] = f"http://{self.host}:{self.port}"
        start = time.perf_counter()
        connection = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
        try:
            connection.request(method, path, body=body, headers=headers)
            raw = connection.getresponse()
            content = raw.read()
            elapsed = time.perf_counter() - start
            self._store_cookies(raw.msg)
            response_headers = {key.lower(): value for key, value in raw.getheaders()}
            return Response(
                raw.status, response_headers, content.decode("utf-8", "replace"), elapsed
            )
        finally:
            connection.close()

    def get(self, path: str) -> Response:
        return self.request("GET", path)

    def post(self, path: str, fields: list[tuple[str, str]]) -> Response:
        return self.request("POST", path, fields)


def redirect_path(response: Response) -> str:
    """The path (and query) a redirect points to, without the fragment."""
    parts = urlsplit(response.location)
    return parts.path + (f"?{parts.query}" if parts.query else "")


def percentile(values: list[float], p: float) -> float:
    """The p-th percentile (0-100) by the nearest-rank method; NaN for no values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[rank - 1]


def summarise(samples: list[float]) -> dict[str, float | int | None]:
    """Count and p50/p95/p99/max in milliseconds of latencies given in seconds."""

    def ms(value: float) -> float | None:
        return None if math.isnan(value) else round(value * 1000, 1)

    return {
        "count": len(samples),
        "p50_ms": ms(percentile(samples, 50)),
        "p95_ms": ms(percentile(samples, 95)),
        "p99_ms": ms(percentile(samples, 99)),
        "max_ms": ms(max(samples)) if samples else None,
    }
