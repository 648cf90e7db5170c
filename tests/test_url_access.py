"""Every URL of the project, for every role that lacks the right and for users of another site
or study: the answer is 403 or 404 (405 for a method the page does not take) and nothing is
written.

The URLs are enumerated from the URL configuration, so a new page is covered without anyone
remembering to add it: a URL missing from RIGHTS, or with a parameter this test cannot fill,
fails the test until the Action it needs is declared in RIGHTS. The roles that hold each Action
are read from `ecrf.access.CAPABILITIES`, the table the code enforces. ICH E6(R2) 4.9 and
21 CFR 11.10(d): access to the system is limited to authorised individuals.
"""

from __future__ import annotations

import pytest
from django.apps import apps
from django.db.models import Sum
from django.urls import get_resolver, reverse
from django.urls.resolvers import URLPattern, URLResolver

from ecrf.access import CAPABILITIES, Action
from tests.factories import user_create as _user

NURSE, INVESTIGATOR, MONITOR, DATA_MANAGER, SPONSOR = (
    "research_nurse",
    "investigator",
    "monitor",
    "data_manager",
    "sponsor_viewer",
)
EVERYONE = frozenset({NURSE, INVESTIGATOR, MONITOR, DATA_MANAGER, SPONSOR})
NOBODY = frozenset()
# Pages any signed-in user reaches whatever their role: they show nothing of a subject.
SIGNED_IN = "signed in"
# Pages of a requested file: only the user who asked for it, whatever their role (the job of
# site_a_records is the data manager's, a user this test does not sign in as).
REQUESTER = "the requester only"
# The users of another study assigned to the whole of it (the others to its site A).
STUDY_WIDE = frozenset({MONITOR, DATA_MANAGER})

# URL name -> (the Action a GET needs, the Action a POST needs); None: the page refuses that
# method to everyone. Which roles hold each Action comes from access.CAPABILITIES, the table the
# code enforces, so this test and the code cannot drift.
RIGHTS: dict[str, tuple[Action | str | None, Action | str | None]] = {
    "home": (Action.SEE_SUBJECTS, None),
    "subject_list": (Action.SEE_SUBJECTS, None),
    "subject_detail": (Action.SEE_SUBJECTS, None),
    "subject_register": (Action.ENTER_DATA, Action.ENTER_DATA),
    # The data-entry forms of a subject are readable by everyone who sees the subject; only
    # the site staff save them.
    "subject_enrol": (Action.SEE_SUBJECTS, Action.ENTER_DATA),
    "visit_unscheduled": (Action.SEE_SUBJECTS, Action.ENTER_DATA),
    "cycle_delay": (Action.SEE_SUBJECTS, Action.ENTER_DATA),
    "treatment_end": (Action.SEE_SUBJECTS, Action.ENTER_DATA),
    "visit_edit": (Action.SEE_SUBJECTS, Action.ENTER_DATA),
    "dose_create": (Action.SEE_SUBJECTS, Action.ENTER_DATA),
    "dose_range_create": (Action.SEE_SUBJECTS, Action.ENTER_DATA),
    "dose_edit": (Action.SEE_SUBJECTS, Action.ENTER_DATA),
    "lab_grid": (Action.SEE_SUBJECTS, Action.ENTER_DATA),
    "ae_create": (Action.SEE_SUBJECTS, Action.ENTER_DATA),
    "ae_edit": (Action.SEE_SUBJECTS, Action.ENTER_DATA),
    "ctcae_term_search": (SIGNED_IN, None),
    "audit_trail": (Action.READ_AUDIT, None),
    "dlt_dashboard": (Action.SEE_SUBJECTS, None),
    # The decision page shows the event and any signed decision to everyone who sees the subject.
    "dlt_decide": (Action.SEE_SUBJECTS, Action.DECIDE_DLT),
    # Ruling out an unreconciled lab toxicity: the same rights as a DLT decision.
    "lab_toxicity_rule_out": (Action.SEE_SUBJECTS, Action.DECIDE_DLT),
    "safety_report": (Action.SAFETY_REPORT, Action.SAFETY_REPORT),
    "subject_casebook_pdf": (Action.SEE_SUBJECTS, Action.SEE_SUBJECTS),
    "export_list": (Action.EXPORT, None),
    # GET shows the request form, POST asks for the file (a background job).
    "export_file": (Action.EXPORT, Action.EXPORT),
    "report_job": (REQUESTER, None),
    "report_job_file": (REQUESTER, None),
    "two_factor": (SIGNED_IN, SIGNED_IN),
    "password_change": (SIGNED_IN, SIGNED_IN),
    "subject_review": (Action.SEE_SUBJECTS, None),
    "query_list": (Action.SEE_SUBJECTS, None),
    "query_detail": (Action.SEE_SUBJECTS, None),
    "query_raise": (Action.RAISE_QUERY, Action.RAISE_QUERY),
    "query_answer": (None, Action.ANSWER_QUERY),
    # The query of site_a_records is a manual one raised by another user: only that user closes
    # or re-opens it, so every role here is refused (tests/views/test_oversight.py).
    "query_close": (None, Action.CLOSE_QUERY),
    "query_reopen": (None, Action.CLOSE_QUERY),
    "record_verify": (None, Action.VERIFY_SOURCE),
    "record_lock": (None, Action.LOCK_DATA),
    # Retiring a record is a change of clinical data: only the site staff see the form.
    "record_entered_in_error": (Action.ENTER_DATA, Action.ENTER_DATA),
    "lock_release": (Action.LOCK_DATA, Action.LOCK_DATA),
    "sign_off": (Action.SIGN_DATA, Action.SIGN_DATA),
}


def allowed_roles(need: Action | str | None) -> frozenset:
    """The roles of this test that hold `need`, as access.CAPABILITIES says."""
    if need is None or need == REQUESTER:
        return NOBODY
    if need == SIGNED_IN:
        return EVERYONE
    return frozenset(CAPABILITIES[need].holders) & EVERYONE


# Parts of a page that need more than the page: (URL name, query string) -> the Action a GET
# needs. The URL resolver cannot list them, so each is declared here.
QUERY_RIGHTS: dict[tuple[str, str], Action] = {
    # The casebook's record-level audit trail (old and new values, users).
    ("subject_detail", "tab=audit"): Action.READ_AUDIT,
}

# URL name -> (roles that may GET it, roles that may POST to it).
ACCESS: dict[str, tuple[frozenset, frozenset]] = {
    name: (allowed_roles(get), allowed_roles(post)) for name, (get, post) in RIGHTS.items()
}
SITE_STAFF = allowed_roles(Action.ENTER_DATA)  # who enters and corrects data
# Parameters that differ for one URL: sign-off takes a subject or a visit.
URL_PARAMETERS = {"sign_off": {"kind": "subject", "record_id": "subject_id"}}
# Pages every signed-in user (or anyone) reaches by design.
NOT_CHECKED = {"login", "logout"}
REFUSED = {403, 404, 405}


def _patterns(resolvers, prefix=""):
    for entry in resolvers:
        if isinstance(entry, URLResolver):
            if getattr(entry, "app_name", None) == "admin":
                continue  # the admin has its own model permissions, tested in test_admin*
            yield from _patterns(entry.url_patterns, prefix + str(entry.pattern))
        elif isinstance(entry, URLPattern) and entry.name not in NOT_CHECKED:
            yield entry


def _project_urls():
    return sorted({p.name: p for p in _patterns(get_resolver().url_patterns)}.items())


@pytest.fixture
def other_study(db, definition):
    from ecrf.imports.study_definition import parse_study_definition
    from ecrf.services import study_load, system_actor

    definition["code"] = "OTHER-IL2"
    loaded, _ = study_load(
        definition=parse_study_definition(definition), by=system_actor("test"), source="test"
    )
    return loaded


def _snapshot():
    """Row counts and version totals of every table of the project: any write changes it."""
    state = []
    for model in apps.get_app_config("ecrf").get_models():
        if model._meta.proxy:
            continue
        queryset = model._base_manager.all()
        total = queryset.count()
        versions = (
            queryset.aggregate(v=Sum("version"))["v"]
            if any(f.name == "version" for f in model._meta.fields)
            else None
        )
        state.append((model._meta.label, total, versions))
    return state


def _url(pattern, records):
    records = {
        **records,
        **{
            name: records[source]
            for name, source in URL_PARAMETERS.get(pattern.name, {}).items()
            if source in records
        },
        **{
            name: value
            for name, value in URL_PARAMETERS.get(pattern.name, {}).items()
            if value not in records
        },
    }
    needed = list(pattern.pattern.regex.groupindex)
    missing = [name for name in needed if name not in records]
    assert not missing, (
        f"{pattern.name}: teach tests/test_url_access.py how to fill {missing} "
        "(add a site A record to site_a_records)"
    )
    return reverse(pattern.name, kwargs={name: records[name] for name in needed})


def _refused(client, user, url, method):
    client.force_login(user)
    before = _snapshot()
    response = client.get(url) if method == "GET" else client.post(url, {})
    assert response.status_code in REFUSED, f"{method} {url} as {user}: {response.status_code}"
    assert _snapshot() == before, f"{method} {url} as {user} wrote data"


def test_every_url_has_declared_rights():
    undeclared = [name for name, _ in _project_urls() if name not in RIGHTS]
    assert not undeclared, f"Declare the Action these URLs need in RIGHTS: {undeclared}"
    gone = set(RIGHTS) - {name for name, _ in _project_urls()}
    assert not gone, f"RIGHTS names URLs that no longer exist: {gone}"


def test_users_of_another_site_or_study_reach_nothing_of_site_a(
    client, study, site_b, other_study, site_a_records
):
    """Charlie's site B colleagues and everyone of another study get 403/404 on every URL that
    names a site A record, and on every study-level URL of a study they are not in."""
    outsiders = [
        _user("charlie", NURSE, study, site_b),
        _user("bruno", INVESTIGATOR, study, site_b),
        _user("maria", MONITOR, study, site_b),
    ]
    other = other_study.sites.get(code="A")
    strangers = [
        _user(f"other-{role}", role, other_study, None if role in STUDY_WIDE else other)
        for role in sorted(EVERYONE)
    ]
    checked = 0
    for _name, pattern in _project_urls():
        needed = set(pattern.pattern.regex.groupindex)
        if not needed & {*site_a_records} - {"panel", "fmt"}:
            continue  # no record in the URL
        url = _url(pattern, site_a_records)
        study_level = needed & {"study_id"} and not needed & {"subject_id", "visit_id"}
        users = strangers if study_level else outsiders + strangers
        for user in users:
            for method in ("GET", "POST"):
                _refused(client, user, url, method)
                checked += 1
    assert checked > 50


def test_users_assigned_in_two_studies_reach_only_what_each_assignment_gives(
    client, study, site_b, other_study, site_a_records
):
    """A user of every role assigned in two studies: in the other study (its site A, or all of
    it for the study-wide roles) and at site B of this one. Holding a role in another study
    gives nothing of this study's site A: every URL naming a site A subject or record is
    refused, and nothing is written. (Roles are the user's, the same in every study they are
    assigned to; the assignments say where.)"""
    from ecrf.models import StudyAssignment

    other = other_study.sites.get(code="A")
    users = []
    for role in sorted(EVERYONE):
        user = _user(f"two-{role}", role, other_study, None if role in STUDY_WIDE else other)
        StudyAssignment.objects.create(user=user, study=study, site=site_b)
        users.append(user)
    checked = 0
    for _name, pattern in _project_urls():
        needed = set(pattern.pattern.regex.groupindex)
        if not needed & {*site_a_records} - {"study_id", "kind", "panel", "fmt"}:
            continue  # not a site A record: the study-level pages are theirs through site B
        url = _url(pattern, site_a_records)
        for user in users:
            for method in ("GET", "POST"):
                _refused(client, user, url, method)
                checked += 1
    assert checked > 50


@pytest.mark.parametrize("role", sorted(EVERYONE))
def test_each_role_is_refused_what_it_lacks(client, study, site_a, site_a_records, role):
    """At its own site, a role gets 403/404/405 wherever the Action a method needs is not one it
    holds."""
    user = _user(f"user-{role}", role, study, None if role in {DATA_MANAGER, SPONSOR} else site_a)
    checked = 0
    for name, pattern in _project_urls():
        url = _url(pattern, site_a_records)
        may_get, may_post = ACCESS[name]
        if role not in may_get:
            _refused(client, user, url, "GET")
            checked += 1
        if role not in may_post:
            _refused(client, user, url, "POST")
            checked += 1
    assert checked > 0


@pytest.mark.parametrize("role", sorted(EVERYONE))
def test_each_role_gets_the_parts_of_a_page_it_holds_and_is_refused_the_others(
    client, study, site_a, site_a_records, role
):
    """At its own site, a role reads a page part (`?tab=audit`) when it holds the Action the
    part needs, and gets 403 otherwise."""
    user = _user(f"user-{role}", role, study, None if role in {DATA_MANAGER, SPONSOR} else site_a)
    client.force_login(user)
    patterns = dict(_project_urls())
    for (name, query), need in QUERY_RIGHTS.items():
        url = _url(patterns[name], site_a_records)
        response = client.get(f"{url}?{query}")
        expected = 200 if role in allowed_roles(need) else 403
        assert response.status_code == expected, f"GET {url}?{query} as {role}"
