"""Random and hostile input posted to every data-entry form: very long strings, markup, SQL
fragments, control characters, wrong types, huge numbers.

Whatever comes in: no server error, either the whole form is saved or nothing is written, and
text shown back on the page is escaped. The fields are read from each form's own page, so a
field added later is attacked too.
"""

from __future__ import annotations

import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.test_url_access import ACCESS, SITE_STAFF, _project_urls, _snapshot, _url

MARKUP = "<script>alert('x')</script>"
HOSTILE = [
    MARKUP,
    '"><img src=x onerror=alert(1)>',
    "'; DROP TABLE ecrf_subject; --",
    "' OR '1'='1",
    "\x00",
    "a\x00b",
    "\x1b[31m\x07\x08",
    "\u202eevil",
    "x" * 10_000,
    "9" * 400,
    "-1e308",
    "1e309",
    "NaN",
    "Infinity",
    "-0",
    "2026-02-30",
    "9999-12-31",
    "0001-01-01",
    "00000000-0000-0000-0000-000000000000",
    "",
    " ",
    "true",
    "[]",
    "{}",
]
VALUES = st.one_of(st.sampled_from(HOSTILE), st.text(max_size=40))
FIELD_NAME = re.compile(r'<(?:input|select|textarea)[^>]*\bname="([^"]+)"')
FORM_PAGES = sorted(
    name for name, (may_get, may_post) in ACCESS.items() if may_get and may_post == SITE_STAFF
)


@pytest.fixture
def form_urls(site_a_records, study, site_a, alice):
    import datetime as dt

    from ecrf.services import subject_screen

    patterns = dict(_project_urls())
    urls = {name: _url(patterns[name], site_a_records) for name in FORM_PAGES}
    # Enrolment takes a subject still in screening.
    screened = subject_screen(
        study=study, site=site_a, subject_code="A-002", consent_on=dt.date(2026, 2, 1), by=alice
    )
    urls["subject_enrol"] = _url(patterns["subject_enrol"], {"subject_id": screened.pk})
    return urls


def _field_names(client, url):
    page = client.get(url).content.decode()
    return sorted(set(FIELD_NAME.findall(page)) - {"csrfmiddlewaretoken"})


@pytest.mark.parametrize("page", FORM_PAGES)
def test_hostile_input_is_refused_or_saved_whole_and_shown_escaped(
    page, client, alice, form_urls, fatigue_event
):
    client.force_login(alice)
    url = form_urls[page]
    names = _field_names(client, url)
    assert names, f"{page}: no form fields found on {url}"

    @settings(
        max_examples=25,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(data=st.fixed_dictionaries(dict.fromkeys(names, VALUES)))
    def post(data):
        before = _snapshot()
        # The test client raises any exception of the view: a server error fails the test.
        response = client.post(url, data)
        assert response.status_code in {200, 302, 400, 403, 409}, response.status_code
        if response.status_code != 302:
            assert _snapshot() == before, f"{page}: a refused form wrote data"
        body = response.content.decode(errors="replace")
        assert MARKUP not in body, f"{page}: markup came back unescaped"

    post()
