"""Roles and account flags granted in the user admin are written to the audit trail."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.urls import reverse

from ecrf.models import AuditEvent
from ecrf.services.accounts import ACCOUNT_CHANGED_ACTION
from tests.views.test_admin import page_data


@pytest.fixture
def root(client, db):
    user = get_user_model().objects.create_superuser("root", password="x")
    client.force_login(user)
    return user


def account_lines(user):
    return {
        line.field: (line.old_value, line.new_value, line.actor)
        for line in AuditEvent.objects.filter(action=ACCOUNT_CHANGED_ACTION, object_id=str(user.pk))
    }


def post_user(client, user, **changes):
    url = reverse("admin:auth_user_change", args=[user.pk])
    data = page_data(client, url)
    data.pop("groups", None)
    for flag in ("is_active", "is_staff", "is_superuser"):
        data.pop(flag, None)
    data.update(changes)
    return client.post(url, data)


def test_granting_a_role_and_superuser_in_the_user_admin_is_audited(client, root, data_manager):
    investigator = Group.objects.get(name="investigator")
    response = post_user(
        client,
        data_manager,
        groups=[str(g.pk) for g in (*data_manager.groups.all(), investigator)],
        is_active="on",
        is_staff="on",
        is_superuser="on",
    )
    assert response.status_code == 302, response.context["adminform"].form.errors
    lines = account_lines(data_manager)
    assert lines["groups"] == ("data_manager", "data_manager, investigator", "root")
    assert lines["is_superuser"][1:] == ("True", "root")
    assert "is_staff" not in lines and "is_active" not in lines


def test_removing_staff_and_active_in_the_user_admin_is_audited(client, root, data_manager):
    response = post_user(
        client,
        data_manager,
        groups=[str(g.pk) for g in data_manager.groups.all()],
    )
    assert response.status_code == 302
    lines = account_lines(data_manager)
    assert set(lines) == {"is_staff", "is_active"}
    assert lines["is_staff"][1:] == ("False", "root")


def test_a_user_admin_save_that_changes_no_role_or_flag_writes_no_account_line(
    client, root, data_manager
):
    response = post_user(
        client,
        data_manager,
        first_name="Dana",
        groups=[str(g.pk) for g in data_manager.groups.all()],
        is_active="on",
        is_staff="on",
    )
    assert response.status_code == 302
    assert account_lines(data_manager) == {}
