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


# The shells: pages, admin, imports, commands, forms and template tags validate, call a service
# or a selector, and render. They never write through the generic record functions or the
# audit writer, and never open transactions or lock rows themselves (DESIGN.md, rule 2).
SHELLS = (
    "ecrf/views",
    "ecrf/admin.py",
    "ecrf/admin_users.py",
    "ecrf/imports",
    "ecrf/management",
    "ecrf/forms",
    "ecrf/templatetags",
)
SERVICE_WORK = frozenset(
    {"record_create", "record_update", "write_audit", "atomic", "select_for_update", "set_rollback"}
)
# Granting database roles is set-up of the database, not a change of clinical data.
NOT_SHELL_WORK = {"ecrf/management/commands/db_roles.py": {"atomic"}}


def _names_used(tree: ast.AST):
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            yield node.id
        elif isinstance(node, ast.Attribute):
            yield node.attr
        elif isinstance(node, ast.ImportFrom):
            yield from (alias.name for alias in node.names)


def _service_work_in_shells() -> list[str]:
    found = []
    for shell in SHELLS:
        target = ROOT / shell
        for path in sorted(target.rglob("*.py") if target.is_dir() else [target]):
            name = str(path.relative_to(ROOT))
            allowed = NOT_SHELL_WORK.get(name, set())
            tree = ast.parse(path.read_text(encoding="utf-8"), filename=name)
            used = sorted(set(_names_used(tree)) & SERVICE_WORK - allowed)
            found.extend(f"{name}: {word}" for word in used)
    return found


def test_no_page_admin_import_or_command_does_a_services_work():
    assert _service_work_in_shells() == []


def test_the_shell_check_sees_a_transaction_and_a_generic_write():
    tree = ast.parse(
        "from django.db import transaction\n"
        "def save(record):\n"
        "    with transaction.atomic():\n"
        "        record_update(record=record)\n"
    )
    assert {"atomic", "record_update"} <= set(_names_used(tree))
