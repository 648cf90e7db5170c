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
    CODE_NO_FULL_NAME,
    CODE_WRONG_PASSWORD,
    NO_FULL_NAME,
    ONLY_SITE_INVESTIGATOR,
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


def test_a_wrong_password_is_refused_with_one_wording_and_code(sign, fatigue_event, bob):
    with pytest.raises(ValidationError) as refused:
        sign(fatigue_event, bob, password="guess")
    assert refused.value.message_dict == {"password": [WRONG_PASSWORD]}
    assert _codes(refused.value) == {"password": [CODE_WRONG_PASSWORD]}
    assert Signature.objects.count() == 0


def test_only_an_investigator_of_the_subjects_site_signs(sign, fatigue_event, alice):
    with pytest.raises(PermissionDenied, match=ONLY_SITE_INVESTIGATOR):
        sign(fatigue_event, alice, password=PASSWORD)
    assert Signature.objects.count() == 0


def test_the_signature_shows_the_full_name_of_the_signers_account(sign, fatigue_event, bob):
    """21 CFR 11.50(a)(1): the printed name of the signer, from the account, never typed."""
    sign(fatigue_event, bob, password=PASSWORD)
    assert Signature.objects.get().printed_name == bob.get_full_name() == "Bob Baker"


def test_the_service_takes_no_typed_printed_name(sign, fatigue_event, bob):
    """Every caller (pages, admin, API, commands) signs with the account's name: the service
    has no parameter through which another name could come in."""
    with pytest.raises(TypeError):
        sign(fatigue_event, bob, password=PASSWORD, printed_name="Mickey Mouse")
    assert Signature.objects.count() == 0


def test_an_account_with_no_full_name_cannot_sign_and_nothing_is_written(sign, fatigue_event, bob):
    """Refused before the password is read: not even a failed-password line is written."""
    bob.first_name, bob.last_name = " ", ""
    bob.save(update_fields=["first_name", "last_name"])
    audit_lines = AuditEvent.objects.count()
    for password in (PASSWORD, "guess"):
        with pytest.raises(ValidationError) as refused:
            sign(fatigue_event, bob, password=password)
        assert refused.value.message_dict == {"printed_name": [NO_FULL_NAME]}
        assert _codes(refused.value) == {"printed_name": [CODE_NO_FULL_NAME]}
    assert Signature.objects.count() == 0
    assert AuditEvent.objects.count() == audit_lines


def test_a_sign_off_is_bound_to_the_sha256_of_the_data_it_covers(fatigue_event, bob):
    signature = _sign_off(fatigue_event, bob, password=PASSWORD)
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
            sign(fatigue_event, bob, password=f"guess {attempt}")
        expected = CODE_WRONG_PASSWORD if attempt < 5 else LOCKED_OUT
        assert _codes(refused.value)["password"] == [expected]
    assert AuditEvent.objects.filter(action=SIGNATURE_PASSWORD_FAILED).count() == 5
    with pytest.raises(ValidationError) as refused:
        sign(fatigue_event, bob, password=PASSWORD)
    assert _codes(refused.value)["password"] == [LOCKED_OUT]
    assert Signature.objects.count() == 0


def test_four_wrong_signature_passwords_do_not_stop_the_right_one(sign, fatigue_event, bob):
    for attempt in range(4):
        with pytest.raises(ValidationError):
            sign(fatigue_event, bob, password=f"guess {attempt}")
    sign(fatigue_event, bob, password=PASSWORD)
    assert Signature.objects.count() == 1
