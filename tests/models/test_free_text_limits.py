"""Every free text a user types has a maximum length, in the model (refused by full_clean with
the field named), in the form (a maxlength attribute and a form error) and in the imports
(issue #22: a 1.9 MB DLT decision reason made the safety summary and the casebook PDF time out).
"""

from __future__ import annotations

import datetime as dt

import pytest
from django.apps import apps
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command
from django.core.validators import MaxLengthValidator
from django.db import models
from django.urls import reverse

from ecrf.forms.base import RecordForm
from ecrf.forms.dlt import DltDecisionForm
from ecrf.forms.oversight import QueryCloseForm, QueryRaiseForm, QueryStepForm, UnlockForm
from ecrf.forms.subjects import VisitForm
from ecrf.models import (
    AdverseEvent,
    AuditEvent,
    CtcaeTermDescription,
    DataLock,
    DataQuery,
    DataQueryMessage,
    DltAssessment,
    Signature,
)
from ecrf.models.limits import TEXT_MAX
from ecrf.services import ae_record
from ecrf.services.locking import lock_place, lock_remove
from ecrf.services.queries import WARNINGS_ACCEPTED, query_answer, query_raise

PASSWORD = "correct horse battery"
TOO_LONG = "x" * (TEXT_MAX + 1)

# Reference text loaded from the NCI CTCAE file by a command, never typed into the eCRF.
REFERENCE_TEXT = {CtcaeTermDescription}


def _text_fields():
    for model in apps.get_app_config("ecrf").get_models():
        if model in REFERENCE_TEXT or model._meta.proxy:
            continue
        for field in model._meta.get_fields():
            if isinstance(field, models.CharField | models.TextField):
                yield model, field


def _written():
    return (
        DataQuery.objects.count(),
        DataQueryMessage.objects.count(),
        DataLock.objects.filter(locked=True).count(),
        Signature.objects.count(),
        AuditEvent.objects.count(),
    )


@pytest.fixture
def fatigue(subject, alice):
    """Fatigue grade 3, possibly related to IL-2: a potential DLT waiting for a decision."""
    return ae_record(
        subject=subject,
        ctcae_term="Fatigue",
        grade=3,
        onset_on=dt.date(2026, 3, 13),
        resolved_on=dt.date(2026, 3, 23),
        outcome="recovered",
        assessments={
            "CTX": ("unrelated", "none"),
            "IM": ("unlikely", "none"),
            "IL2": ("possible", "interrupted"),
        },
        by=alice,
    )


def test_every_text_field_of_the_models_has_a_maximum_that_full_clean_enforces():
    unbounded = [
        f"{model.__name__}.{field.name}"
        for model, field in _text_fields()
        if field.max_length is None
        or not any(isinstance(v, MaxLengthValidator) for v in field.validators)
    ]
    assert unbounded == []


def test_full_clean_refuses_an_over_long_decision_reason_naming_the_field(fatigue):
    assessment = DltAssessment.objects.get(adverse_event=fatigue)
    assessment.decision_reason = TOO_LONG
    with pytest.raises(ValidationError) as info:
        assessment.full_clean()
    assert list(info.value.message_dict) == ["decision_reason"]
    assert f"at most {TEXT_MAX} characters" in info.value.message_dict["decision_reason"][0]


def test_the_audit_trail_holds_the_longest_value_and_reason_a_form_accepts():
    audit = {
        f.name: f.max_length for f in AuditEvent._meta.get_fields() if hasattr(f, "max_length")
    }
    longest_value = max(
        field.max_length for model, field in _text_fields() if model is not AuditEvent
    )
    assert audit["old_value"] >= longest_value and audit["new_value"] >= longest_value
    # Reasons written to the audit trail as they were typed.
    typed = [
        DltDecisionForm.base_fields["reason"].max_length,
        UnlockForm.base_fields["reason"].max_length,
        QueryRaiseForm.base_fields["message"].max_length,
        QueryStepForm.base_fields["message"].max_length,
        QueryCloseForm.base_fields["message"].max_length,
    ]
    # A data-entry save: reason for change | edit-check warnings accepted (...): override reason.
    change = RecordForm.base_fields["change_reason"].max_length
    override = RecordForm.base_fields["override_reason"].max_length
    warnings_room = 1000
    composed = change + len(" | ") + len(WARNINGS_ACCEPTED) + warnings_room + override
    assert audit["reason"] >= max([*typed, composed])


@pytest.mark.parametrize(
    ("form", "name"),
    [
        (DltDecisionForm, "reason"),
        (QueryRaiseForm, "message"),
        (QueryStepForm, "message"),
        (UnlockForm, "reason"),
    ],
)
def test_the_forms_show_the_limit_as_a_maxlength_attribute(form, name):
    field = form.base_fields[name]
    assert field.max_length is not None and field.max_length <= TEXT_MAX
    assert field.widget_attrs(field.widget)["maxlength"] == str(field.max_length)


def test_an_over_long_missed_visit_reason_is_a_form_error(subject):
    visit = subject.visits.first()
    form = VisitForm(
        data={"status": "missed", "missed_reason": "x" * 201}, visit=visit, editing=False
    )
    assert not form.is_valid()
    assert "at most 200 characters" in form.errors["missed_reason"][0]


def test_an_over_long_dlt_reason_is_refused_on_the_page_and_nothing_is_signed(client, bob, fatigue):
    client.force_login(bob)
    url = reverse("dlt_decide", args=[fatigue.dlt_assessment.pk])
    assert f'maxlength="{TEXT_MAX}"' in client.get(url).content.decode()
    before = _written()
    response = client.post(
        url,
        {
            "decision": "confirmed",
            "reason": "y" * 1_900_000,
            "password": PASSWORD,
        },
    )
    assert response.status_code == 200
    assert list(response.context["form"].errors) == ["reason"]
    assert f"at most {TEXT_MAX} characters" in response.context["form"].errors["reason"][0]
    assert _written() == before
    assert DltAssessment.objects.get(adverse_event=fatigue).decision_reason == ""


def test_an_over_long_query_message_is_refused_and_nothing_is_written(
    client, monitor, alice, event
):
    client.force_login(monitor)
    before = _written()
    response = client.post(
        reverse("query_raise", args=["ae", event.pk]), {"field": "grade", "message": TOO_LONG}
    )
    assert response.status_code == 200
    assert list(response.context["form"].errors) == ["message"]
    assert _written() == before
    query = query_raise(record=event, field="grade", message="Grade 1?", by=monitor)
    client.force_login(alice)
    before = _written()
    response = client.post(
        reverse("query_answer", args=[query.pk]),
        {"message": TOO_LONG, "loaded_version": query.version},
    )
    assert response.status_code == 200
    assert list(response.context["form"].errors) == ["message"]
    assert _written() == before


def test_an_over_long_unlock_reason_is_refused_and_the_lock_stays(client, data_manager, event):
    lock = lock_place(target=event.subject, by=data_manager)
    client.force_login(data_manager)
    before = _written()
    response = client.post(reverse("lock_release", args=[lock.pk]), {"reason": TOO_LONG})
    assert response.status_code == 200
    assert list(response.context["form"].errors) == ["reason"]
    assert _written() == before
    lock.refresh_from_db()
    assert lock.locked and lock.unlock_reason == ""


def test_an_over_long_verbatim_in_an_import_is_named_and_nothing_is_written(
    tmp_path, subject, alice
):
    header = (
        "subject_id,ctcae_term,grade,onset_date,verbatim,"
        "attribution_CTX,action_CTX,attribution_IM,action_IM,attribution_IL2,action_IL2\n"
    )
    row = f"A-001,Fatigue,1,2026-03-12,{'v' * 301},unlikely,none,possible,none,probable,none\n"
    path = tmp_path / "aes.csv"
    path.write_text(header + row, encoding="utf-8")
    with pytest.raises(CommandError) as info:
        call_command("import_adverse_events", str(path), "--study", "TEST-IL2", "--by", "alice")
    assert "aes.csv:2:verbatim:" in str(info.value)
    assert "at most 300 characters" in str(info.value)
    assert AdverseEvent.objects.count() == 0


def test_the_query_and_unlock_services_refuse_over_long_text_whoever_calls_them(
    monitor, alice, data_manager, event
):
    """The services hold the limit too, not only the forms (an import, a command or an API
    client calls the service directly)."""
    before = _written()
    with pytest.raises(ValidationError) as refused:
        query_raise(record=event, field="grade", message=TOO_LONG, by=monitor)
    assert [e.code for e in refused.value.error_dict["message"]] == ["too_long"]
    query = query_raise(record=event, field="grade", message="x" * TEXT_MAX, by=monitor)
    with pytest.raises(ValidationError) as refused:
        query_answer(query=query, message=TOO_LONG, by=alice)
    assert [e.code for e in refused.value.error_dict["message"]] == ["too_long"]
    lock = lock_place(target=event.subject, by=data_manager)
    with pytest.raises(ValidationError) as refused:
        lock_remove(lock=lock, reason=TOO_LONG, by=data_manager)
    assert [e.code for e in refused.value.error_dict["reason"]] == ["too_long"]
    lock.refresh_from_db()
    assert lock.locked
    assert DataQuery.objects.count() == before[0] + 1
