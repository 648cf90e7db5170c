"""Every URL of the project, for every role that lacks the right and for users of another site
or study: the answer is 403 or 404 (405 for a method the page does not take) and nothing is
written.

The URLs are enumerated from the URL configuration, so a new page is covered without anyone
remembering to add it: a URL missing from ACCESS, or with a parameter this test cannot fill,
fails the test until its rights are declared here. ICH E6(R2) 4.9 and 21 CFR 11.10(d): access
to the system is limited to authorised individuals.
"""

from __future__ import annotations

import pytest
from django.apps import apps
from django.db.models import Sum
from django.urls import get_resolver, reverse
from django.urls.resolvers import URLPattern, URLResolver

from tests.factories import user_create as _user

NURSE, INVESTIGATOR, MONITOR, DATA_MANAGER, SPONSOR = (
    "research_nurse",
    "investigator",
    "monitor",
    "data_manager",
    "sponsor_viewer",
)
EVERYONE = frozenset({NURSE, INVESTIGATOR, MONITOR, DATA_MANAGER, SPONSOR})
SITE_STAFF = frozenset({NURSE, INVESTIGATOR, DATA_MANAGER})  # who enters and corrects data
REVIEWERS = frozenset({MONITOR, DATA_MANAGER})
NOBODY = frozenset()

# URL name -> (roles that may GET it, roles that may POST to it). The README's permission
# matrix says the same in words.
ACCESS: dict[str, tuple[frozenset, frozenset]] = {
    "home": (EVERYONE, NOBODY),
    "subject_list": (EVERYONE, NOBODY),
    "subject_detail": (EVERYONE, NOBODY),
    "subject_register": (SITE_STAFF, SITE_STAFF),
    # The data-entry forms of a subject are readable by everyone who sees the subject; only
    # the site staff save them.
    "subject_enrol": (EVERYONE, SITE_STAFF),
    "visit_unscheduled": (EVERYONE, SITE_STAFF),
    "cycle_delay": (EVERYONE, SITE_STAFF),
    "visit_edit": (EVERYONE, SITE_STAFF),
    "dose_create": (EVERYONE, SITE_STAFF),
    "dose_edit": (EVERYONE, SITE_STAFF),
    "lab_grid": (EVERYONE, SITE_STAFF),
    "ae_create": (EVERYONE, SITE_STAFF),
    "ae_edit": (EVERYONE, SITE_STAFF),
    "ctcae_term_search": (EVERYONE, NOBODY),
    "audit_trail": (EVERYONE - {SPONSOR}, NOBODY),
    "dlt_dashboard": (EVERYONE, NOBODY),
    # The decision page shows the event and any signed decision to everyone who sees the subject.
    "dlt_decide": (EVERYONE, frozenset({INVESTIGATOR})),
    "safety_report": (frozenset({INVESTIGATOR, DATA_MANAGER, SPONSOR}), NOBODY),
    "subject_casebook_pdf": (EVERYONE, NOBODY),
    "export_list": (frozenset({DATA_MANAGER}), NOBODY),
    "export_file": (frozenset({DATA_MANAGER}), NOBODY),
    "two_factor": (EVERYONE, EVERYONE),
    "subject_review": (EVERYONE, NOBODY),
    "query_list": (EVERYONE, NOBODY),
    "query_detail": (EVERYONE, NOBODY),
    "query_raise": (REVIEWERS, REVIEWERS),
    "query_answer": (NOBODY, SITE_STAFF),
    # Only the person who raised a query closes or re-opens it (tests/test_views_oversight.py).
    "query_close": (NOBODY, NOBODY),
    "query_reopen": (NOBODY, NOBODY),
    "record_verify": (NOBODY, frozenset({MONITOR})),
    "record_lock": (NOBODY, frozenset({DATA_MANAGER})),
    "lock_release": (frozenset({DATA_MANAGER}), frozenset({DATA_MANAGER})),
    "sign_off": (frozenset({INVESTIGATOR}), frozenset({INVESTIGATOR})),
}
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
    undeclared = [name for name, _ in _project_urls() if name not in ACCESS]
    assert not undeclared, f"Declare who may use these URLs in ACCESS: {undeclared}"
    gone = set(ACCESS) - {name for name, _ in _project_urls()}
    assert not gone, f"ACCESS names URLs that no longer exist: {gone}"


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
        _user(f"other-{role}", role, other_study, None if role in REVIEWERS else other)
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


@pytest.mark.parametrize("role", sorted(EVERYONE))
def test_each_role_is_refused_what_it_lacks(client, study, site_a, site_a_records, role):
    """At its own site, a role gets 403/404/405 wherever ACCESS does not grant it the method."""
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
