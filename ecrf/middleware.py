"""Requests refused before any view reads them.

A NUL character cannot be stored in a PostgreSQL text and has no place in any field of the
eCRF; a query string or form holding one (`?study=%00`) made the database driver raise in the
middle of a page, a server error instead of an answer (issue #22). Refusing it here covers
every page, the admin's filters and search included, without each view cleaning its input.

Cookies and headers are refused too: a quoted cookie may spell NUL as an octal escape
(`sessionid="abcdefgh\\000"`, plain ASCII that any server passes on), which Django's cookie
parser decodes, and the session lookup then raised; django-axes stores the user agent of a
refused sign-in.
"""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest, QueryDict

NUL_REFUSED = "The request holds a NUL character, which no field accepts."
FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


def _holds_nul(data: QueryDict) -> bool:
    return any("\x00" in key or "\x00" in value for key, values in data.lists() for value in values)


def _holds_nul_in_cookies_or_headers(request: HttpRequest) -> bool:
    if any("\x00" in name or "\x00" in value for name, value in request.COOKIES.items()):
        return True
    return any(
        "\x00" in value
        for key, value in request.META.items()
        if key.startswith("HTTP_") and isinstance(value, str)
    )


def holds_nul(request: HttpRequest) -> bool:
    """True when the path, a query parameter, a cookie, a header or a form field holds NUL."""
    if "\x00" in request.path or _holds_nul(request.GET):
        return True
    if _holds_nul_in_cookies_or_headers(request):
        return True
    # Only form posts are parsed (what the views would read anyway); files are not looked into.
    if request.method == "POST" and request.content_type in FORM_TYPES:
        return _holds_nul(request.POST)
    return False


class RefuseNulMiddleware:
    """Answer 400 to a request whose query string, cookies, headers or form data hold a NUL."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if holds_nul(request):
            return HttpResponseBadRequest(NUL_REFUSED)
        return self.get_response(request)
