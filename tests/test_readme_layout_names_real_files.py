"""The files and folders that the README's Layout and docs/architecture.md name exist, so a
package split or a renamed module shows up here until the pages say where its code went."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "src" / "softgrad"
# a bare name is a top-level module, a path from the package or the repository, or (in the kernel
# seam's list of NumpyOps's files) a kernel file
PLACES = (PACKAGE, ROOT, PACKAGE / "kernels")
NAME = re.compile(r"(?<![\w./$~<*-])((?:[a-z_]+/)*(?:[a-z_]+\.py|[a-z_]+/))(?![\w*<])")


def _layout_block() -> str:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    start = text.index("\n## Layout\n")
    return re.search(r"```\n(.*?)```", text[start:], flags=re.S).group(1)


def _names(text: str) -> list[str]:
    return sorted(set(NAME.findall(text)))


def _exists(name: str) -> bool:
    return any((place / name).exists() for place in PLACES)


def test_the_patterns_find_the_names():
    names = _names("`training/predict.py` (`predict_batches`) and `kernels/` `a/b/__init__.py`")
    assert names == ["a/b/__init__.py", "kernels/", "training/predict.py"]


@pytest.mark.parametrize(
    ("page", "text"),
    [
        ("README.md Layout", _layout_block()),
        ("docs/architecture.md", (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")),
    ],
    ids=["readme", "architecture"],
)
def test_every_file_a_page_names_exists(page, text):
    # the architecture page's example of an import path, not a file of the package
    missing = [n for n in _names(text) if not _exists(n) and n != "a/b/__init__.py"]
    assert missing == [], f"{page} names files that do not exist: {missing}"
