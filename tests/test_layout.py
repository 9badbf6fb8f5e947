"""The layout is the architecture: packages import only the ones below them."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("digits", "datasets", "server", "train", "export", "evaluate", "bench")
# What each package may import, itself included: the library at the bottom, serving and training
# above it, evaluation and benchmarks on top.
ALLOWED = {
    "digits": {"digits"},
    "datasets": {"digits", "datasets"},
    "server": {"digits", "server"},
    "train": {"digits", "datasets", "train"},
    "export": {"digits", "datasets", "train", "export"},
    "evaluate": {"digits", "datasets", "server", "evaluate"},
    "bench": {"digits", "datasets", "server", "train", "evaluate", "bench"},  # the baseline: the training architecture
}


def project_imports(path: Path) -> set[str]:
    """The project packages a source file imports, at any depth of the file (function-local imports too)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module.split(".")[0])
    return found & set(PACKAGES)


def upward_imports(package: str) -> list[str]:
    """Each import in the package of a package it may not use, as 'file: package'."""
    return [
        f"{path.relative_to(ROOT)}: {imported}"
        for path in sorted((ROOT / package).rglob("*.py"))
        for imported in sorted(project_imports(path) - ALLOWED[package])
    ]


@pytest.mark.parametrize("package", PACKAGES)
def test_imports_run_only_downward(package: str) -> None:
    assert upward_imports(package) == []


def test_every_package_has_a_place_in_the_graph() -> None:
    packages = {p.parent.name for p in ROOT.glob("*/__init__.py")} - {"tests"}
    assert packages == set(PACKAGES)


def test_an_upward_import_is_found(tmp_path: Path) -> None:
    source = tmp_path / "probe.py"
    source.write_text("def f():\n    from evaluate import renders\n    import bench.run\n")
    assert project_imports(source) == {"evaluate", "bench"}
