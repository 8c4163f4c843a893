"""softgrad is a typed package (PEP 561): a user's code that calls it as the docs show passes
mypy, and clearly wrong calls are reported (tests/typing/)."""

from __future__ import annotations

import io
import os
import re
import subprocess
import sys
import tokenize
from pathlib import Path

import softgrad

TYPING = Path(__file__).parent / "typing"
PACKAGE = Path(softgrad.__file__).parent
# mypy's settings for softgrad's own code ([tool.mypy])
PYPROJECT = Path(__file__).parents[1] / "pyproject.toml"


def run_mypy(path: Path, cache: Path) -> subprocess.CompletedProcess[str]:
    """mypy at its default strictness on ``path``, with the softgrad these tests import."""
    env = dict(os.environ)
    # a source tree (PYTHONPATH, or an editable install) is put on MYPYPATH; an installed
    # softgrad is found by mypy in its site folder, which MYPYPATH must not name (Debian's
    # Python calls it dist-packages: a test of the name "site-packages" failed there)
    if not _installed(PACKAGE.parent):
        env["MYPYPATH"] = str(PACKAGE.parent)
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "mypy",
            "--config-file",
            str(TYPING / "mypy.ini"),
            "--cache-dir",
            str(cache),
            "--no-error-summary",
            "--show-error-codes",
            str(path),
        ],
        capture_output=True,
        text=True,
        env=env,
        cwd=cache.parent,
    )


def run_mypy_on_the_package(cache: Path) -> subprocess.CompletedProcess[str]:
    """mypy at its default strictness, with pyproject.toml's settings, on the source of the
    softgrad these tests import."""
    # an installed softgrad is checked by its name, as mypy finds it in its site folder; a
    # source tree (PYTHONPATH, or an editable install) by its folder
    target = ["-p", "softgrad"] if _installed(PACKAGE.parent) else [str(PACKAGE)]
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "mypy",
            "--config-file",
            str(PYPROJECT),
            "--cache-dir",
            str(cache),
            "--show-error-codes",
            *target,
        ],
        capture_output=True,
        text=True,
        cwd=cache.parent,
    )


def _installed(folder: Path) -> bool:
    """Whether ``folder`` is one of this Python's site folders, where mypy finds packages."""
    import site

    sites = [*site.getsitepackages(), site.getusersitepackages()]
    return any(folder.resolve() == Path(p).resolve() for p in sites)


def wrong_lines(path: Path) -> list[int]:
    """The lines whose comment starts with ``# wrong``."""
    tokens = tokenize.generate_tokens(io.StringIO(path.read_text()).readline)
    return [
        t.start[0] for t in tokens if t.type == tokenize.COMMENT and t.string.startswith("# wrong")
    ]


def test_the_package_carries_its_py_typed_marker():
    assert (PACKAGE / "py.typed").is_file(), f"no py.typed in {PACKAGE}"


def test_documented_use_passes_mypy(tmp_path):
    result = run_mypy(TYPING / "user_code.py", tmp_path / "mypy_cache")
    assert result.returncode == 0, f"mypy on user_code.py:\n{result.stdout}{result.stderr}"


def test_softgrads_own_code_passes_mypy(tmp_path):
    # the package's own annotations hold: each error mypy found here (359 of them when this
    # test was added) had hidden a wrong type, and one a bug (write_npz and an array named
    # "allow_pickle")
    result = run_mypy_on_the_package(tmp_path / "mypy_cache")
    assert result.returncode == 0, f"mypy on {PACKAGE}:\n{result.stdout}{result.stderr}"


def test_wrong_calls_are_reported_on_each_marked_line(tmp_path):
    path = TYPING / "wrong_calls.py"
    expected = wrong_lines(path)
    assert len(expected) >= 10, expected
    result = run_mypy(path, tmp_path / "mypy_cache")
    reported = {
        int(m.group(1))
        for m in re.finditer(r"^.*wrong_calls\.py:(\d+): error:", result.stdout, re.M)
    }
    missed = [line for line in expected if line not in reported]
    unmarked = sorted(reported - set(expected))
    assert result.returncode == 1, f"mypy on wrong_calls.py:\n{result.stdout}{result.stderr}"
    assert not missed, f"mypy reported nothing on lines {missed}:\n{result.stdout}"
    assert not unmarked, f"mypy reported unmarked lines {unmarked}:\n{result.stdout}"


def test_every_lazy_name_is_declared_for_type_checkers():
    # softgrad's names come through __getattr__, which a type checker reads as Any: a name
    # added to __all__ without its import under TYPE_CHECKING would go unchecked for users
    import ast

    tree = ast.parse((PACKAGE / "__init__.py").read_text())
    declared = set()
    for node in tree.body:
        if isinstance(node, ast.If) and getattr(node.test, "id", None) == "TYPE_CHECKING":
            for item in node.body:
                if isinstance(item, ast.ImportFrom):
                    declared |= {alias.asname for alias in item.names if alias.asname}
                elif isinstance(item, ast.AnnAssign):
                    declared.add(item.target.id)
    lazy = set(softgrad.__all__) - {"__version__"} | set(softgrad._NOT_STARRED)
    assert lazy == declared
