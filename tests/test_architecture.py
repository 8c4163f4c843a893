"""The house's floors, checked on the source: a lower floor never imports a higher one.

See CONVENTIONS.md: functional (math) at the bottom, then the building blocks (nn, optim), then
the workflows, then the faces. Imports are read from the syntax tree, so an import inside a
function counts as much as one at the top of a module.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "softgrad"

# floor of each top-level part of the package (modules and subpackages)
FLOORS = {
    "errors": 0,
    "_blas": 0,
    "kernels": 0,
    "functional": 0,
    "nn": 1,
    "optim": 1,
    "training": 2,
    "gradcheck": 2,
    "serialization": 2,
    "model_checks": 2,
    "model": 2,
    "preprocessing": 2,
    "metrics": 2,
    "datasets": 2,
    "cli": 3,
    "sklearn": 3,
    "plots": 3,
    "onnx_export": 3,
}


def _part(path: Path) -> str:
    return path.relative_to(SRC).parts[0].removesuffix(".py")


def _imported_parts(path: Path) -> set[str]:
    """Top-level softgrad parts a module imports (absolute and relative imports)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    here = path.relative_to(SRC).with_suffix("").parts
    parts = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = here[: len(here) - node.level]
                module = ".".join(("softgrad", *base, *([node.module] if node.module else [])))
                names = [module]
                if not (base or node.module):  # "from .. import errors" at the package root
                    names = [f"softgrad.{alias.name}" for alias in node.names]
            else:
                names = [node.module or ""]
                if node.module == "softgrad":
                    names = [f"softgrad.{alias.name}" for alias in node.names]
        else:
            continue
        for name in names:
            pieces = name.split(".")
            if pieces[0] == "softgrad" and len(pieces) > 1:
                parts.add(pieces[1])
    return parts


def _modules():
    return sorted(p for p in SRC.rglob("*.py") if _part(p) in FLOORS)


def test_every_part_of_the_package_has_a_floor():
    parts = {_part(p) for p in SRC.rglob("*.py")} - {"__init__", "__main__"}
    assert parts <= set(FLOORS), f"parts without a floor: {sorted(parts - set(FLOORS))}"


@pytest.mark.parametrize("path", _modules(), ids=lambda p: str(p.relative_to(SRC)))
def test_no_module_imports_a_higher_floor(path):
    floor = FLOORS[_part(path)]
    higher = {part for part in _imported_parts(path) if part in FLOORS and FLOORS[part] > floor}
    assert not higher, f"{path.relative_to(SRC)} (floor {floor}) imports {sorted(higher)}"


@pytest.mark.parametrize("path", sorted((SRC / "functional").rglob("*.py")), ids=lambda p: p.name)
def test_functional_imports_only_kernels_and_errors(path):
    assert _imported_parts(path) <= {"functional", "kernels", "errors"}, path.name


@pytest.mark.parametrize("path", _modules(), ids=lambda p: str(p.relative_to(SRC)))
def test_matrix_products_stay_in_numpys_blas(path):
    # SciPy's wheel brings its own OpenBLAS: alternating its calls with NumPy's products makes the
    # two thread pools spin against each other (measured here: a training epoch 18x slower with
    # the default thread count). Every BLAS call goes through NumPy.
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("scipy.linalg"):
            pytest.fail(f"{path.relative_to(SRC)}:{node.lineno} imports {node.module}")
        if isinstance(node, ast.ImportFrom) and node.module == "scipy":
            assert "linalg" not in {a.name for a in node.names}, path
        if isinstance(node, ast.Import):
            for alias in node.names:
                assert not alias.name.startswith("scipy.linalg"), (path, node.lineno)
