"""No copy of a signed-in user's page is kept by a browser or a proxy cache."""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse
from django.utils.cache import add_never_cache_headers


class NoStoreForSignedInUsersMiddleware:
    """Send ``Cache-Control: no-store`` (with Django's other never-cache headers) on every response to a signed-in user.

    Casebook pages, PDFs, the audit CSV and exports carry patient data; a shared computer's
    browser cache or a hospital proxy must not keep them after the session ends. One rule for
    every page is simpler to trust than a decorator on each view. Runs after the authentication
    middleware, which gives ``request.user``.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            # Django's never-cache set: max-age=0, no-cache, no-store, must-revalidate, private.
            add_never_cache_headers(response)
        return response
