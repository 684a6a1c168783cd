"""The shipped package stands alone: no product module imports the tests or their tooling."""

from __future__ import annotations

import ast
from pathlib import Path

import tg_pipeline

PACKAGE = Path(tg_pipeline.__file__).resolve().parent
FORBIDDEN = "tg_pipeline_tests"


def _imported_modules(tree: ast.AST) -> list[str]:
    names: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.append(node.module)
    return names


def test_no_product_module_imports_the_tests() -> None:
    sources = sorted(PACKAGE.rglob("*.py"))
    assert len(sources) > 20  # the scan really looked at the package
    offenders = [
        f"{path.relative_to(PACKAGE.parent)}: {name}"
        for path in sources
        for name in _imported_modules(ast.parse(path.read_text(encoding="utf-8"), str(path)))
        if name == FORBIDDEN or name.startswith(FORBIDDEN + ".")
    ]
    assert not offenders, offenders


def test_the_tooling_lives_outside_the_package() -> None:
    assert not (PACKAGE / "synthetic").exists()
    assert not (PACKAGE / "bench").exists()
