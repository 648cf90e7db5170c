"""The shipped CTCAE v5.0 term dictionary: terms, MedDRA codes, SOCs and allowed grades."""

from __future__ import annotations

import csv
import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from ecrf.ctcae.dictionary import (
    CTCAE_VERSION,
    DATA_FILE,
    GRADE_NOT_ALLOWED_MESSAGE,
    CtcaeTerm,
    GradeNotAllowedError,
    UnknownTermError,
    all_terms,
    check_grade,
    get_term,
    search_terms,
    socs,
)

REPO_ROOT = Path(__file__).resolve().parents[3]
SHARED_DIR = REPO_ROOT.parent / "shared" / "ctcae"
SOURCE_CSV = SHARED_DIR / "NCI_CTCAE_v5.0_clean_utf8.csv"
DERIVE_SCRIPT = REPO_ROOT / "scripts" / "derive_ctcae_terms.py"

requires_source_csv = pytest.mark.skipif(
    not SOURCE_CSV.is_file(),
    reason=f"NCI CTCAE v5.0 source CSV not found at {SOURCE_CSV}; it is not part of the repo.",
)

# Allowed grades per CTCAE v5.0 (NCI, 27 November 2017), read off the official workbook.
EXPECTED_GRADES = {
    "Fatigue": (1, 2, 3),
    "Nausea": (1, 2, 3),
    "Chills": (1, 2, 3),
    "Alanine aminotransferase increased": (1, 2, 3, 4),
    "Febrile neutropenia": (3, 4, 5),
    "Eosinophilia": (1, 3),
    "Death NOS": (5,),
}


def load_derive_script():
    """Import scripts/derive_ctcae_terms.py by path, as scripts/ is not a package."""
    spec = importlib.util.spec_from_file_location("derive_ctcae_terms", DERIVE_SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# --- Size and uniqueness ---------------------------------------------------------------


def test_the_dictionary_is_ctcae_version_5_0():
    """The dictionary reflects CTCAE v5.0, the version this eCRF grades adverse events with."""
    assert CTCAE_VERSION == "5.0"


def test_ctcae_v5_has_837_terms():
    """CTCAE v5.0 lists 837 terms in its clean copy."""
    assert len(all_terms()) == 837
    assert all(isinstance(term, CtcaeTerm) for term in all_terms())


def test_ctcae_v5_uses_26_system_organ_classes():
    """CTCAE v5.0 groups its terms under 26 MedDRA system organ classes."""
    assert len(socs()) == 26
    assert len(set(socs())) == 26
    assert {term.soc for term in all_terms()} == set(socs())
    assert socs()[0] == "Blood and lymphatic system disorders"
    assert "Investigations" in socs()


def test_term_names_are_unique_even_ignoring_case():
    """Each CTCAE v5.0 term name identifies one term, so lookup by name is unambiguous."""
    names = [term.term.casefold() for term in all_terms()]
    assert len(set(names)) == len(names)


def test_meddra_codes_are_unique_eight_digit_codes():
    """Each CTCAE v5.0 term carries its own 8-digit MedDRA lowest level term code."""
    codes = [term.meddra_code for term in all_terms()]
    assert len(set(codes)) == len(codes)
    assert all(re.fullmatch(r"\d{8}", code) for code in codes)


def test_every_term_has_at_least_one_grade_in_ascending_order():
    """Every CTCAE v5.0 term defines some of grades 1-5, listed once each in order."""
    for term in all_terms():
        assert term.grades, term
        assert term.grades == tuple(sorted(set(term.grades))), term
        assert set(term.grades) <= {1, 2, 3, 4, 5}, term


def test_names_carry_no_stray_whitespace():
    """NCI's file has non-breaking spaces; the dictionary's names and SOCs must be clean."""
    for term in all_terms():
        for text in (term.term, term.soc):
            assert text == " ".join(text.split()), text


def test_all_terms_is_loaded_once_and_cached():
    """The data file is parsed once; repeated calls return the same tuple."""
    assert all_terms() is all_terms()


# --- Allowed grades ----------------------------------------------------------------------


@pytest.mark.parametrize(("name", "grades"), EXPECTED_GRADES.items())
def test_allowed_grades_match_ctcae_v5(name, grades):
    """The grades of these terms are those NCI defines in CTCAE v5.0."""
    assert get_term(name).grades == grades


@pytest.mark.parametrize(("name", "grades"), EXPECTED_GRADES.items())
@pytest.mark.parametrize("grade", [1, 2, 3, 4, 5])
def test_check_grade_accepts_exactly_the_ctcae_v5_grades(name, grades, grade):
    """check_grade accepts a grade if and only if CTCAE v5.0 defines it for the term."""
    if grade in grades:
        check_grade(name, grade)
    else:
        with pytest.raises(GradeNotAllowedError) as raised:
            check_grade(name, grade)
        assert raised.value.allowed == grades


def test_fatigue_grade_3_is_accepted_and_grade_4_refused():
    """CTCAE v5.0 Fatigue stops at grade 3 (limiting self care ADL)."""
    check_grade("Fatigue", 3)
    with pytest.raises(GradeNotAllowedError) as raised:
        check_grade("Fatigue", 4)
    assert str(raised.value) == (
        "Grade 4 is not allowed for Fatigue in CTCAE v5.0; allowed grades: 1, 2, 3."
    )
    assert raised.value.allowed == (1, 2, 3)
    assert raised.value.term == "Fatigue"
    assert raised.value.grade == 4


def test_febrile_neutropenia_starts_at_grade_3_and_allows_grade_5():
    """CTCAE v5.0 Febrile neutropenia has grades 3, 4 and 5 only."""
    with pytest.raises(GradeNotAllowedError) as raised:
        check_grade("Febrile neutropenia", 2)
    assert str(raised.value) == (
        "Grade 2 is not allowed for Febrile neutropenia in CTCAE v5.0; allowed grades: 3, 4, 5."
    )
    check_grade("Febrile neutropenia", 3)
    check_grade("Febrile neutropenia", 5)


def test_eosinophilia_skips_grade_2():
    """CTCAE v5.0 Eosinophilia defines grades 1 and 3 but not grade 2."""
    check_grade("Eosinophilia", 1)
    check_grade("Eosinophilia", 3)
    with pytest.raises(GradeNotAllowedError) as raised:
        check_grade("Eosinophilia", 2)
    assert str(raised.value) == (
        "Grade 2 is not allowed for Eosinophilia in CTCAE v5.0; allowed grades: 1, 3."
    )


def test_death_nos_is_grade_5_only():
    """CTCAE v5.0 Death NOS exists only as grade 5."""
    check_grade("Death NOS", 5)
    with pytest.raises(GradeNotAllowedError, match="allowed grades: 5\\.$"):
        check_grade("Death NOS", 4)


def test_the_not_allowed_message_is_a_public_format_string():
    """Callers (forms, imports) can rebuild or match the CTCAE v5.0 grade message."""
    assert GRADE_NOT_ALLOWED_MESSAGE.format(
        grade=4, term="Fatigue", version=CTCAE_VERSION, allowed="1, 2, 3"
    ) == ("Grade 4 is not allowed for Fatigue in CTCAE v5.0; allowed grades: 1, 2, 3.")


@pytest.mark.parametrize("grade", [0, 6, -1])
def test_grades_outside_1_to_5_are_refused(grade):
    """CTCAE v5.0 grades run from 1 to 5; anything else is refused with the term's grades."""
    with pytest.raises(GradeNotAllowedError) as raised:
        check_grade("Nausea", grade)
    assert str(raised.value) == (
        f"Grade {grade} is outside the CTCAE v5.0 scale of 1 to 5; "
        "allowed grades for Nausea: 1, 2, 3."
    )
    assert raised.value.allowed == (1, 2, 3)


@pytest.mark.parametrize("grade", ["3", 3.0, 2.5, None, True])
def test_non_integer_grades_are_refused(grade):
    """A CTCAE v5.0 grade is an integer; strings, floats, None and booleans are refused."""
    with pytest.raises(GradeNotAllowedError) as raised:
        check_grade("Nausea", grade)
    assert str(raised.value) == (
        f"Grade {grade!r} is not an integer; allowed grades for Nausea in CTCAE v5.0: 1, 2, 3."
    )


def test_check_grade_accepts_a_term_object():
    """check_grade takes a CtcaeTerm as well as a name, for callers that already looked it up."""
    check_grade(get_term("Chills"), 3)
    with pytest.raises(GradeNotAllowedError):
        check_grade(get_term("Chills"), 4)


def test_check_grade_on_an_unknown_term_raises_unknown_term_error():
    """Grading a term that is not in CTCAE v5.0 is reported as an unknown term."""
    with pytest.raises(UnknownTermError):
        check_grade("Tiredness", 1)


def test_both_errors_are_value_errors():
    """Validation code can catch the CTCAE v5.0 errors as ValueError."""
    assert issubclass(UnknownTermError, ValueError)
    assert issubclass(GradeNotAllowedError, ValueError)


# --- Lookup --------------------------------------------------------------------------


def test_lookup_by_name_ignores_case_and_whitespace():
    """CTCAE v5.0 term names are matched regardless of case and spacing."""
    expected = get_term("Alanine aminotransferase increased")
    assert get_term("  alanine   AMINOTRANSFERASE\u00a0increased ") is expected


def test_lookup_by_meddra_code():
    """CTCAE v5.0 terms can be looked up by MedDRA code (Fatigue is 10016256)."""
    fatigue = get_term("10016256")
    assert fatigue.term == "Fatigue"
    assert fatigue.soc == "General disorders and administration site conditions"
    assert get_term(" 10016256 ") is fatigue
    assert get_term("Febrile neutropenia").meddra_code == "10016288"


def test_a_misspelt_term_suggests_the_closest_ctcae_term():
    """'Fatige' is not a CTCAE v5.0 term; the error points to Fatigue."""
    with pytest.raises(UnknownTermError) as raised:
        get_term("Fatige")
    assert str(raised.value) == "Unknown CTCAE v5.0 term 'Fatige'. Closest matches: Fatigue."
    assert raised.value.suggestions == ["Fatigue"]
    assert raised.value.query == "Fatige"


def test_suggestions_are_at_most_five_real_term_names():
    """Suggestions are CTCAE v5.0 term names, five at most, in the message."""
    with pytest.raises(UnknownTermError) as raised:
        get_term("Pain in extremities")
    suggestions = raised.value.suggestions
    assert suggestions[0] == "Pain in extremity"
    assert 1 <= len(suggestions) <= 5
    assert all(get_term(name).term == name for name in suggestions)
    assert str(raised.value) == (
        "Unknown CTCAE v5.0 term 'Pain in extremities'. Closest matches: "
        + ", ".join(suggestions)
        + "."
    )


def test_an_unknown_term_without_close_match_says_so():
    """A query resembling no CTCAE v5.0 term gets no suggestions."""
    with pytest.raises(UnknownTermError) as raised:
        get_term("qqqqqq")
    assert raised.value.suggestions == []
    assert str(raised.value) == "Unknown CTCAE v5.0 term 'qqqqqq'. No close match found."


def test_a_mistyped_meddra_code_suggests_the_term_with_the_nearest_code():
    """A MedDRA code one digit off Fatigue's (10016256) suggests Fatigue first."""
    with pytest.raises(UnknownTermError) as raised:
        get_term("1001625")
    assert raised.value.suggestions[0] == "Fatigue"


def test_lookup_rejects_non_strings():
    """get_term takes a name or a MedDRA code as text."""
    with pytest.raises(TypeError):
        get_term(10016256)


# --- Search (type-ahead) ---------------------------------------------------------------


def test_search_matches_word_prefixes():
    """'alan amin' finds CTCAE v5.0 'Alanine aminotransferase increased'."""
    assert [term.term for term in search_terms("alan amin")] == [
        "Alanine aminotransferase increased"
    ]


def test_search_needs_every_query_word():
    """Each query word must start a word of the term: 'pain skin' finds only Pain of skin."""
    assert [term.term for term in search_terms("pain skin")] == ["Pain of skin"]


def test_search_ranks_exact_then_prefix_then_alphabetical():
    """For 'pain': exact CTCAE v5.0 term first, then names starting with it, then the rest."""
    names = [term.term for term in search_terms("pain", limit=50)]
    assert names[:3] == ["Pain", "Pain in extremity", "Pain of skin"]
    rest = names[3:]
    assert rest[:3] == ["Abdominal pain", "Anal pain", "Back pain"]
    assert rest == sorted(rest, key=str.casefold)
    assert all(not name.casefold().startswith("pain") for name in rest)


def test_search_is_case_insensitive_and_puts_the_exact_match_first():
    """'NAUSEA' finds CTCAE v5.0 Nausea first."""
    assert search_terms("NAUSEA")[0].term == "Nausea"


def test_search_by_meddra_code_prefix():
    """A digits-only query is a MedDRA code prefix; an exact code ranks first."""
    assert [term.term for term in search_terms("10016256")] == ["Fatigue"]
    by_prefix = search_terms("1001", limit=100)
    assert by_prefix
    assert all(term.meddra_code.startswith("1001") for term in by_prefix)
    assert get_term("Fatigue") in by_prefix


def test_search_respects_the_limit():
    """Type-ahead shows at most `limit` CTCAE v5.0 terms."""
    assert len(search_terms("pain", limit=5)) == 5
    assert len(search_terms("pain")) == 20


def test_search_with_empty_or_unmatched_query_returns_nothing():
    """Blank or unmatched queries return no CTCAE v5.0 terms."""
    assert search_terms("") == []
    assert search_terms("   ") == []
    assert search_terms("xyzzy") == []
    assert search_terms("---") == []


def test_search_refuses_a_non_positive_limit():
    """A limit below 1 is a caller error."""
    with pytest.raises(ValueError, match="limit"):
        search_terms("pain", limit=0)


# --- "Other, specify" terms ------------------------------------------------------------


def test_each_soc_has_exactly_one_other_specify_term():
    """CTCAE v5.0 has one '<SOC> - Other, specify' catch-all term per SOC (26 in all)."""
    others = [term for term in all_terms() if term.is_other_specify]
    assert len(others) == 26
    assert sorted(term.soc for term in others) == sorted(socs())
    for term in others:
        assert term.term.endswith(" - Other, specify")


def test_other_specify_terms_are_named_after_their_soc_with_one_exception():
    """NCI spells the musculoskeletal catch-all term with 'disorder' (singular) in CTCAE v5.0."""
    mismatched = {
        term.soc: term.term
        for term in all_terms()
        if term.is_other_specify and term.term != f"{term.soc} - Other, specify"
    }
    assert mismatched == {
        "Musculoskeletal and connective tissue disorders": (
            "Musculoskeletal and connective tissue disorder - Other, specify"
        )
    }


def test_other_specify_terms_allow_all_grades_except_eye_disorders_without_grade_5():
    """CTCAE v5.0 'Eye disorders - Other, specify' stops at grade 4; the others reach 5."""
    grades = {term.term: term.grades for term in all_terms() if term.is_other_specify}
    assert grades.pop("Eye disorders - Other, specify") == (1, 2, 3, 4)
    assert set(grades.values()) == {(1, 2, 3, 4, 5)}


def test_ordinary_terms_are_not_other_specify():
    """Fatigue is a specific CTCAE v5.0 term, not a catch-all."""
    assert not get_term("Fatigue").is_other_specify


# --- The shipped data file -------------------------------------------------------------


def test_shipped_data_file_has_only_the_four_derived_columns():
    """The repo ships CTCAE v5.0 facts (code, SOC, term, grades), not NCI's texts."""
    with DATA_FILE.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.reader(handle))
    assert rows[0] == ["meddra_code", "soc", "term", "grades"]
    assert len(rows) == 838
    assert all(len(row) == 4 for row in rows)
    assert all(re.fullmatch(r"[1-5]( [1-5])*", row[3]) for row in rows[1:])


@requires_source_csv
def test_shipped_data_file_contains_no_nci_description_text():
    """No CTCAE v5.0 grade description or definition from NCI's file is in the shipped data."""
    shipped = DATA_FILE.read_text(encoding="utf-8")
    assert "Fatigue relieved by rest" not in shipped
    with SOURCE_CSV.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.reader(handle))[1:]
    # Short cells such as "Death" or " -" are also words of term names; longer ones are prose.
    texts = {" ".join(cell.split()) for row in rows for cell in row[3:9]}
    leaked = [text for text in texts if len(text) >= 20 and text in shipped]
    assert leaked == []


@requires_source_csv
def test_shipped_data_file_matches_what_the_script_derives_now(tmp_path):
    """The shipped CTCAE v5.0 term list is exactly the script's output for NCI's CSV."""
    derive_script = load_derive_script()
    output = tmp_path / "terms.csv"
    assert derive_script.derive(SOURCE_CSV, output) == 837
    assert output.read_bytes() == DATA_FILE.read_bytes()


def test_derive_script_refuses_a_file_without_the_expected_columns(tmp_path):
    """The derivation fails loudly rather than shipping a wrong CTCAE term list."""
    derive_script = load_derive_script()
    source = tmp_path / "bad.csv"
    source.write_text("MedDRA Code,CTCAE Term\n10016256,Fatigue\n", encoding="utf-8")
    with pytest.raises(derive_script.DerivationError, match="MedDRA SOC, Grade 1"):
        derive_script.derive(source, tmp_path / "out.csv")
    assert not (tmp_path / "out.csv").exists()


# --- Independence from Django ----------------------------------------------------------


def test_dictionary_imports_in_a_fresh_process_without_django():
    """The CTCAE v5.0 dictionary works in scripts with no Django settings configured."""
    env = {key: value for key, value in os.environ.items() if key != "DJANGO_SETTINGS_MODULE"}
    env["PYTHONPATH"] = str(REPO_ROOT)
    code = (
        "import sys\n"
        "import ecrf.ctcae.dictionary as dictionary\n"
        "assert len(dictionary.all_terms()) == 837\n"
        "dictionary.check_grade('Fatigue', 3)\n"
        "assert 'django' not in sys.modules, 'django was imported'\n"
        "print('ok')\n"
    )
    result = subprocess.run(  # a fixed command, no user input
        [sys.executable, "-c", code],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"
