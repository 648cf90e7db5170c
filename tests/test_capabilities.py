"""The capability table of ecrf/access.py: it equals the README's "Who may do what" table, and
`can` answers as that table says at its boundaries (own site or another, assigned or not, the
whole study, read-only roles, superusers).

ICH E6(R2) 4.9 and 21 CFR 11.10(d), (g): access limited to authorised individuals, each
authorised for what their role needs.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AnonymousUser, Group
from django.core.exceptions import PermissionDenied

from ecrf.access import (
    ADMIN_PERMISSIONS,
    CAPABILITIES,
    Action,
    Scope,
    can,
    ensure_can,
    ensure_role_groups,
    role_admin_permissions,
)
from ecrf.models import Role
from tests.factories import user_create as _user

README = Path(__file__).resolve().parent.parent / "README.md"
SECTION = "## Who may do what"


def _readme_table() -> tuple[list[str], list[list[str]]]:
    """The header and rows of the first markdown table under the README's section."""
    text = README.read_text(encoding="utf-8")
    assert SECTION in text, f"README.md has no section {SECTION!r}"
    lines = text.split(SECTION, 1)[1].splitlines()
    table = []
    for line in lines:
        if line.startswith("|"):
            table.append([cell.strip() for cell in line.strip().strip("|").split("|")])
        elif table:
            break
    header, separator, *rows = table
    assert set("".join(separator)) <= set("-: "), separator
    return header, rows


def _roles_of(header: list[str]) -> list[str]:
    by_label = {role.label.lower(): role.value for role in Role}
    return [by_label[label] for label in header[1:]]


def _plural(roles) -> str:
    return " and ".join(
        f"{Role(role).label.lower()}s" for role in roles if role != Role.ADMINISTRATOR
    )


def _rendered_rows(roles: list[str]) -> list[list[str]]:
    """CAPABILITIES written as the README writes them, one row per README row, in table order."""
    groups: dict[str, list[Action]] = {}
    for action, capability in CAPABILITIES.items():
        if capability.readme_row:
            groups.setdefault(capability.readme_row, []).append(action)
    rows = []
    for row, actions in groups.items():
        capabilities = [CAPABILITIES[action] for action in actions]
        if any(capability.rule for capability in capabilities):
            # A right that is not a matter of role: one cell of words across the columns.
            rule = "; ".join(capability.rule for capability in capabilities)
            rows.append([row, rule, *[""] * (len(roles) - 1)])
        elif len(actions) > 1:
            # The admin row: each role's cell lists the admin permissions it holds.
            rows.append(
                [row]
                + [
                    ", ".join(
                        ADMIN_PERMISSIONS[action]
                        for action in actions
                        if role in CAPABILITIES[action].holders
                    )
                    or "-"
                    for role in roles
                ]
            )
        else:
            holders = capabilities[0].holders
            rows.append([row] + [holders[role].value if role in holders else "-" for role in roles])
    return rows


def test_the_readme_table_names_the_five_roles_after_the_action():
    header, _ = _readme_table()
    assert header[0] == "action"
    assert _roles_of(header) == [
        Role.RESEARCH_NURSE,
        Role.INVESTIGATOR,
        Role.MONITOR,
        Role.DATA_MANAGER,
        Role.SPONSOR_VIEWER,
    ]


def test_the_capability_table_equals_the_readme_table_row_by_row():
    header, readme_rows = _readme_table()
    rendered = _rendered_rows(_roles_of(header))
    assert [row[0] for row in rendered] == [row[0] for row in readme_rows]
    for ours, theirs in zip(rendered, readme_rows, strict=True):
        assert ours == theirs, f"README row {theirs[0]!r}"


def test_a_right_written_in_words_names_exactly_the_roles_that_hold_it():
    for action, capability in CAPABILITIES.items():
        if capability.rule and capability.holders:
            assert capability.rule.endswith(_plural(capability.holders)), action


def test_the_administrator_role_holds_it_on_every_study_where_it_holds_it():
    for action, capability in CAPABILITIES.items():
        if Role.ADMINISTRATOR in capability.holders:
            assert capability.holders[Role.ADMINISTRATOR] == Scope.EVERY_STUDY, action


def test_the_administrator_role_has_the_data_managers_rights_but_for_queries_and_locks():
    """The README says the administrator has every data manager right. The code, kept as it
    was, leaves raising and closing queries and locking to data managers (superusers lock)."""
    differ = {
        action
        for action, capability in CAPABILITIES.items()
        if (Role.ADMINISTRATOR in capability.holders) != (Role.DATA_MANAGER in capability.holders)
    }
    assert differ == {Action.RAISE_QUERY, Action.CLOSE_AUTOMATIC_QUERY, Action.LOCK_DATA}


def test_superusers_hold_every_right_but_the_investigators_signatures_and_the_reviewers_queries():
    assert {action for action, c in CAPABILITIES.items() if not c.superusers} == {
        Action.DECIDE_DLT,
        Action.SIGN_DATA,
        Action.RAISE_QUERY,
        Action.CLOSE_QUERY,
        Action.CLOSE_AUTOMATIC_QUERY,
    }


def test_every_action_has_a_row_in_the_table():
    assert set(CAPABILITIES) == set(Action)


# can() at its boundaries ----------------------------------------------------------------------


@pytest.fixture
def other_study(db, definition):
    from ecrf.imports.study_definition import parse_study_definition
    from ecrf.services import study_load, system_actor

    definition["code"] = "OTHER-IL2"
    loaded, _ = study_load(
        definition=parse_study_definition(definition), by=system_actor("test"), source="test"
    )
    return loaded


@pytest.fixture
def sites(study, site_a, site_b, other_study):
    return {"A": site_a, "B": site_b, "other": other_study.sites.get(code="A")}


def _answers(user, action, sites):
    return {name: can(user, action, site=site) for name, site in sites.items()}


NURSE_AT_A = [
    (Action.SEE_SUBJECTS, {"A": True, "B": False, "other": False}),
    (Action.ENTER_DATA, {"A": True, "B": False, "other": False}),
    (Action.ANSWER_QUERY, {"A": True, "B": False, "other": False}),
    (Action.READ_AUDIT, {"A": True, "B": False, "other": False}),
    (Action.DECIDE_DLT, {"A": False, "B": False, "other": False}),
    (Action.RAISE_QUERY, {"A": False, "B": False, "other": False}),
    (Action.VERIFY_SOURCE, {"A": False, "B": False, "other": False}),
    (Action.LOCK_DATA, {"A": False, "B": False, "other": False}),
]


@pytest.mark.parametrize(("action", "expected"), NURSE_AT_A)
def test_a_nurse_acts_at_her_own_site_only(alice, sites, action, expected):
    assert _answers(alice, action, sites) == expected


INVESTIGATOR_AT_A = [
    (Action.DECIDE_DLT, {"A": True, "B": False, "other": False}),
    (Action.SIGN_DATA, {"A": True, "B": False, "other": False}),
    (Action.ENTER_DATA, {"A": True, "B": False, "other": False}),
    (Action.RAISE_QUERY, {"A": False, "B": False, "other": False}),
]


@pytest.mark.parametrize(("action", "expected"), INVESTIGATOR_AT_A)
def test_an_investigator_decides_and_signs_for_his_own_site_only(bob, sites, action, expected):
    assert _answers(bob, action, sites) == expected


MONITOR_AT_A = [
    (Action.SEE_SUBJECTS, {"A": True, "B": False, "other": False}),
    (Action.RAISE_QUERY, {"A": True, "B": False, "other": False}),
    (Action.CLOSE_AUTOMATIC_QUERY, {"A": True, "B": False, "other": False}),
    (Action.VERIFY_SOURCE, {"A": True, "B": False, "other": False}),
    (Action.READ_AUDIT, {"A": True, "B": False, "other": False}),
    (Action.ENTER_DATA, {"A": False, "B": False, "other": False}),
    (Action.ANSWER_QUERY, {"A": False, "B": False, "other": False}),
    (Action.LOCK_DATA, {"A": False, "B": False, "other": False}),
]


@pytest.mark.parametrize(("action", "expected"), MONITOR_AT_A)
def test_a_monitor_reviews_the_sites_assigned_to_her_only(monitor, sites, action, expected):
    assert _answers(monitor, action, sites) == expected


DATA_MANAGER_OF_THE_STUDY = [
    (Action.ENTER_DATA, {"A": True, "B": True, "other": False}),
    (Action.RAISE_QUERY, {"A": True, "B": True, "other": False}),
    (Action.LOCK_DATA, {"A": True, "B": True, "other": False}),
    (Action.READ_AUDIT, {"A": True, "B": True, "other": False}),
    (Action.VERIFY_SOURCE, {"A": False, "B": False, "other": False}),
    (Action.DECIDE_DLT, {"A": False, "B": False, "other": False}),
]


@pytest.mark.parametrize(("action", "expected"), DATA_MANAGER_OF_THE_STUDY)
def test_a_data_manager_acts_on_every_site_of_her_study_only(data_manager, sites, action, expected):
    assert _answers(data_manager, action, sites) == expected


def test_study_level_rights_hold_in_the_users_studies_only(data_manager, study, other_study):
    for action in (Action.EXPORT, Action.SAFETY_REPORT):
        assert can(data_manager, action, study=study)
        assert not can(data_manager, action, study=other_study)


def test_a_sponsor_viewer_reads_the_study_and_changes_nothing(study, sites):
    sponsor = _user("sam", Role.SPONSOR_VIEWER, study, None)
    assert _answers(sponsor, Action.SEE_SUBJECTS, sites) == {"A": True, "B": True, "other": False}
    assert can(sponsor, Action.SAFETY_REPORT, study=study)
    for action in set(Action) - {Action.SEE_SUBJECTS, Action.SAFETY_REPORT}:
        assert not any(_answers(sponsor, action, sites).values()), action
        assert not can(sponsor, action), action


def test_a_superuser_is_an_administrator_of_every_study_but_signs_nothing(sites, other_study):
    root = get_user_model().objects.create_superuser("root", password="correct horse battery")
    everywhere = {"A": True, "B": True, "other": True}
    nowhere = {"A": False, "B": False, "other": False}
    for action, capability in CAPABILITIES.items():
        if action == Action.CLOSE_QUERY:
            continue
        assert _answers(root, action, sites) == (everywhere if capability.superusers else nowhere)
    assert can(root, Action.EXPORT, study=other_study)


def test_a_superuser_who_is_also_an_investigator_signs_at_every_site(sites):
    root = get_user_model().objects.create_superuser("root", password="correct horse battery")
    ensure_role_groups()
    root.groups.add(Group.objects.get(name=Role.INVESTIGATOR))
    assert _answers(root, Action.DECIDE_DLT, sites) == {"A": True, "B": True, "other": True}


def test_only_the_person_who_raised_a_query_closes_it(monitor, data_manager):
    assert can(monitor, Action.CLOSE_QUERY, raised_by=monitor)
    assert can(monitor, Action.CLOSE_QUERY, raised_by=monitor.pk)
    assert not can(data_manager, Action.CLOSE_QUERY, raised_by=monitor.pk)
    assert not can(monitor, Action.CLOSE_QUERY)


def test_without_a_site_can_asks_whether_the_role_holds_the_right_anywhere(alice, monitor):
    assert can(alice, Action.ENTER_DATA) and not can(alice, Action.RAISE_QUERY)
    assert can(monitor, Action.RAISE_QUERY) and not can(monitor, Action.ENTER_DATA)


def test_an_anonymous_user_may_do_nothing(db, site_a):
    for action in Action:
        assert not can(AnonymousUser(), action, site=site_a), action


def test_ensure_can_refuses_with_the_message_given(monitor, site_a):
    ensure_can(monitor, Action.VERIFY_SOURCE, site=site_a)
    with pytest.raises(PermissionDenied, match="Not yours."):
        ensure_can(monitor, Action.LOCK_DATA, site=site_a, message="Not yours.")


def test_each_roles_admin_group_gets_the_admin_permissions_of_the_table(db):
    ensure_role_groups()
    assert role_admin_permissions(Role.MONITOR) == ("view",)
    assert role_admin_permissions(Role.DATA_MANAGER) == ("view", "add", "change")
    assert role_admin_permissions(Role.RESEARCH_NURSE) == ()
    monitors = Group.objects.get(name=Role.MONITOR)
    codenames = set(monitors.permissions.values_list("codename", flat=True))
    assert codenames and all(name.startswith("view_") for name in codenames)
    assert not Group.objects.get(name=Role.RESEARCH_NURSE).permissions.exists()
