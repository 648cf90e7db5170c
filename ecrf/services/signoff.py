"""Investigator sign-off of a visit or a whole casebook (21 CFR Part 11, 11.50 and 11.70).

A signature records the password re-entered, the account's printed name, the UTC time and its meaning, and
is bound to a SHA-256 hash of the data signed (one signature service: `.signatures`). When the data changes later the hash no longer
matches: the signature shows as invalidated by the first change after it, until signed again.
"""

from __future__ import annotations

from django.db import models, transaction

from ..models import Signature, Subject
from ..selectors.signatures import signed_data
from .audit import as_actor, write_audit
from .locking import label_of
from .signatures import signature_check, signature_sign

MEANING_REVIEWED = "I have reviewed these data and they are accurate."


def _subject_of(target: models.Model) -> Subject:
    return target if isinstance(target, Subject) else target.subject


def signoff_sign(*, target: models.Model, by, password: str) -> Signature:
    """An investigator signs a visit or a subject's whole casebook (ecrf.services.signatures)."""
    actor = as_actor(by)
    printed_name = signature_check(
        actor=actor,
        subject=_subject_of(target),
        target=target,
        password=password,
    )
    with transaction.atomic(durable=True):
        signature = signature_sign(
            actor=actor,
            target=target,
            meaning=MEANING_REVIEWED,
            content=signed_data(target),
            printed_name=printed_name,
        )
        write_audit(
            record=target,
            actor=actor,
            action=f"{label_of(target).lower()}.signed",
            changes=[("signature", None, f"{printed_name}: {MEANING_REVIEWED}")],
        )
    return signature
