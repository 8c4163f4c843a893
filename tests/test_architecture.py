"""The house, checked on the source: a lower floor never imports a higher one, and no two
modules import each other (directly or round a longer loop).

See docs/architecture.md: kernels and functional (math) at the bottom, then the building blocks
(nn, optim), then the workflows, then the faces. Imports are read from the syntax tree, so an
import inside a function counts as much as one at the top of a module.
"""

from __future__ import annotations

import ast
import textwrap
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "softgrad"

# floor of each top-level part of the package (modules and subpackages)
FLOORS = {
    "errors": 0,
    "atomic": 0,
    "staging": 0,
    "checks": 0,
    "kernels": 0,
    "functional": 0,
    "nn": 1,
    "optim": 1,
    "training": 2,
    "gradcheck": 2,
    "serialization": 2,
    "model_checks": 2,
    "model_file_meta": 2,
    "model_file_scaler": 2,
    "model": 2,
    "model_inputs": 2,
    "preprocessing": 2,
    "preprocessing_params": 2,
    "scaling": 2,
    "stored_rows": 2,
    "coded_rows": 2,
    "metrics": 2,
    "datasets": 2,
    "cli": 3,
    "sklearn": 3,
    "plots": 3,
    "onnx_export": 3,
    "onnx_external": 3,
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
def test_functional_imports_only_kernels_checks_and_errors(path):
    # its argument checks are softgrad.checks, the one set at the bottom floor
    assert _imported_parts(path) <= {"functional", "kernels", "checks", "errors"}, path.name


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


# --- import cycles ------------------------------------------------------------------------------


def _module_name(path: Path, root: Path) -> str:
    """Dotted name of the module at ``path`` (a package's ``__init__`` is the package)."""
    parts = path.relative_to(root.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _import_edges(path: Path, root: Path, modules: set[str]) -> set[str]:
    """The modules of ``modules`` that the file at ``path`` imports, anywhere in its body.

    Imports under ``if TYPE_CHECKING:`` are left out: they never run, so they cannot make a
    cycle (the type-only import of gradcheck/hints.py names diagnosis.Probe for an annotation).
    ``from pkg import name`` points at the submodule ``pkg.name`` when there is one, else at
    ``pkg`` itself; ``import a.b.c`` points at ``a.b.c``. Importing ``a.b.c`` from outside the
    package ``a.b`` also runs ``a/b/__init__.py``, so it points at ``a.b`` too (from inside, the
    package is already being imported and Python does not run it again).
    """
    tree = ast.parse(path.read_text(encoding="utf-8"))
    name = _module_name(path, root)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    # imports under "if TYPE_CHECKING:" exist for annotations only and never run
    type_only = {
        id(inner)
        for node in ast.walk(tree)
        if isinstance(node, ast.If) and ast.unparse(node.test).endswith("TYPE_CHECKING")
        for statement in node.body
        for inner in ast.walk(statement)
    }
    targets = set()
    for node in ast.walk(tree):
        if id(node) in type_only:
            continue
        if isinstance(node, ast.Import):
            targets.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join([*base, *([node.module] if node.module else [])])
            else:
                module = node.module or ""
            for alias in node.names:
                submodule = f"{module}.{alias.name}"
                targets.add(submodule if submodule in modules else module)
    for target in list(targets):
        pieces = target.split(".")
        for end in range(1, len(pieces)):
            outer = ".".join(pieces[:end])
            if not name.startswith(outer + "."):
                targets.add(outer)
    return {target for target in targets if target in modules and target != name}


def import_graph(root: Path) -> dict[str, set[str]]:
    """Module name -> the modules it imports, for every .py file of the package at ``root``."""
    paths = {_module_name(p, root): p for p in root.rglob("*.py")}
    modules = set(paths)
    return {name: _import_edges(path, root, modules) for name, path in paths.items()}


def import_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every group of modules that import each other (Tarjan's strongly connected components)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph.get(node, ())):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return cycles


def test_no_import_cycle_anywhere_in_src():
    cycles = import_cycles(import_graph(SRC))
    assert not cycles, "modules that import each other: " + "; ".join(
        " <-> ".join(cycle) for cycle in cycles
    )


def _write_package(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / "pkg" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text), encoding="utf-8")
    return root / "pkg"


def test_the_cycle_detector_finds_a_planted_cycle(tmp_path):
    # a -> b at the top, b -> c inside a function, c -> a relatively: one three-module loop;
    # d imports a but nothing imports d back, so it stays out of the loop
    package = _write_package(
        tmp_path,
        {
            "__init__.py": "",
            "a.py": "from pkg import b\n",
            "b.py": "def late():\n    import pkg.sub.c\n",
            "sub/__init__.py": "",
            "sub/c.py": "from .. import a\n",
            "d.py": "from pkg.a import something\n",
        },
    )
    graph = import_graph(package)
    assert graph["pkg.a"] == {"pkg.b"} and graph["pkg.sub.c"] == {"pkg.a"}
    assert graph["pkg.b"] == {"pkg.sub", "pkg.sub.c"}  # importing pkg.sub.c runs pkg.sub first
    assert import_cycles(graph) == [["pkg.a", "pkg.b", "pkg.sub.c"]]


def test_the_cycle_detector_sees_a_loop_through_a_package_init(tmp_path):
    # the shape datasets/idx.py <-> serialization.py had: s imports data.sniff, which runs
    # data/__init__.py, which imports data.idx, which imports s back
    package = _write_package(
        tmp_path,
        {
            "__init__.py": "",
            "s.py": "from pkg.data.sniff import read\n",
            "data/__init__.py": "from pkg.data.idx import load\n",
            "data/sniff.py": "",
            "data/idx.py": "def save():\n    from pkg.s import write\n",
        },
    )
    assert import_cycles(import_graph(package)) == [["pkg.data", "pkg.data.idx", "pkg.s"]]


def test_the_cycle_detector_passes_a_package_without_one(tmp_path):
    # b names a's type for an annotation only: that import never runs
    package = _write_package(
        tmp_path,
        {
            "__init__.py": "",
            "a.py": "from pkg import b\n",
            "b.py": "import typing\nif typing.TYPE_CHECKING:\n    from pkg.a import A\n",
        },
    )
    assert import_cycles(import_graph(package)) == []


# the one write below the faces: MPI's last resort, the traceback of a rank about to be killed
# (training/distributed.py, Communicator.abort)
_LAST_WORDS = {("training/distributed.py", "print_exception")}


def _writes(path: Path) -> list[str]:
    """The prints and writes to stdout or stderr in a module, as ``name:line``."""
    return _writes_in(path.read_text(encoding="utf-8"), str(path.relative_to(SRC)))


def _writes_in(source: str, where: str) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        if isinstance(func, ast.Name) and func.id == "print":
            found.append(("print", node.lineno))
        elif isinstance(func, ast.Attribute) and func.attr in ("print_exception", "print_exc"):
            found.append((func.attr, node.lineno))
        elif (
            isinstance(func, ast.Attribute)
            and func.attr == "write"
            and isinstance(func.value, ast.Attribute)
            and func.value.attr in ("stdout", "stderr")
        ):
            found.append((f"{func.value.attr}.write", node.lineno))
    return [f"{name}:{line}" for name, line in found if (where, name) not in _LAST_WORDS]


@pytest.mark.parametrize(
    "path",
    [p for p in _modules() if FLOORS[_part(p)] < 3],
    ids=lambda p: str(p.relative_to(SRC)),
)
def test_only_the_faces_print(path):
    # the estimator's verbose lines were printed from training/callbacks.py
    assert not _writes(path), f"{path.relative_to(SRC)} writes to the terminal: {_writes(path)}"


def test_the_print_finder_sees_prints_and_writes():
    source = "import sys, traceback\nprint(1)\nsys.stdout.write('x')\nsys.stderr.write('y')\n"
    source += "traceback.print_exception(None)\n"
    assert _writes_in(source, "training/x.py") == [
        "print:2",
        "stdout.write:3",
        "stderr.write:4",
        "print_exception:5",
    ]
    assert _writes_in(source, "training/distributed.py")[-1] == "stderr.write:4"
