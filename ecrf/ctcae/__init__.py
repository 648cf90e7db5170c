"""CTCAE v5.0: the term dictionary, allowed grades, lab grading and the workbook reader.

Pure Python: importable and usable without Django configured.
"""

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
from .labs import LAB_TESTS, GradingError, LabGrade, grade_lab, grade_labs
from .workbook import TermDescription, WorkbookError, read_term_descriptions

__all__ = [
    "CTCAE_VERSION",
    "CtcaeTerm",
    "GradeNotAllowedError",
    "GradingError",
    "LAB_TESTS",
    "LabGrade",
    "TermDescription",
    "UnknownTermError",
    "WorkbookError",
    "all_terms",
    "check_grade",
    "get_term",
    "grade_lab",
    "grade_labs",
    "read_term_descriptions",
    "search_terms",
    "socs",
]
