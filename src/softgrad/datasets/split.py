"""A deterministic stratified train/test split, vectorised (no loop over samples or classes)."""

from __future__ import annotations

import numpy as np

__all__ = ["stratified_split"]


def stratified_split(
    y: np.ndarray, test_fraction: float, rng: np.random.Generator | int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Split sample indices so every class keeps its share in both parts.

    Parameters
    ----------
    y : ndarray of shape (N,)
        Integer labels, ``y >= 0``.
    test_fraction : float
        Share of each class sent to the test part, ``0 < test_fraction < 1``.
    rng : numpy.random.Generator or int, optional
        Source of the shuffle; an int is a seed. The same seed always gives the same split.

    Returns
    -------
    train_idx, test_idx : ndarray of shape (N - M,) and (M,), int64
        Sorted, disjoint indices covering ``range(N)``.

    Notes
    -----
    A class of ``n`` samples sends ``round(test_fraction * n)`` of them to the test part, but
    always keeps at least one for training, and sends at least one to the test part when it has
    two or more. A class of a single sample goes to training.

    Example
    -------
    >>> train_idx, test_idx = stratified_split(np.array([0, 0, 0, 0, 1, 1, 1, 1]), 0.25, rng=0)
    >>> len(train_idx), len(test_idx)
    (6, 2)
    >>> np.bincount(np.array([0, 0, 0, 0, 1, 1, 1, 1])[test_idx]).tolist()
    [1, 1]
    """
    y = np.asarray(y)
    if y.ndim != 1 or (y.size and (y.dtype.kind not in "iu" or y.min() < 0)):
        raise ValueError(f"stratified_split: y must be 1-D non-negative integers; got {y.dtype}")
    if not 0.0 < float(test_fraction) < 1.0:
        raise ValueError(
            f"stratified_split: test_fraction must be in (0, 1); got {test_fraction!r}"
        )
    rng = np.random.default_rng(rng)
    counts = np.bincount(y) if y.size else np.zeros(0, dtype=np.int64)
    n_test = np.rint(counts * float(test_fraction)).astype(np.int64)
    n_test = np.clip(n_test, np.minimum(counts - 1, 1), np.maximum(counts - 1, 0))
    # shuffle, then stable-sort by class: each class's samples form a run in random order, and a
    # sample's rank within its run decides its side
    order = rng.permutation(y.size)
    order = order[np.argsort(y[order], kind="stable")]
    starts = np.concatenate(([0], np.cumsum(counts)[:-1])) if counts.size else counts
    rank = np.arange(y.size) - np.repeat(starts, counts)
    is_test = np.empty(y.size, dtype=bool)
    is_test[order] = rank < np.repeat(n_test, counts)
    return np.flatnonzero(~is_test), np.flatnonzero(is_test)
