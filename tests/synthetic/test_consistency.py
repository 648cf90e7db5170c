"""generate_synthetic makes only data that passes the consistency checks (issue #12): no term
the subject's sex or age rules out ("Death neonatal" for a man born in 1977), attributions only
to agents already given, actions taken that show in the doses, and events of a CTCAE term with
a lab criterion backed by a result of their grade."""

from __future__ import annotations

import datetime as dt

import pytest

from ecrf.models import AdverseEvent, AdverseEventAgent, DoseAdministration, LabResult
from ecrf.safety.consistency import LAB_TERM_TESTS
from ecrf.selectors.consistency import consistency_rows
from ecrf.synthetic.trial import generate_trial, reference_date


def _assert_consistent(study, seed):
    assert consistency_rows(study, reference_date(seed) + dt.timedelta(days=1)) == []
    events = AdverseEvent.objects.filter(subject__study=study)
    # The checks had something to check.
    assert events.filter(ctcae_term__in=list(LAB_TERM_TESTS)).exists()
    assert AdverseEventAgent.objects.filter(
        adverse_event__in=events, action_taken__in=["reduced", "interrupted", "withdrawn"]
    ).exists()
    assert AdverseEventAgent.objects.filter(
        adverse_event__in=events, agent__code="IL2", attribution__in=["probable", "definite"]
    ).exists()
    assert DoseAdministration.objects.filter(
        subject__study=study, reason__startswith="Withheld for"
    ).exists()


@pytest.mark.django_db
def test_a_small_synthetic_trial_passes_the_consistency_checks():
    study = generate_trial(subjects=6, seed=7, events_per_subject=20, labs_per_subject=40)
    assert LabResult.objects.filter(subject__study=study).count() == 6 * 40
    _assert_consistent(study, 7)


@pytest.mark.django_db
def test_the_60_subject_trial_of_seed_3_passes_the_consistency_checks():
    """The trial of `manage.py generate_synthetic --subjects 60 --seed 3`."""
    study = generate_trial(subjects=60, seed=3)
    _assert_consistent(study, 3)
