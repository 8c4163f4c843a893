"""A stratified train/validation split drawn from an explicit random generator."""

from __future__ import annotations

import math

import numpy as np


def stratified_split(
    target: np.ndarray, fraction: float, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Split sample indices so that every class keeps its share in the validation set.

    Parameters
    ----------
    target : ndarray of shape (N,)
        Integer class labels.
    fraction : float
        Share of samples to hold out, in (0, 1). The validation set has ``ceil(fraction * N)``
        samples (scikit-learn's rounding of ``test_size``).
    rng : numpy.random.Generator
        Source of the random choice (advanced by one permutation of N).

    Returns
    -------
    train_idx : ndarray of shape (N - n_val,), intp
    val_idx : ndarray of shape (n_val,), intp
        Sorted, disjoint indices covering ``range(N)``.

    Notes
    -----
    Class c gets ``floor(n_val * N_c / N)`` validation samples; the remaining ones go, one each,
    to the classes with the largest fractional parts (ties: larger class, then smaller label),
    so the counts always add up to ``n_val`` and never exceed a class's size.

    Example
    -------
    >>> target = np.array([0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1])
    >>> train_idx, val_idx = stratified_split(target, 0.25, np.random.default_rng(0))
    >>> np.bincount(target[val_idx]).tolist(), len(train_idx)
    ([1, 2], 9)
    """
    n_samples = len(target)
    if not 0.0 < fraction < 1.0:
        raise ValueError(f"fit: validation_fraction must be in (0, 1); got {fraction!r}")
    n_val = math.ceil(fraction * n_samples)
    if n_val >= n_samples:
        raise ValueError(
            f"fit: validation_fraction must leave at least one training sample; got "
            f"{fraction!r} of {n_samples} samples"
        )
    _, inverse, counts = np.unique(target, return_inverse=True, return_counts=True)
    per_class = _allocate(counts, n_val)
    # a random permutation, then a stable sort by class: each class's members in random order
    order = rng.permutation(n_samples)
    grouped = order[np.argsort(inverse[order], kind="stable")]
    starts = np.cumsum(counts) - counts
    rank = np.arange(n_samples) - np.repeat(starts, counts)
    is_val = rank < np.repeat(per_class, counts)
    return np.sort(grouped[~is_val]), np.sort(grouped[is_val])


def _allocate(counts: np.ndarray, n_val: int) -> np.ndarray:
    exact = counts * (n_val / counts.sum())
    per_class = np.floor(exact).astype(np.intp)
    short = n_val - int(per_class.sum())
    if short > 0:
        # largest fractional part first; ties by larger class, then by class order
        frac = exact - per_class
        rank = np.lexsort((np.arange(len(counts)), -counts, -frac))
        per_class[rank[:short]] += 1
    # float rounding must never ask a class for more samples than it has
    return np.minimum(per_class, counts)
