"""Rules of the layout that imports must keep: the application and its tests never import the
benchmarks in ``bench/`` (bench may import the application, never the other way round)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CHECKED = ("ecrf", "tests")


def _imported_modules(tree: ast.AST):
    """Every module an ``import`` or ``from ... import`` names, at any depth (imports inside
    functions count as much as those at the top)."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.module


def _bench_imports(folder: str) -> list[str]:
    found = []
    for path in sorted((ROOT / folder).rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for module in _imported_modules(tree):
            if module == "bench" or module.startswith("bench."):
                found.append(f"{path.relative_to(ROOT)}: {module}")
    return found


@pytest.mark.parametrize("folder", CHECKED)
def test_the_application_and_its_tests_never_import_the_benchmarks(folder):
    assert _bench_imports(folder) == []


def test_the_import_check_sees_imports_inside_functions():
    tree = ast.parse("def f():\n    from bench.load import verify\n    import bench\n")

    assert list(_imported_modules(tree)) == ["bench.load", "bench"]
