"""The sign-in lock: keyed on the user name, and fed by wrong signature passwords too.

Issue #22: behind a reverse proxy every client had the proxy's address, so a lock keyed on the
address let anyone lock everyone out; and signature passwords were neither throttled nor audited
(12 wrong passwords, then the right one signed). Bob is an investigator at site A.
"""

from __future__ import annotations

import pytest
from axes.models import AccessAttempt
from django.core.exceptions import ValidationError
from django.test import Client
from django.urls import reverse

from ecrf.auth.lockout import (
    LOCKED_OUT,
    SIGNATURE_PASSWORD_FAILED,
    ensure_not_locked_out,
    is_locked_out,
    signature_password_failed,
)
from ecrf.models import AuditEvent

PASSWORD = "correct horse battery"
PROXY = "10.9.9.9"


def _sign_in(client: Client, username: str, password: str, **meta):
    return client.post(reverse("login"), {"username": username, "password": password}, **meta)


# Keyed on the user name -----------------------------------------------------------------------


def test_failures_for_one_user_name_through_a_proxy_do_not_lock_out_anyone_else(alice, bob):
    attacker = Client()
    for _ in range(5):
        _sign_in(attacker, "alice", "wrong password", REMOTE_ADDR=PROXY)
    # Bob signs in through the same proxy address.
    assert _sign_in(Client(), "bob", PASSWORD, REMOTE_ADDR=PROXY).status_code == 302


def test_rotating_addresses_and_user_agents_does_not_get_round_the_lock(alice):
    attacker = Client()
    for n in range(5):
        _sign_in(
            attacker,
            "alice",
            "wrong password",
            REMOTE_ADDR=f"10.0.0.{n + 1}",
            HTTP_USER_AGENT=f"agent {n}",
        )
    assert AccessAttempt.objects.filter(username="alice").count() == 5
    response = _sign_in(Client(), "alice", PASSWORD, REMOTE_ADDR="10.0.0.99", HTTP_USER_AGENT="new")
    assert response.status_code == 429


# Signature passwords count toward the same lock -----------------------------------------------


@pytest.fixture
def visit(subject):
    return subject.visits.get(label="C1D8")


def test_a_wrong_signature_password_writes_an_audit_line_on_the_record(bob, visit):
    assert signature_password_failed(user=bob, what=visit) is False
    event = AuditEvent.objects.get(action=SIGNATURE_PASSWORD_FAILED)
    assert (event.actor, event.role, event.site) == ("bob", "investigator", "A")
    assert (event.model, event.object_id, event.subject_id) == (
        "ecrf.Visit",
        str(visit.pk),
        visit.subject_id,
    )
    assert (event.field, event.old_value, event.new_value) == (
        "password",
        None,
        "wrong password (1 of 5 before the lock)",
    )


def test_five_wrong_signature_passwords_lock_signing_with_one_audit_line_each(bob, visit):
    for _ in range(4):
        assert signature_password_failed(user=bob, what=visit) is False
        ensure_not_locked_out(bob)
    assert signature_password_failed(user=bob, what=visit) is True
    lines = AuditEvent.objects.filter(action=SIGNATURE_PASSWORD_FAILED).order_by("at", "id")
    assert lines.count() == 5
    assert lines.last().new_value == (
        "wrong password (5 of 5 before the lock); user name locked for 30 minutes"
    )
    assert is_locked_out(bob)
    with pytest.raises(ValidationError) as refused:
        ensure_not_locked_out(bob)
    assert refused.value.code == LOCKED_OUT
    assert "locked for 30 minutes, even with the right password" in refused.value.messages[0]


def test_wrong_signature_passwords_lock_signing_in_too(client, bob, alice, visit):
    for _ in range(5):
        signature_password_failed(user=bob, what=visit)
    assert _sign_in(client, "bob", PASSWORD).status_code == 429
    assert "_auth_user_id" not in client.session
    # Only Bob's name is locked.
    assert not is_locked_out(alice)
    assert _sign_in(Client(), "alice", PASSWORD).status_code == 302


def test_failed_sign_ins_and_signature_passwords_add_up(client, bob, visit, rf):
    for _ in range(3):
        _sign_in(client, "bob", "wrong password")
    request = rf.post("/records/visit/sign/", REMOTE_ADDR="10.0.0.7")
    signature_password_failed(user=bob, what=visit, request=request)
    assert not is_locked_out(bob)
    assert signature_password_failed(user=bob, what=visit, request=request) is True
    assert is_locked_out(bob)
    # The page's own request is not marked, so the signature page answers with its own error
    # rather than being swapped for the sign-in lock page.
    assert not getattr(request, "axes_locked_out", False)


def test_a_successful_sign_in_clears_signature_failures_as_it_clears_sign_in_failures(
    client, bob, visit
):
    for _ in range(4):
        signature_password_failed(user=bob, what=visit)
    assert _sign_in(client, "bob", PASSWORD).status_code == 302
    assert signature_password_failed(user=bob, what=visit) is False


# The password change page's current password counts too ---------------------------------------


def test_wrong_current_passwords_on_the_password_page_lock_the_user_name(client, alice):
    client.force_login(alice)
    url = reverse("password_change")
    form = {
        "new_password1": "imatinib on days 1 to 14",
        "new_password2": "imatinib on days 1 to 14",
    }
    for _ in range(5):
        page = client.post(url, {"old_password": "wrong password", **form})
        assert page.status_code == 200
    assert is_locked_out(alice)
    assert AuditEvent.objects.filter(action="ecrf.user.password_change_failed").count() == 5
    page = client.post(url, {"old_password": PASSWORD, **form})
    assert "locked for 30 minutes, even with the right password" in page.text
    alice.refresh_from_db()
    assert alice.check_password(PASSWORD)
