"""Rooms of one idea: every contract module imports on its own, and no import circles."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

import suture
from suture import errors

SRC = Path(suture.__file__).parent
SCHEMA = SRC / "schema"
MODULES = sorted(
    ["suture.parsing"]
    + [f"suture.schema.{p.stem}" for p in SCHEMA.glob("*.py") if p.stem != "__init__"]
)


def _runtime_imports(path: Path) -> set[str]:
    """Modules of ``suture.schema`` that ``path`` imports when it runs (any level), not
    the ones imported only for type checking."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skipped: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skipped.update(id(n) for n in ast.walk(node))
    found: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.ImportFrom) and node.module:
            if node.module == "suture.schema":
                found.update(f"suture.schema.{a.name}" for a in node.names)
            elif node.module.startswith("suture.schema."):
                found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("suture.schema."))
    return found


def test_the_contract_modules_import_without_a_circle() -> None:
    """Following runtime imports (function-level ones too) never comes back to a module.

    Regression: ``contract`` imported ``run`` inside ``validate`` and ``run`` imported
    ``contract`` inside its functions for ``ValidationResult``; it lives in ``result``.
    """
    graph = {
        f"suture.schema.{p.stem}": _runtime_imports(p)
        for p in SCHEMA.glob("*.py")
        if p.stem != "__init__"
    }

    def visit(module: str, path: tuple[str, ...]) -> None:
        for target in graph.get(module, ()):
            assert target not in path, " -> ".join((*path, target))
            visit(target, (*path, target))

    for module in graph:
        visit(module, (module,))
    below = [m for m, targets in graph.items() if "suture.schema.contract" in targets]
    assert sorted(below) == ["suture.schema.cli"]


@pytest.mark.parametrize("module", MODULES)
def test_each_module_imports_in_a_fresh_interpreter(module: str) -> None:
    done = subprocess.run(
        [sys.executable, "-c", f"import {module}"], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr


def test_every_exception_class_of_the_contracts_lives_in_errors() -> None:
    for path in [SRC / "parsing.py", *SCHEMA.glob("*.py")]:
        tree = ast.parse(path.read_text(encoding="utf-8"))
        defined = [
            node.name
            for node in ast.walk(tree)
            if isinstance(node, ast.ClassDef)
            and any(ast.unparse(b).endswith(("Error", "Exception", "Problem")) for b in node.bases)
            and not node.name.startswith("_")
        ]
        assert defined == [], (path.name, defined)
    from suture.schema.expressions import ExpressionError
    from suture.schema.units import UnitProblem

    assert UnitProblem is errors.UnitError and ExpressionError is errors.ExpressionError
    assert issubclass(errors.UnitError, errors.SchemaError)
    assert issubclass(errors.ExpressionError, errors.SchemaError)


def test_old_import_paths_still_work() -> None:
    from suture.schema.contract import ValidationResult as FromContract
    from suture.schema.result import ValidationResult
    from suture.schema.summary import ValidationAggregator
    from suture.schema.validate import (
        ROW,
    )
    from suture.schema.validate import (
        ValidationAggregator as Old,
    )
    from suture.schema.validate import (
        ValidationResult as OldResult,
    )

    assert Old is ValidationAggregator and OldResult is ValidationResult is FromContract
    assert ROW == "__row"
