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


#: What each part of the core may import from the project; none of them imports Dagster.
CORE_MAY_IMPORT: dict[str, set[str]] = {
    "errors": set(),
    "records": {"errors"},
    "readers": {"errors", "records"},
    "warehouse": {"errors", "records", "readers"},
    "events": {"errors"},
    "ingest": {"errors", "records", "readers", "warehouse", "events"},
    "count_events": {"errors", "warehouse", "events"},
    "report": {"errors", "readers", "warehouse"},
    "config": {"errors", "readers", "warehouse", "events", "ingest", "count_events"},
}
DAGSTER_PACKAGES = ("dagster", "dagster_webserver", "dagster_graphql", "dagster_postgres")


def _project_imports(part: str) -> dict[str, set[str]]:
    """Per module of ``part``: the project packages and Dagster packages it imports."""
    found: dict[str, set[str]] = {}
    target = PACKAGE / part
    sources = sorted(target.rglob("*.py")) if target.is_dir() else [target.with_suffix(".py")]
    for path in sources:
        names = set()
        for name in _imported_modules(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            head, _, rest = name.partition(".")
            if head == "tg_pipeline" and rest:
                names.add(rest.split(".")[0])
            elif head in DAGSTER_PACKAGES:
                names.add(head)
        found[str(path.relative_to(PACKAGE.parent))] = names - {part}
    return found


def test_the_core_imports_no_dagster_and_only_the_layers_below() -> None:
    offenders = [
        f"{module}: {sorted(imported - allowed)}"
        for part, allowed in CORE_MAY_IMPORT.items()
        for module, imported in _project_imports(part).items()
        if imported - allowed
    ]
    assert not offenders, offenders


def test_no_product_module_is_over_600_lines() -> None:
    long = {
        str(path.relative_to(PACKAGE.parent)): lines
        for path in PACKAGE.rglob("*.py")
        if (lines := len(path.read_text(encoding="utf-8").splitlines())) > 600
    }
    assert not long, long
