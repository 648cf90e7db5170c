"""CTCAE v5.0 term dictionary: terms, MedDRA codes, SOCs and the grades each term allows.

Pure Python on purpose: importing it needs neither Django nor pandas, so scripts, data
imports and validators can use it anywhere. The data file next to this module is derived
from NCI's workbook by ``scripts/derive_ctcae_terms.py`` and holds no NCI description text.
"""

from __future__ import annotations

import csv
import difflib
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

CTCAE_VERSION = "5.0"
GRADE_SCALE = (1, 2, 3, 4, 5)
DATA_FILE = Path(__file__).resolve().with_name("data") / "ctcae_v5_terms.csv"

# Every SOC has one catch-all term spelled "<SOC> - Other, specify". The suffix, not the SOC
# name, identifies it: NCI spells the musculoskeletal one "...connective tissue disorder"
# (singular) while the SOC is "...connective tissue disorders".
OTHER_SPECIFY_SUFFIX = " - Other, specify"

MAX_SUGGESTIONS = 5

UNKNOWN_TERM_MESSAGE = "Unknown CTCAE v{version} term '{query}'."
CLOSEST_MATCHES_MESSAGE = " Closest matches: {matches}."
NO_CLOSE_MATCH_MESSAGE = " No close match found."
GRADE_NOT_ALLOWED_MESSAGE = (
    "Grade {grade} is not allowed for {term} in CTCAE v{version}; allowed grades: {allowed}."
)
GRADE_OUT_OF_SCALE_MESSAGE = (
    "Grade {grade} is outside the CTCAE v{version} scale of 1 to 5; "
    "allowed grades for {term}: {allowed}."
)
GRADE_NOT_INTEGER_MESSAGE = (
    "Grade {grade!r} is not an integer; allowed grades for {term} in CTCAE v{version}: {allowed}."
)


@dataclass(frozen=True)
class CtcaeTerm:
    term: str
    meddra_code: str
    soc: str
    grades: tuple[int, ...]

    @property
    def is_other_specify(self) -> bool:
        """True for the per-SOC catch-all term that needs a verbatim description."""
        return self.term.endswith(OTHER_SPECIFY_SUFFIX)

    def __str__(self) -> str:
        return self.term


class UnknownTermError(ValueError):
    """Raised for a name or MedDRA code that is not a CTCAE v5.0 term."""

    def __init__(self, query: str, suggestions: list[str]) -> None:
        self.query = query
        self.suggestions = suggestions
        message = UNKNOWN_TERM_MESSAGE.format(version=CTCAE_VERSION, query=query)
        if suggestions:
            message += CLOSEST_MATCHES_MESSAGE.format(matches=", ".join(suggestions))
        else:
            message += NO_CLOSE_MATCH_MESSAGE
        super().__init__(message)


class GradeNotAllowedError(ValueError):
    """Raised for a grade the term does not define in CTCAE v5.0."""

    def __init__(self, message: str, *, term: str, grade: object, allowed: tuple[int, ...]):
        self.term = term
        self.grade = grade
        self.allowed = allowed
        super().__init__(message)


def normalise(text: str) -> str:
    """Lower-case and collapse whitespace (NCI's files contain non-breaking spaces)."""
    return " ".join(text.split()).casefold()


_WORD = re.compile(r"\w+")


def _words(text: str) -> list[str]:
    # Punctuation such as "-" and "," separates words, so "non-card" still finds
    # "Non-cardiac chest pain" and "other specify" finds the "Other, specify" terms.
    return _WORD.findall(text.casefold())


@dataclass(frozen=True)
class _Index:
    terms: tuple[CtcaeTerm, ...]
    by_name: dict[str, CtcaeTerm]
    by_code: dict[str, CtcaeTerm]
    words: dict[str, tuple[str, ...]]
    socs: tuple[str, ...]


@cache
def _index() -> _Index:
    with DATA_FILE.open(encoding="utf-8", newline="") as handle:
        terms = tuple(
            CtcaeTerm(
                term=row["term"],
                meddra_code=row["meddra_code"],
                soc=row["soc"],
                grades=tuple(int(grade) for grade in row["grades"].split()),
            )
            for row in csv.DictReader(handle)
        )
    return _Index(
        terms=terms,
        by_name={normalise(term.term): term for term in terms},
        by_code={term.meddra_code: term for term in terms},
        words={term.term: tuple(_words(term.term)) for term in terms},
        # dict.fromkeys keeps the source order (NCI lists SOCs alphabetically).
        socs=tuple(dict.fromkeys(term.soc for term in terms)),
    )


def all_terms() -> tuple[CtcaeTerm, ...]:
    """All CTCAE v5.0 terms in NCI's order (by SOC, then term)."""
    return _index().terms


def socs() -> tuple[str, ...]:
    """The MedDRA system organ classes used by CTCAE v5.0, in NCI's order."""
    return _index().socs


def get_term(name_or_code: str | CtcaeTerm) -> CtcaeTerm:
    """Look up a term by exact name (case and whitespace ignored) or by MedDRA code."""
    if isinstance(name_or_code, CtcaeTerm):
        return name_or_code
    if not isinstance(name_or_code, str):
        raise TypeError(f"Expected a term name or MedDRA code, not {type(name_or_code).__name__}.")
    index = _index()
    key = normalise(name_or_code)
    found = index.by_code.get(key) or index.by_name.get(key)
    if found is None:
        raise UnknownTermError(" ".join(name_or_code.split()), _suggest(key, index))
    return found


def _suggest(key: str, index: _Index) -> list[str]:
    if key.isdigit():
        # difflib rates digit strings poorly (any shared run of digits scores high), so
        # codes are compared position by position: a mistyped or missing digit is 1 away.
        distances = {code: _code_distance(key, code) for code in index.by_code}
        close = [code for code, distance in distances.items() if distance <= 2]
        codes = sorted(close, key=lambda code: (distances[code], code))
        return [index.by_code[code].term for code in codes[:MAX_SUGGESTIONS]]
    names = difflib.get_close_matches(key, index.by_name, n=MAX_SUGGESTIONS)
    return [index.by_name[name].term for name in names]


def _code_distance(key: str, code: str) -> int:
    return sum(a != b for a, b in zip(key, code, strict=False)) + abs(len(key) - len(code))


def search_terms(query: str, limit: int = 20) -> list[CtcaeTerm]:
    """Type-ahead search by MedDRA code prefix or by word prefixes of the term name.

    Every query word must start some word of the term ("alan amin" finds "Alanine
    aminotransferase increased"). Results: exact match first, then terms starting with
    the query, then the rest, each group alphabetical.
    """
    if limit < 1:
        raise ValueError(f"limit must be at least 1, not {limit}.")
    key = normalise(query)
    if not key:
        return []
    index = _index()
    if key.isdigit():
        matches = [term for term in index.terms if term.meddra_code.startswith(key)]

        def rank(term: CtcaeTerm) -> tuple[int, str]:
            return (0 if term.meddra_code == key else 1, term.term.casefold())

    else:
        query_words = _words(key)
        if not query_words:
            return []
        matches = [
            term
            for term in index.terms
            if all(
                any(word.startswith(query_word) for word in index.words[term.term])
                for query_word in query_words
            )
        ]

        def rank(term: CtcaeTerm) -> tuple[int, str]:
            name = normalise(term.term)
            if name == key:
                group = 0
            elif name.startswith(key):
                group = 1
            else:
                group = 2
            return (group, name)

    return sorted(matches, key=rank)[:limit]


def check_grade(term: str | CtcaeTerm, grade: int) -> None:
    """Raise GradeNotAllowedError unless ``grade`` exists for ``term`` in CTCAE v5.0.

    An unknown term name raises UnknownTermError.
    """
    found = get_term(term)
    allowed = found.grades
    fields = {
        "grade": grade,
        "term": found.term,
        "version": CTCAE_VERSION,
        "allowed": ", ".join(str(value) for value in allowed),
    }
    # bool is an int subclass; a True/False grade is a caller bug, not grade 1/0.
    if not isinstance(grade, int) or isinstance(grade, bool):
        message = GRADE_NOT_INTEGER_MESSAGE.format(**fields)
    elif grade not in GRADE_SCALE:
        message = GRADE_OUT_OF_SCALE_MESSAGE.format(**fields)
    elif grade not in allowed:
        message = GRADE_NOT_ALLOWED_MESSAGE.format(**fields)
    else:
        return
    raise GradeNotAllowedError(message, term=found.term, grade=grade, allowed=allowed)
