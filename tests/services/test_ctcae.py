"""manage.py load_ctcae PATH loads NCI's grade descriptions from the user's official workbook."""

from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from ecrf.models import CtcaeTermDescription
from ecrf.services.ctcae import ctcae_grade_descriptions

SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "ctcae"
needs_workbook = pytest.mark.skipif(
    not SHARED.is_dir(), reason=f"the NCI CTCAE v5.0 files are not at {SHARED}"
)


@needs_workbook
@pytest.mark.django_db
@pytest.mark.parametrize("name", ["NCI_CTCAE_v5.0.xlsx", "NCI_CTCAE_v5.0_clean_utf8.csv"])
def test_it_loads_all_837_terms_from_the_workbook_or_its_csv(name, capsys):
    call_command("load_ctcae", str(SHARED / name))
    assert "Loaded the descriptions of 837 CTCAE terms" in capsys.readouterr().out
    assert CtcaeTermDescription.objects.count() == 837
    fatigue = ctcae_grade_descriptions("Fatigue")
    assert sorted(fatigue) == [1, 2, 3]
    assert all(text for text in fatigue.values())
    assert sorted(ctcae_grade_descriptions("Eosinophilia")) == [1, 3]


@needs_workbook
@pytest.mark.django_db
def test_loading_again_refreshes_rather_than_duplicates():
    call_command("load_ctcae", str(SHARED / "NCI_CTCAE_v5.0_clean_utf8.csv"))
    call_command("load_ctcae", str(SHARED / "NCI_CTCAE_v5.0.xlsx"))
    assert CtcaeTermDescription.objects.count() == 837


@pytest.mark.django_db
def test_the_project_works_without_descriptions():
    assert ctcae_grade_descriptions("Fatigue") == {}


@pytest.mark.django_db
def test_a_file_that_is_not_the_workbook_is_refused_and_nothing_is_loaded(tmp_path):
    bad = tmp_path / "terms.csv"
    bad.write_text("Term,Grade\nFatigue,1\n", encoding="utf-8")
    with pytest.raises(CommandError, match="MedDRA Code"):
        call_command("load_ctcae", str(bad))
    with pytest.raises(CommandError, match="not found"):
        call_command("load_ctcae", str(tmp_path / "missing.xlsx"))
    assert CtcaeTermDescription.objects.count() == 0
