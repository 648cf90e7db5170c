"""What every page tells static/ecrf/drafts.js so that unsaved drafts stay with the user who
typed them (issue #21 item 1): an opaque owner id, the session lifetime, and the sign-out mark.
The browser behaviour itself is tests/browser/test_drafts.py."""

from __future__ import annotations

import re

from django.urls import reverse

from ecrf.templatetags.drafts import draft_owner


def body_attributes(page) -> dict[str, str]:
    body = re.search(r"<body([^>]*)>", page.text).group(1)
    return dict(re.findall(r'(data-[a-z-]+)(?:="([^"]*)")?', body))


def test_a_signed_in_page_names_the_drafts_owner_by_an_opaque_id(client, alice, bob):
    client.force_login(alice)
    alices = body_attributes(client.get(reverse("home")))["data-draft-owner"]
    client.force_login(bob)
    bobs = body_attributes(client.get(reverse("home")))["data-draft-owner"]

    assert alices == draft_owner(alice)
    assert alices != bobs
    assert "alice" not in alices
    assert alices != str(alice.pk)


def test_the_owner_id_is_the_same_at_the_next_sign_in(client, alice):
    """So that a nurse whose session expired gets her own draft back."""
    client.force_login(alice)
    first = body_attributes(client.get(reverse("home")))["data-draft-owner"]
    client.logout()
    client.force_login(alice)
    assert body_attributes(client.get(reverse("home")))["data-draft-owner"] == first


def test_the_page_gives_the_session_lifetime_from_the_settings(client, alice, settings):
    settings.SESSION_COOKIE_AGE = 600
    client.force_login(alice)
    assert body_attributes(client.get(reverse("home")))["data-draft-lifetime"] == "600"


def test_the_sign_in_page_names_no_owner(client):
    attributes = body_attributes(client.get(reverse("login")))
    assert "data-draft-owner" not in attributes
    assert "data-signed-out" not in attributes


def test_signing_out_leads_to_a_sign_in_page_that_removes_the_drafts(client, alice):
    client.force_login(alice)
    home = client.get(reverse("home"))
    assert 'name="next" value="/accounts/login/?signed-out=1"' in home.text

    response = client.post(reverse("logout"), {"next": "/accounts/login/?signed-out=1"})
    assert response.url == "/accounts/login/?signed-out=1"
    assert "data-signed-out" in body_attributes(client.get(response.url))


def test_the_sign_in_page_after_an_expired_session_keeps_the_drafts(client, subject):
    """An expired session sends the nurse to sign in with ?next=: her draft must survive it."""
    form = f"/subjects/{subject.pk}/adverse-events/new/"
    response = client.get(form, follow=True)
    assert response.redirect_chain[-1][0].startswith(reverse("login") + "?next=")
    assert "data-signed-out" not in body_attributes(response)
