"""What a refused call leaves behind: nothing. :func:`unchanged_if_refused` puts an object's
attributes back as they were when the block that sets them up raises."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


@contextmanager
def unchanged_if_refused(owner: Any) -> Iterator[None]:
    """``owner``'s attributes (its ``__dict__``, shallowly) as they were if the block raises,
    Ctrl-C included: a call refused midway leaves no half-set attribute behind, and the next
    call goes on from the same state. Arrays the block changed in place are not put back; a
    caller changes those only after its checks.

    Example
    -------
    >>> class Counter:
    ...     epoch = 0
    >>> counter = Counter()
    >>> try:
    ...     with unchanged_if_refused(counter):
    ...         counter.epoch = 1
    ...         raise ValueError("refused")
    ... except ValueError:
    ...     pass
    >>> counter.epoch
    0
    """
    before = dict(vars(owner))
    try:
        yield
    except BaseException:
        vars(owner).clear()
        vars(owner).update(before)
        raise
