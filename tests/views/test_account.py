"""Every signed-in user can change their password, with the project's password rules.

Issue #22: staff without admin access had no password change page.
"""

from __future__ import annotations

from django.urls import reverse

from ecrf.models import AuditEvent
from ecrf.services.accounts import PASSWORD_CHANGED_ACTION
from ecrf.views.account import PASSWORD_CHANGED

PASSWORD = "correct horse battery"
NEW = "imatinib on days 1 to 14"


def test_the_layout_links_every_signed_in_user_to_the_password_page(client, alice):
    client.force_login(alice)
    page = client.get(reverse("home"))
    assert f'href="{reverse("password_change")}"' in page.text
    assert client.get(reverse("password_change")).status_code == 200


def test_a_nurse_changes_her_password_and_stays_signed_in(client, alice):
    client.force_login(alice)
    response = client.post(
        reverse("password_change"),
        {"old_password": PASSWORD, "new_password1": NEW, "new_password2": NEW},
        follow=True,
    )
    assert response.redirect_chain[-1][0] == reverse("home")
    assert PASSWORD_CHANGED in response.text
    alice.refresh_from_db()
    assert alice.check_password(NEW)
    assert client.get(reverse("subject_list")).status_code == 200
    event = AuditEvent.objects.get(action=PASSWORD_CHANGED_ACTION)
    assert (event.actor, event.field, event.new_value) == ("alice", "password", "changed")
    assert NEW not in str(event.__dict__)


def test_a_weak_new_password_is_refused_by_the_project_validators(client, alice):
    client.force_login(alice)
    for weak in ("short pw 1", "password1234", "839201746528"):
        page = client.post(
            reverse("password_change"),
            {"old_password": PASSWORD, "new_password1": weak, "new_password2": weak},
        )
        assert page.status_code == 200, weak
        assert page.context["form"].errors["new_password2"], weak
    alice.refresh_from_db()
    assert alice.check_password(PASSWORD)


def test_a_wrong_current_password_changes_nothing(client, alice):
    client.force_login(alice)
    page = client.post(
        reverse("password_change"),
        {"old_password": "wrong password", "new_password1": NEW, "new_password2": NEW},
    )
    assert page.context["form"].errors["old_password"]
    alice.refresh_from_db()
    assert alice.check_password(PASSWORD)


def test_the_password_page_needs_a_signed_in_user(client, db):
    response = client.get(reverse("password_change"))
    assert response.status_code == 302
    assert response.url.startswith(reverse("login"))
