"""What static/ecrf/drafts.js needs to keep unsaved typing to the person who typed it.

`<body{% draft_attributes %}>` (base.html) gives every page the session lifetime and, for a
signed-in user, an opaque owner id; drafts.js files drafts under that id, restores only the
owner's, removes everybody else's and any older than a session lives.
"""

from __future__ import annotations

from django import template
from django.conf import settings
from django.utils.crypto import salted_hmac
from django.utils.html import format_html

register = template.Library()

# The sign-out form in base.html asks for the sign-in page with this parameter; that page then
# removes every draft in the browser, including those another tab wrote after the sign-out.
SIGNED_OUT_PARAMETER = "signed-out"


def draft_owner(user) -> str:
    """An id that tells one user's drafts from another's in a shared browser, and nothing more.

    localStorage can be read by anyone at the computer, so the id is neither the user name nor
    the primary key (which the admin's URLs use and which counts the accounts) but an HMAC of
    the key under SECRET_KEY. It is the same at every sign-in, so a nurse whose session expired
    gets her draft back after signing in again.
    """
    return salted_hmac("ecrf.drafts.owner", str(user.pk)).hexdigest()[:20]


@register.simple_tag(takes_context=True)
def draft_attributes(context) -> str:
    """The body attributes drafts.js reads: lifetime in seconds, owner, and the sign-out mark."""
    attributes = format_html(' data-draft-lifetime="{}"', settings.SESSION_COOKIE_AGE)
    request = context.get("request")
    if request is None:
        return attributes
    if request.user.is_authenticated:
        attributes += format_html(' data-draft-owner="{}"', draft_owner(request.user))
    if SIGNED_OUT_PARAMETER in request.GET:
        attributes += format_html(" {}", "data-signed-out")
    return attributes
