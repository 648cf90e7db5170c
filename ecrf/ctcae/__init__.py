"""CTCAE v5.0: the term dictionary, allowed grades, and the workbook reader. Pure Python."""

from .dictionary import (
    CTCAE_VERSION,
    CtcaeTerm,
    GradeNotAllowedError,
    UnknownTermError,
    all_terms,
    check_grade,
    get_term,
    search_terms,
    socs,
)
from .workbook import TermDescription, WorkbookError, read_term_descriptions

__all__ = [
    "CTCAE_VERSION",
    "CtcaeTerm",
    "GradeNotAllowedError",
    "TermDescription",
    "UnknownTermError",
    "WorkbookError",
    "all_terms",
    "check_grade",
    "get_term",
    "read_term_descriptions",
    "search_terms",
    "socs",
]
