"""One signature service for every electronic signature (21 CFR Part 11, 11.50 and 11.200): a
DLT decision and a data sign-off are refused with the same words and codes, and are bound to
the SHA-256 hash of what they sign."""

from __future__ import annotations

import hashlib

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from ecrf.auth.lockout import LOCKED_OUT, SIGNATURE_PASSWORD_FAILED
from ecrf.models import AuditEvent, Signature
from ecrf.selectors.signatures import content_hash, signed_data, signed_data_hash
from ecrf.services.dlt import dlt_decide
from ecrf.services.signatures import (
    CODE_PRINTED_NAME_REQUIRED,
    CODE_WRONG_PASSWORD,
    ONLY_SITE_INVESTIGATOR,
    PRINTED_NAME_REQUIRED,
    WRONG_PASSWORD,
)
from ecrf.services.signoff import signoff_sign

PASSWORD = "correct horse battery"


def _decide(event, by, **signature):
    return dlt_decide(assessment=event.dlt_assessment, decision="confirmed",
                      reason="Limiting fatigue", by=by, **signature)  # fmt: skip


def _sign_off(event, by, **signature):
    return signoff_sign(target=event.subject, by=by, **signature)


@pytest.fixture(params=[_decide, _sign_off], ids=["dlt decision", "sign-off"])
def sign(request):
    return request.param


def _codes(error: ValidationError) -> dict[str, list[str]]:
    return {name: [e.code for e in errors] for name, errors in error.error_dict.items()}


def test_a_wrong_password_and_no_printed_name_are_refused_with_one_wording_and_code(
    sign, fatigue_event, bob
):
    with pytest.raises(ValidationError) as refused:
        sign(fatigue_event, bob, password="guess", printed_name=" ")
    assert refused.value.message_dict == {
        "password": [WRONG_PASSWORD],
        "printed_name": [PRINTED_NAME_REQUIRED],
    }
    assert _codes(refused.value) == {
        "password": [CODE_WRONG_PASSWORD],
        "printed_name": [CODE_PRINTED_NAME_REQUIRED],
    }
    assert Signature.objects.count() == 0


def test_only_an_investigator_of_the_subjects_site_signs(sign, fatigue_event, alice):
    with pytest.raises(PermissionDenied, match=ONLY_SITE_INVESTIGATOR):
        sign(fatigue_event, alice, password=PASSWORD, printed_name="Alice")
    assert Signature.objects.count() == 0


def test_a_signature_keeps_the_printed_name_without_surrounding_spaces(sign, fatigue_event, bob):
    sign(fatigue_event, bob, password=PASSWORD, printed_name="  Dr Bob Baker ")
    assert Signature.objects.get().printed_name == "Dr Bob Baker"


def test_a_sign_off_is_bound_to_the_sha256_of_the_data_it_covers(fatigue_event, bob):
    signature = _sign_off(fatigue_event, bob, password=PASSWORD, printed_name="Dr Bob Baker")
    text = signed_data(fatigue_event.subject)
    assert signature.content_hash == hashlib.sha256(text.encode()).hexdigest()
    assert signature.content_hash == content_hash(text) == signed_data_hash(fatigue_event.subject)


def test_twelve_wrong_signature_passwords_lock_the_user_and_the_right_one_then_signs_nothing(
    sign, fatigue_event, bob
):
    """The probe's reproduction (12 wrong passwords, then the right one signed): from the 5th
    wrong password (settings.AXES_FAILURE_LIMIT) the user name is locked, each wrong password
    until then is an audit line, and the right password is refused with code locked_out."""
    for attempt in range(12):
        with pytest.raises(ValidationError) as refused:
            sign(fatigue_event, bob, password=f"guess {attempt}", printed_name="Dr Bob Baker")
        expected = CODE_WRONG_PASSWORD if attempt < 5 else LOCKED_OUT
        assert _codes(refused.value)["password"] == [expected]
    assert AuditEvent.objects.filter(action=SIGNATURE_PASSWORD_FAILED).count() == 5
    with pytest.raises(ValidationError) as refused:
        sign(fatigue_event, bob, password=PASSWORD, printed_name="Dr Bob Baker")
    assert _codes(refused.value)["password"] == [LOCKED_OUT]
    assert Signature.objects.count() == 0


def test_four_wrong_signature_passwords_do_not_stop_the_right_one(sign, fatigue_event, bob):
    for attempt in range(4):
        with pytest.raises(ValidationError):
            sign(fatigue_event, bob, password=f"guess {attempt}", printed_name="Dr Bob Baker")
    sign(fatigue_event, bob, password=PASSWORD, printed_name="Dr Bob Baker")
    assert Signature.objects.count() == 1
