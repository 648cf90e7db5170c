"""manage.py import_adverse_events: the CTCAE grade rules hold in imports as in forms and
services (CTCAE v5.0: Fatigue grades 1-3, Eosinophilia 1 and 3 only), and a file with any bad
row writes nothing."""

import datetime as dt

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from ecrf.models import AdverseEvent, AuditEvent

HEADER = (
    "subject_id,ctcae_term,grade,onset_date,resolution_date,verbatim,serious_criteria,outcome,"
    "death_date,attribution_CTX,action_CTX,attribution_IM,action_IM,attribution_IL2,action_IL2,"
    "site_aware_at\n"
)
GOOD = [
    "A-001,Fatigue,3,2026-03-12,2026-03-20,,,recovered,,unlikely,none,possible,none,probable,reduced",
    "A-001,Chills,1,2026-03-11,,,,,,unrelated,none,unlikely,none,probable,none",
    "A-001,Capillary leak syndrome,3,2026-03-13,2026-03-18,,hospitalisation,recovered,,"
    "unlikely,none,possible,interrupted,definite,withdrawn,2026-03-13 18:45",
]


def _file(tmp_path, lines):
    path = tmp_path / "aes.csv"
    path.write_text(HEADER + "\n".join(lines) + "\n", encoding="utf-8")
    return str(path)


def _import(path):
    call_command("import_adverse_events", path, "--study", "TEST-IL2", "--by", "alice")


def test_a_clean_file_is_imported_through_the_services(tmp_path, subject, alice, capsys):
    _import(_file(tmp_path, GOOD))
    assert "Imported 3 adverse events" in capsys.readouterr().out
    leak = AdverseEvent.objects.get(ctcae_term="Capillary leak syndrome")
    assert leak.serious and leak.sae_hospitalisation
    # Without a UTC offset the time is the site's time zone's, as the forms take it.
    assert leak.site_aware_at == timezone.make_aware(dt.datetime(2026, 3, 13, 18, 45))
    assert leak.agent_assessments.get(agent__code="IL2").attribution == "definite"
    assert AuditEvent.objects.filter(object_id=str(leak.pk), actor="alice").exists()


@pytest.mark.parametrize(
    ("line", "message"),
    [
        (
            "A-001,Fatigue,4,2026-03-12,,,,,,unlikely,none,possible,none,probable,none",
            "aes.csv:5:grade: Grade 4 is not allowed for Fatigue in CTCAE v5.0; allowed grades: 1, 2, 3.",
        ),
        (
            "A-001,Eosinophilia,2,2026-03-12,,,,,,unlikely,none,possible,none,probable,none",
            "aes.csv:5:grade: Grade 2 is not allowed for Eosinophilia in CTCAE v5.0; allowed grades: 1, 3.",
        ),
        (
            "A-001,Fatige,1,2026-03-12,,,,,,unlikely,none,possible,none,probable,none",
            "aes.csv:5:ctcae_term: Unknown CTCAE v5.0 term 'Fatige'.",
        ),
        (
            "A-001,Fatigue,1,2026-03-12,2026-03-10,,,,,unlikely,none,possible,none,probable,none",
            "resolution date cannot come before the onset date",
        ),
        (
            "A-001,Fatigue,1,12/03/2026,,,,,,unlikely,none,possible,none,probable,none",
            "aes.csv:5:onset_date: '12/03/2026' is not a date (YYYY-MM-DD)",
        ),
        (
            "Z-999,Fatigue,1,2026-03-12,,,,,,unlikely,none,possible,none,probable,none",
            "aes.csv:5:subject_id: no subject 'Z-999' in this study",
        ),
        (
            "A-001,Fatigue,1,2026-03-12,,,,,,unlikely,none,possible,none,,none",
            "aes.csv:5:attribution_IL2: is required for every study agent",
        ),
        (
            "A-001,Fever,2,2026-03-12,,,hospitalised,,,unlikely,none,possible,none,probable,none",
            "aes.csv:5:serious_criteria: 'hospitalised' is not one of death, life_threatening",
        ),
        (
            "A-001,Fever,3,2026-03-12,,,hospitalisation,,,unlikely,none,possible,none,probable,none,",
            "aes.csv:5:site_aware_at: A serious adverse event needs the date and time the site "
            "became aware of it",
        ),
        (
            "A-001,Fever,3,2026-03-12,,,hospitalisation,,,unlikely,none,possible,none,probable,none,"
            "14/03/2026 09:00",
            "aes.csv:5:site_aware_at: '14/03/2026 09:00' is not a date and time (YYYY-MM-DD HH:MM)",
        ),
        (
            "A-001,Fever,3,2026-03-12,,,hospitalisation,,,unlikely,none,possible,none,probable,none,"
            "2026-03-11 22:00",
            "aes.csv:5:site_aware_at: The time the site became aware (2026-03-11 22:00) cannot "
            "come before the onset date (2026-03-12).",
        ),
    ],
)
def test_one_bad_row_is_named_and_nothing_is_written(tmp_path, subject, alice, line, message):
    before = (AdverseEvent.objects.count(), AuditEvent.objects.count())
    with pytest.raises(CommandError) as info:
        _import(_file(tmp_path, [*GOOD, line]))
    assert message in str(info.value)
    assert "nothing was written" in str(info.value)
    assert (AdverseEvent.objects.count(), AuditEvent.objects.count()) == before


def test_a_user_of_another_site_cannot_import_into_site_a(tmp_path, subject, charlie):
    with pytest.raises(CommandError, match="not assigned to this site"):
        call_command(
            "import_adverse_events", _file(tmp_path, GOOD), "--study", "TEST-IL2", "--by", "charlie"
        )
    assert AdverseEvent.objects.count() == 0


def test_a_file_without_the_required_columns_is_refused(tmp_path, subject, alice):
    path = tmp_path / "aes.csv"
    path.write_text("subject,term\nA-001,Fatigue\n", encoding="utf-8")
    with pytest.raises(CommandError, match="missing column"):
        _import(str(path))


# The optional grade history and supportive care columns

HISTORY_HEADER = (
    "subject_id,ctcae_term,grade,onset_date,resolution_date,grade_history,"
    "despite_supportive_care,attribution_CTX,action_CTX,attribution_IM,action_IM,"
    "attribution_IL2,action_IL2\n"
)
AGENTS = "unlikely,none,possible,none,probable,none"
WITH_HISTORY = [
    f"A-001,Capillary leak syndrome,3,2026-03-13,2026-03-20,2026-03-13:2;2026-03-16:3,yes,{AGENTS}",
    f"A-001,Fatigue,2,2026-03-12,,,no,{AGENTS}",
    f"A-001,Chills,1,2026-03-11,,,,{AGENTS}",
]


def _history_file(tmp_path, lines):
    path = tmp_path / "aes.csv"
    path.write_text(HISTORY_HEADER + "\n".join(lines) + "\n", encoding="utf-8")
    return str(path)


def test_the_grade_history_and_supportive_care_are_imported_through_the_services(
    tmp_path, subject, alice
):
    import datetime as dt

    from ecrf.models import AdverseEventGrade

    _import(_history_file(tmp_path, WITH_HISTORY))
    leak = AdverseEvent.objects.get(ctcae_term="Capillary leak syndrome")
    assert leak.despite_supportive_care is True
    assert list(leak.grade_changes.values_list("from_on", "grade")) == [
        (dt.date(2026, 3, 13), 2),
        (dt.date(2026, 3, 16), 3),
    ]
    steps = AdverseEventGrade.objects.filter(adverse_event=leak)
    assert AuditEvent.objects.filter(
        object_id__in=[str(step.pk) for step in steps],
        action="ecrf.adverseeventgrade.created",
        actor="alice",
    ).exists()
    others = AdverseEvent.objects.exclude(pk=leak.pk)
    assert [event.despite_supportive_care for event in others] == [False, False]
    assert not AdverseEventGrade.objects.exclude(adverse_event=leak).exists()


@pytest.mark.parametrize(
    ("line", "message"),
    [
        (
            f"A-001,Fever,2,2026-03-12,,2026-03-12:2;2026-03-14:3,no,{AGENTS}",
            "aes.csv:5:grade_history: grade_changes: the worst grade of the history (3) is not "
            "the event's grade (2).",
        ),
        (
            f"A-001,Fever,3,2026-03-12,2026-03-14,2026-03-12:2;2026-03-15:3,no,{AGENTS}",
            "aes.csv:5:grade_history: grade_changes: a step on 2026-03-15 comes after the "
            "resolution date (2026-03-14).",
        ),
        (
            f"A-001,Fever,3,2026-03-12,,2026-03-13:3,no,{AGENTS}",
            "aes.csv:5:grade_history: grade_changes: the first step (2026-03-13) must be on the "
            "onset date (2026-03-12).",
        ),
        (
            f"A-001,Fever,3,2026-03-12,,2026-03-12=2,no,{AGENTS}",
            "aes.csv:5:grade_history: '2026-03-12=2' is not a step: write each step as "
            "date:grade (YYYY-MM-DD:1-5), steps separated by semicolons.",
        ),
        (
            f"A-001,Fever,3,2026-03-12,,,maybe,{AGENTS}",
            "aes.csv:5:despite_supportive_care: 'maybe' is not yes or no",
        ),
    ],
)
def test_a_bad_history_or_supportive_care_cell_is_named_and_nothing_is_written(
    tmp_path, subject, alice, line, message
):
    from ecrf.models import AdverseEventGrade

    before = (AdverseEvent.objects.count(), AdverseEventGrade.objects.count())
    audits = AuditEvent.objects.count()
    with pytest.raises(CommandError) as info:
        _import(_history_file(tmp_path, [*WITH_HISTORY, line]))
    assert message in str(info.value)
    assert "nothing was written" in str(info.value)
    assert (AdverseEvent.objects.count(), AdverseEventGrade.objects.count()) == before
    assert AuditEvent.objects.count() == audits
