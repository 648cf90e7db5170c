"""The admin shows and changes only the user's studies and sites: lists, change pages, form
choices and list filters; study assignments and user accounts are for superusers only.

These checks live here rather than in tests/test_url_access.py: that table is keyed by URL name
and one record id per page, while each admin page needs a record of its own model.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from django.urls import reverse

from ecrf.models import (
    AdverseEvent,
    AdverseEventAgent,
    Agent,
    AgentSchedule,
    AuditEvent,
    DltReviewQueue,
    DltRuleSet,
    DoseAdministration,
    DoseLevel,
    DoseLevelDose,
    LabResult,
    ReferenceRange,
    ScheduledVisit,
    Site,
    Study,
    StudyAssignment,
    Subject,
    Visit,
)
from tests.factories import fatigue_grade_3, study_create, subject_enrolled, user_create
from tests.views.test_admin import _site_data_manager, add_url, change_url, page_data

# Each admin model, and the path from its rows to their study.
STUDY_OF = {
    Study: "pk",
    Site: "study",
    Agent: "study",
    AgentSchedule: "agent__study",
    DoseLevel: "study",
    DoseLevelDose: "dose_level__study",
    ScheduledVisit: "study",
    StudyAssignment: "study",
    Subject: "study",
    Visit: "subject__study",
    DoseAdministration: "subject__study",
    AdverseEvent: "subject__study",
    AdverseEventAgent: "adverse_event__subject__study",
    LabResult: "subject__study",
    ReferenceRange: "site__study",
    DltReviewQueue: "adverse_event__subject__study",
    DltRuleSet: "study",
}
SUPERUSERS_ONLY = {StudyAssignment}


def test_every_admin_model_is_checked_here():
    registered = {m for m in admin.site._registry if m._meta.app_label == "ecrf"}
    assert registered == set(STUDY_OF) | {AuditEvent}


def first_study_rows(model, study):
    return model.objects.filter(**{STUDY_OF[model]: study.pk})


def changelist_url(model) -> str:
    return reverse(f"admin:ecrf_{model._meta.model_name}_changelist")


@pytest.fixture
def other_dm(client, study, site_a_records):
    """A data manager of study SECOND only (study-wide), signed in; the first study has records."""
    reference_range_at(study.sites.get(code="A"))
    second = study_create(code="SECOND")
    user = user_create("sam-second", "data_manager", second, None)
    user.is_staff = True
    user.save(update_fields=["is_staff"])
    client.force_login(user)
    return user


def reference_range_at(site) -> ReferenceRange:
    from ecrf.services import system_actor
    from ecrf.services.records import record_create

    return record_create(
        record=ReferenceRange(
            site=site,
            test_code="ALT",
            unit="U/L",
            lln=Decimal("0"),
            uln=Decimal("40"),
            effective_from=dt.date(2026, 1, 1),
        ),
        by=system_actor("test"),
    )


def counts() -> tuple:
    return (
        AuditEvent.objects.count(),
        *(model.objects.count() for model in STUDY_OF if model is not DltReviewQueue),
    )


def test_a_data_manager_of_another_study_cannot_assign_himself_to_the_first(
    client, other_dm, study
):
    before = counts()
    response = client.post(
        add_url(StudyAssignment), {"user": str(other_dm.pk), "study": str(study.pk), "site": ""}
    )
    assert response.status_code == 403
    assert not StudyAssignment.objects.filter(user=other_dm, study=study).exists()
    assert counts() == before


@pytest.mark.parametrize("model", list(STUDY_OF), ids=lambda m: m.__name__)
def test_a_data_manager_of_another_study_lists_none_of_the_first_study_s_rows(
    client, other_dm, study, model
):
    assert first_study_rows(model, study).exists()
    response = client.get(changelist_url(model))
    if model in SUPERUSERS_ONLY:
        assert response.status_code == 403
        return
    assert response.status_code == 200
    shown = {row.pk for row in response.context["cl"].queryset}
    assert not shown & set(first_study_rows(model, study).values_list("pk", flat=True))
    assert f">{study.code}<" not in response.content.decode()


@pytest.mark.parametrize("model", list(STUDY_OF), ids=lambda m: m.__name__)
def test_a_data_manager_of_another_study_opens_no_change_page_of_the_first_study(
    client, other_dm, study, model
):
    record = first_study_rows(model, study).first()
    expected = 403 if model in SUPERUSERS_ONLY else 404
    assert client.get(change_url(record)).status_code == expected
    history = reverse(f"admin:ecrf_{model._meta.model_name}_history", args=[record.pk])
    assert client.get(history).status_code == 404
    before = counts()
    response = client.post(change_url(record), {"change_reason": "hostile"})
    # A read-only page refuses any POST (403) before it looks for the record.
    assert response.status_code in (403, 404)
    assert counts() == before


def test_the_audit_trail_admin_shows_another_study_s_manager_none_of_the_first_study(
    client, other_dm, study
):
    first = set(Subject.objects.filter(study=study).values_list("pk", flat=True))
    response = client.get(changelist_url(AuditEvent))
    assert response.status_code == 200
    assert not {row.subject_id for row in response.context["cl"].queryset} & first


def _refused_on(response, field: str) -> None:
    assert response.status_code == 200, response.status_code
    assert field in response.context["adminform"].form.errors, response.context[
        "adminform"
    ].form.errors


def test_a_data_manager_of_another_study_adds_nothing_pointing_at_the_first_study(
    client, other_dm, study, subject
):
    site = study.sites.get(code="A")
    posts = {
        Subject: {"study": study.pk, "site": site.pk, "consent_on": "2026-02-01", "sex": "F"},
        DoseAdministration: {
            "subject": subject.pk,
            "agent": study.agents.get(code="IM").pk,
            "given_on": "2026-03-03",
            "given_dose": "400",
        },
        AdverseEvent: {"subject": subject.pk, "ctcae_term": "Nausea", "grade": "1"},
        LabResult: {"subject": subject.pk, "test_code": "ALT", "value": "30"},
    }
    for model, values in posts.items():
        data = page_data(client, add_url(model))
        data.update({name: str(value) for name, value in values.items()})
        before = counts()
        response = client.post(add_url(model), data)
        _refused_on(response, next(iter(values)))
        assert counts() == before, model.__name__


# A data manager assigned to site A only ----------------------------------------------------


@pytest.fixture
def site_a_dm(client, study, site_a, site_b, site_a_records, subject_b, charlie):
    """A data manager of site A only, signed in; site B has subjects, visits and an event."""
    enrolled = subject_enrolled(study, site_b, "B-002", by=charlie)
    fatigue_grade_3(enrolled, by=charlie)
    user = _site_data_manager(study, site_a)
    client.force_login(user)
    return user


def test_a_site_a_data_manager_sees_no_site_b_subject_code_in_any_admin_form(
    client, site_a_dm, subject
):
    pages = [
        add_url(model)
        for model in STUDY_OF
        if model not in SUPERUSERS_ONLY
        and client.get(add_url(model)).status_code == 200  # models with an add page
    ]
    pages += [
        change_url(record)
        for record in (
            subject,
            subject.visits.first(),
            DoseAdministration.objects.get(subject=subject),
            AdverseEvent.objects.filter(subject=subject).first(),
            LabResult.objects.get(subject=subject),
        )
    ]
    assert len(pages) >= 9
    for url in pages:
        page = client.get(url).content.decode()
        assert "B-001" not in page and "B-002" not in page, url
    assert "A-001" in client.get(add_url(DoseAdministration)).content.decode()


def test_posting_a_site_b_subject_is_refused_on_the_subject_field(
    client, site_a_dm, study, subject_b
):
    data = page_data(client, add_url(DoseAdministration))
    data.update(
        {
            "subject": str(subject_b.pk),
            "agent": str(study.agents.get(code="IM").pk),
            "given_on": "2026-03-03",
            "given_dose": "400",
        }
    )
    before = counts()
    _refused_on(client.post(add_url(DoseAdministration), data), "subject")
    assert counts() == before


# Users, groups and assignments: superusers only ---------------------------------------------


def test_staff_with_user_permissions_cannot_open_the_user_or_group_admin(client, data_manager):
    data_manager.user_permissions.add(*Permission.objects.filter(content_type__app_label="auth"))
    client.force_login(data_manager)
    user_admin = reverse("admin:auth_user_changelist")
    group_admin = reverse("admin:auth_group_changelist")
    assert client.get(user_admin).status_code == 403
    assert client.get(group_admin).status_code == 403
    assert client.get(reverse("admin:otp_totp_totpdevice_changelist")).status_code == 403
    assert client.get(reverse("admin:auth_user_change", args=[data_manager.pk])).status_code == 403
    response = client.post(
        reverse("admin:auth_user_change", args=[data_manager.pk]),
        {"username": "dana", "is_superuser": "on", "is_staff": "on", "is_active": "on"},
    )
    assert response.status_code == 403
    data_manager.refresh_from_db()
    assert not data_manager.is_superuser
    assert Group.objects.filter(name="data_manager").exists()


def test_a_superuser_still_manages_users_groups_and_assignments(client, study):
    root = get_user_model().objects.create_superuser("root", password="x")
    client.force_login(root)
    for url in (
        reverse("admin:auth_user_changelist"),
        reverse("admin:auth_group_changelist"),
        reverse("admin:otp_totp_totpdevice_changelist"),
        changelist_url(StudyAssignment),
        add_url(StudyAssignment),
    ):
        assert client.get(url).status_code == 200, url


def test_the_admin_autocomplete_lists_only_the_user_s_studies(client, other_dm, study):
    response = client.get(
        reverse("admin:autocomplete"),
        {"term": "", "app_label": "ecrf", "model_name": "subject", "field_name": "study"},
    )
    assert response.status_code == 200
    shown = {row["text"] for row in response.json()["results"]}
    assert shown == {"SECOND"}
