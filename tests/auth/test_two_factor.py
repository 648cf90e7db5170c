"""The second factor for every privileged user, and enrolment only with an administrator's token.

Issue #22: the superuser was never asked for a second factor, and whoever knew an investigator's
password could enrol their own authenticator app first. Bob is an investigator at site A, Dana a
data manager (staff).
"""

from __future__ import annotations

import datetime as dt
import hashlib

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice

from ecrf.auth.enrolment import (
    DEVICE_ENROLLED,
    DEVICE_RESET,
    TOKEN_ISSUED,
    normalise_token,
    two_factor_reset,
    two_factor_token_issue,
)
from ecrf.models import AuditEvent, TwoFactorEnrolmentToken
from ecrf.services.audit import system_actor
from ecrf.views.two_factor import ENROLMENT_REFUSED

PASSWORD = "correct horse battery"


@pytest.fixture(autouse=True)
def two_factor_required(settings):
    settings.REQUIRE_TWO_FACTOR = True


@pytest.fixture
def root(db):
    return get_user_model().objects.create_superuser("root", password=PASSWORD)


def _code(device: TOTPDevice) -> str:
    return f"{totp(device.bin_key):06d}"


def _sends_to_code_page(response) -> bool:
    return response.status_code == 302 and response.url.startswith(reverse("two_factor"))


def _enrol(client: Client, user, token: str) -> TOTPDevice:
    """Type the token, then confirm the app with its first code."""
    client.post(reverse("two_factor"), {"enrolment_token": token})
    device = TOTPDevice.objects.get(user=user, confirmed=False)
    client.post(reverse("two_factor"), {"token": _code(device)})
    device.refresh_from_db()
    return device


# Who needs a second factor --------------------------------------------------------------------


def test_a_superuser_signed_in_with_a_password_reaches_no_admin_page_without_a_code(client, root):
    assert (
        client.post(
            reverse("admin:login"), {"username": "root", "password": PASSWORD, "next": "/admin/"}
        ).status_code
        == 302
    )
    for url in ("/admin/", "/admin/auth/user/", reverse("home")):
        assert _sends_to_code_page(client.get(url)), url


def test_staff_without_a_role_needs_a_second_factor(client, db):
    clerk = get_user_model().objects.create_user("clerk", password=PASSWORD, is_staff=True)
    client.force_login(clerk)
    assert _sends_to_code_page(client.get("/admin/"))


def test_a_superuser_with_a_confirmed_app_and_its_code_opens_the_user_list(client, root):
    device = TOTPDevice.objects.create(user=root, name="Authenticator app", confirmed=True)
    client.force_login(root)
    client.post(reverse("two_factor"), {"token": _code(device)})
    assert client.get("/admin/auth/user/").status_code == 200


# Enrolment needs a token ----------------------------------------------------------------------


def test_without_a_token_the_enrolment_page_asks_for_one_and_shows_no_key(client, bob):
    client.force_login(bob)
    page = client.get(reverse("two_factor"))
    assert page.status_code == 200
    assert "enrolment token" in page.text
    assert "otpauth://" not in page.text
    assert 'id="totp-secret"' not in page.text
    assert not TOTPDevice.objects.filter(user=bob).exists()
    # A code typed without enrolling goes nowhere either.
    assert _sends_to_code_page(client.get(reverse("home")))


def test_a_wrong_token_is_refused_and_shows_no_key(client, bob):
    two_factor_token_issue(user=bob, by=system_actor("test"))
    client.force_login(bob)
    page = client.post(reverse("two_factor"), {"enrolment_token": "AAAAA-AAAAA-AAAAA-AAAAA"})
    assert ENROLMENT_REFUSED in page.text
    assert "otpauth://" not in page.text
    assert not TOTPDevice.objects.filter(user=bob).exists()


def test_a_valid_token_shows_the_key_then_the_first_code_enrols_the_app(client, bob):
    issued = two_factor_token_issue(user=bob, by=system_actor("test"))
    client.force_login(bob)
    page = client.post(
        reverse("two_factor"), {"enrolment_token": issued.token.lower()}, follow=True
    )
    device = TOTPDevice.objects.get(user=bob, confirmed=False)
    assert page.context["secret"] in page.text
    assert "otpauth://totp/" in page.text
    response = client.post(reverse("two_factor"), {"token": _code(device)})
    assert response.status_code == 302
    device.refresh_from_db()
    assert device.confirmed
    assert client.get(reverse("home")).status_code == 200
    enrolled = AuditEvent.objects.get(action=DEVICE_ENROLLED)
    assert (enrolled.actor, enrolled.model, enrolled.object_id) == ("bob", "auth.User", str(bob.pk))


def test_a_token_works_once(client, bob):
    issued = two_factor_token_issue(user=bob, by=system_actor("test"))
    client.force_login(bob)
    client.post(reverse("two_factor"), {"enrolment_token": issued.token})
    other = Client()
    other.force_login(bob)
    page = other.post(reverse("two_factor"), {"enrolment_token": issued.token})
    assert ENROLMENT_REFUSED in page.text
    assert "otpauth://" not in page.text


def test_an_expired_token_is_refused(client, bob):
    issued = two_factor_token_issue(user=bob, by=system_actor("test"))
    TwoFactorEnrolmentToken.objects.update(expires_at=timezone.now() - dt.timedelta(seconds=1))
    client.force_login(bob)
    page = client.post(reverse("two_factor"), {"enrolment_token": issued.token})
    assert ENROLMENT_REFUSED in page.text


def test_a_token_expires_after_72_hours_and_only_its_hash_is_kept(bob):
    issued = two_factor_token_issue(user=bob, by=system_actor("test"))
    stored = TwoFactorEnrolmentToken.objects.get(user=bob)
    assert stored.expires_at - stored.issued_at == dt.timedelta(hours=72)
    assert stored.token_hash == hashlib.sha256(normalise_token(issued.token).encode()).hexdigest()
    assert normalise_token(issued.token) not in stored.token_hash
    assert len(normalise_token(issued.token)) == 20


def test_another_users_token_is_refused(client, bob, alice):
    issued = two_factor_token_issue(user=alice, by=system_actor("test"))
    client.force_login(bob)
    page = client.post(reverse("two_factor"), {"enrolment_token": issued.token})
    assert ENROLMENT_REFUSED in page.text


def test_a_newer_token_replaces_the_older_one(client, bob):
    older = two_factor_token_issue(user=bob, by=system_actor("test"))
    two_factor_token_issue(user=bob, by=system_actor("test"))
    client.force_login(bob)
    page = client.post(reverse("two_factor"), {"enrolment_token": older.token})
    assert ENROLMENT_REFUSED in page.text
    # The older token is kept, expired: the application's database role deletes no ecrf row.
    tokens = TwoFactorEnrolmentToken.objects.filter(user=bob).order_by("issued_at", "id")
    assert tokens.count() == 2
    assert tokens.first().expires_at <= timezone.now() < tokens.last().expires_at


def test_a_user_with_an_app_gets_no_token_until_the_app_is_reset(bob):
    TOTPDevice.objects.create(user=bob, name="Authenticator app", confirmed=True)
    with pytest.raises(Exception, match="already has an authenticator app") as refused:
        two_factor_token_issue(user=bob, by=system_actor("test"))
    assert refused.value.code == "already_enrolled"


# Issuing and resetting are audited ------------------------------------------------------------


def test_issuing_a_token_writes_an_audit_line_without_the_token(bob):
    issued = two_factor_token_issue(user=bob, by=system_actor("two_factor_token"))
    event = AuditEvent.objects.get(action=TOKEN_ISSUED)
    assert (event.actor, event.model, event.object_id) == (
        "command:two_factor_token",
        "auth.User",
        str(bob.pk),
    )
    assert event.new_value.startswith("enrolment token valid until ")
    assert normalise_token(issued.token) not in normalise_token(event.new_value)


def test_resetting_a_lost_device_removes_it_and_writes_an_audit_line(client, bob):
    TOTPDevice.objects.create(user=bob, name="Authenticator app", confirmed=True)
    assert two_factor_reset(user=bob, by=system_actor("test"), reason="phone lost") == 1
    assert not TOTPDevice.objects.filter(user=bob).exists()
    event = AuditEvent.objects.get(action=DEVICE_RESET)
    assert (event.old_value, event.new_value, event.reason) == (
        "1 authenticator app(s)",
        None,
        "phone lost",
    )


def test_the_command_prints_a_token_that_enrols_the_first_superuser(client, root, capsys):
    call_command("two_factor_token", "root")
    token = capsys.readouterr().out.strip().splitlines()[-1].strip()
    client.force_login(root)
    device = _enrol(client, root, token)
    assert device.confirmed
    assert client.get("/admin/auth/user/").status_code == 200
    assert AuditEvent.objects.filter(action=TOKEN_ISSUED, actor="command:two_factor_token").exists()


def test_the_command_resets_a_lost_device_before_issuing(root, capsys):
    TOTPDevice.objects.create(user=root, name="Authenticator app", confirmed=True)
    call_command("two_factor_token", "root", "--reset", "--reason", "phone lost")
    assert "Removed 1 authenticator app(s) of root." in capsys.readouterr().out
    assert AuditEvent.objects.filter(action=DEVICE_RESET, reason="phone lost").exists()
    assert TwoFactorEnrolmentToken.objects.filter(user=root, used_at__isnull=True).exists()


def _verified_superuser_client(root) -> Client:
    device = TOTPDevice.objects.create(user=root, name="Authenticator app", confirmed=True)
    client = Client()
    client.force_login(root)
    client.post(reverse("two_factor"), {"token": _code(device)})
    return client


def test_a_superuser_issues_a_token_in_the_user_admin_and_sees_it_once(root, bob):
    admin_client = _verified_superuser_client(root)
    page = admin_client.post(
        reverse("admin:auth_user_changelist"),
        {"action": "issue_two_factor_token", "_selected_action": [bob.pk]},
    )
    assert page.status_code == 200
    (issued,) = page.context["issued"]
    assert issued.token in page.text
    assert AuditEvent.objects.filter(action=TOKEN_ISSUED, actor="root").exists()
    # Bob enrols with it.
    client = Client()
    client.force_login(bob)
    assert _enrol(client, bob, issued.token).confirmed


def test_a_superuser_resets_a_lost_device_in_the_user_admin(root, bob):
    TOTPDevice.objects.create(user=bob, name="Authenticator app", confirmed=True)
    admin_client = _verified_superuser_client(root)
    page = admin_client.post(
        reverse("admin:auth_user_changelist"),
        {"action": "reset_two_factor", "_selected_action": [bob.pk]},
    )
    assert page.status_code == 200
    assert not TOTPDevice.objects.filter(user=bob).exists()
    assert AuditEvent.objects.filter(action=DEVICE_RESET, actor="root").exists()
    assert page.context["issued"][0].token in page.text


def test_only_superusers_have_the_second_factor_actions(client, data_manager):
    from django.contrib import admin
    from django.test import RequestFactory

    request = RequestFactory().get("/admin/auth/user/")
    request.user = data_manager
    actions = admin.site._registry[get_user_model()].get_actions(request)
    assert "issue_two_factor_token" not in actions
    assert "reset_two_factor" not in actions


def test_the_device_admin_neither_changes_nor_deletes_devices(root, bob):
    from django.contrib import admin
    from django.test import RequestFactory

    device = TOTPDevice.objects.create(user=bob, name="Authenticator app", confirmed=True)
    request = RequestFactory().get("/admin/")
    request.user = root
    device_admin = admin.site._registry[TOTPDevice]
    assert not device_admin.has_add_permission(request)
    assert not device_admin.has_change_permission(request, device)
    assert not device_admin.has_delete_permission(request, device)
    admin_client = _verified_superuser_client(root)
    url = reverse("admin:otp_totp_totpdevice_delete", args=[device.pk])
    assert admin_client.post(url, {"post": "yes"}).status_code == 403
    assert TOTPDevice.objects.filter(pk=device.pk).exists()
    config = reverse("admin:otp_totp_totpdevice_config", args=[device.pk])
    assert admin_client.get(config).status_code == 403
