"""One section of BENCHMARKS.md: the text between ``<!-- NAME:begin -->`` and
``<!-- NAME:end -->``, which one benchmark script rewrites after its run (``training``:
run.py, ``ops``: bench_ops.py, ``sklearn``: bench_sklearn.py), every other byte of the file
left as it was.

A file that holds one of a section's markers without the other, or either twice, is refused
(:func:`markers_problem`), and each script checks that before its run, not after: with one
marker gone the section's end is unknown, and a rewrite appended a second section below the
first instead of replacing it. That happened twice: to the training section, and to the ops
section, whose stale copy (closed by an orphan end marker) sat in BENCHMARKS.md for two days.
"""

from __future__ import annotations

import os
from pathlib import Path

HEADING = "# softgrad benchmarks\n"


def markers(name: str) -> tuple[str, str]:
    """The begin and end markers of the section ``name``."""
    return f"<!-- {name}:begin -->", f"<!-- {name}:end -->"


def markers_problem(path: Path, name: str) -> str | None:
    """What keeps :func:`write_section` from rewriting the section ``name`` of ``path``, or
    None: the file must hold both of its markers once, in order, or neither (a missing file is
    fine)."""
    if not path.exists():
        return None
    begin, end = markers(name)
    text = path.read_text()
    counts = text.count(begin), text.count(end)
    if counts == (0, 0):
        return None
    if counts != (1, 1) or text.index(begin) > text.index(end):
        return (
            f"{path} must hold the markers {begin} and {end} once each, in that order, or "
            f"neither; it holds {counts[0]} and {counts[1]} (put the missing one back around "
            f"the {name} section)"
        )
    return None


def write_section(path: Path, name: str, body: str) -> None:
    """Replace the text between the markers of the section ``name`` with ``body``, or append
    the section where the file has neither marker (create the file where it is missing), in
    one atomic rename.

    Raises
    ------
    ValueError
        The file holds one marker without the other, or either twice (:func:`markers_problem`).
    """
    problem = markers_problem(path, name)
    if problem is not None:
        raise ValueError(problem)
    begin, end = markers(name)
    block = f"{begin}\n{body.rstrip()}\n{end}"
    text = path.read_text() if path.exists() else HEADING
    if begin in text:
        head, rest = text.split(begin, 1)
        text = head + block + rest.split(end, 1)[1]
    else:
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")  # same folder: the rename is atomic
    tmp.write_text(text)
    os.replace(tmp, path)
