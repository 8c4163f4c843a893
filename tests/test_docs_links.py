"""The README and the pages in docs/ link to files and headings that exist, and the README links
every page, so a page moved, renamed or retitled shows up here instead of as a dead link."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
FENCE = re.compile(r"^```.*?^```", flags=re.S | re.M)
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")


def _prose(path: Path) -> str:
    """The page without its fenced blocks (a ``# comment`` in a shell block is no heading)."""
    return FENCE.sub("", path.read_text(encoding="utf-8"))


def _anchor(heading: str) -> str:
    """GitHub's anchor of a heading: lower case, punctuation dropped, spaces to hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def _anchors(path: Path) -> set[str]:
    return {_anchor(h) for h in re.findall(r"^#{1,6} (.+)$", _prose(path), flags=re.M)}


def _links(path: Path) -> list[str]:
    return [t for t in LINK.findall(_prose(path)) if not re.match(r"[a-z]+:", t)]


def test_the_anchor_rule_is_githubs():
    assert _anchor("Scale out: MPI and Dask") == "scale-out-mpi-and-dask"
    assert _anchor("Divergence, interrupts and resume") == "divergence-interrupts-and-resume"
    assert _anchor("Where it departs from scikit-learn's estimator") == (
        "where-it-departs-from-scikit-learns-estimator"
    )


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_every_link_names_a_file_and_heading_that_exist(page):
    dead = []
    for target in _links(page):
        file, _, anchor = target.partition("#")
        linked = (page.parent / file).resolve() if file else page
        if not linked.exists():
            dead.append(f"{target} (no file {linked.relative_to(ROOT)})")
        elif anchor and (linked.suffix != ".md" or anchor not in _anchors(linked)):
            dead.append(f"{target} (no heading #{anchor} in {linked.relative_to(ROOT)})")
    assert dead == [], f"{page.relative_to(ROOT)} links to what does not exist: {dead}"


def test_the_readme_links_every_page():
    linked = {(ROOT / target.partition("#")[0]).resolve() for target in _links(ROOT / "README.md")}
    assert [p.name for p in PAGES[1:] if p.resolve() not in linked] == []
