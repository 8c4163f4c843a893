"""softgrad's one stratified split: the test set of a data set and fit's validation set.

The held-out part has exactly ``ceil(fraction * N)`` samples (scikit-learn's rounding of
``test_size``), shared among the classes by largest remainder, vectorised (no loop over samples
or classes).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from numbers import Real
from typing import cast

import numpy as np

from softgrad.checks import counted
from softgrad.errors import DataFormatError
from softgrad.nn.layer import as_generator

__all__ = ["stratified_split"]


def stratified_split(
    y: np.ndarray, fraction: float, rng: np.random.Generator | int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Split sample indices so that every class keeps its share in the held-out part.

    Parameters
    ----------
    y : ndarray of int of shape (N,)
        Class labels, non-negative integers (need not be contiguous), ``N >= 2``.
    fraction : float
        Share of the samples to hold out, ``0 < fraction < 1``; the held-out part has
        ``M = ceil(fraction * N)`` samples and must leave at least one: ``M < N``.
    rng : numpy.random.Generator or int or None
        Source of the random choice; an int is a seed, so the same seed always gives the same
        split. A Generator is advanced by exactly one permutation of N.

    Returns
    -------
    train_idx : ndarray of int of shape (N - M,)
    held_out_idx : ndarray of int of shape (M,)
        Sorted, disjoint indices covering ``range(N)``.

    Raises
    ------
    ValueError
        ``y`` is not 1-D non-negative integers or has fewer than 2 samples; ``fraction`` is
        outside (0, 1) or would hold out every sample.
    TypeError
        ``fraction`` is not a real number; ``rng`` is not a Generator, an int or None.

    Notes
    -----
    Largest remainder: class c of ``N_c`` samples first gets ``floor(M * N_c / N)``; the ones
    still missing go, one each, to the classes with the largest remainders of ``M * N_c / N``
    (exact integer arithmetic; ties: larger class, then smaller label). So the counts add up to
    exactly M, and each class gets the floor or the ceiling of its exact share, but for the rule
    that follows.

    A class keeps a training sample unless M can only be reached by holding out its last one
    (M > N - C, C the classes): a class held out whole could never be learnt, and is always
    wrong where it is scored. So a ceiling that would take a class's last sample (a class with
    a single sample, or 4 samples with a share of 3.6) is not given; the samples still missing
    go beyond the ceilings of the classes that can spare them, in proportion to their sizes;
    and only then, one each and by largest remainder, to the last samples of classes. (The
    remainders alone sent a class's only sample to the test set where the larger classes'
    shares were whole: 100 samples each of two classes and five single samples, 20% held out.)

    Examples
    --------
    >>> y = np.array([0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1])
    >>> train_idx, held_out_idx = stratified_split(y, 0.25, rng=0)
    >>> np.bincount(y[held_out_idx]).tolist(), len(train_idx)
    ([1, 2], 9)
    """
    labels = _check_labels(y)
    n_samples = len(labels)
    n_held = _check_fraction(fraction, n_samples)
    generator = as_generator(rng, "stratified_split")
    _, inverse, counts = np.unique(labels, return_inverse=True, return_counts=True)
    per_class = _allocate(counts, n_held)
    # a random permutation, then a stable sort by class: each class's members in random order,
    # and a member's rank within its class decides its side
    order = generator.permutation(n_samples)
    grouped = order[np.argsort(inverse[order], kind="stable")]
    starts = np.cumsum(counts) - counts
    rank = np.arange(n_samples) - np.repeat(starts, counts)
    is_held = rank < np.repeat(per_class, counts)
    return np.sort(grouped[~is_held]), np.sort(grouped[is_held])


def _check_labels(y) -> np.ndarray:
    labels = np.asarray(y)
    if labels.ndim != 1:
        raise ValueError(
            f"stratified_split: y must be 1-D non-negative integers; got shape {labels.shape}"
        )
    if labels.dtype.kind not in "iu":
        raise ValueError(
            f"stratified_split: y must be 1-D non-negative integers; got dtype {labels.dtype}"
        )
    if labels.size and labels.min() < 0:
        raise ValueError(
            f"stratified_split: y must be 1-D non-negative integers; got {labels.min().item()!r}"
        )
    if labels.size < 2:
        raise ValueError(
            f"stratified_split: y must have at least 2 samples to split; got {labels.size}"
        )
    return labels


def held_out_size(fraction: float, n_samples: int) -> int:
    """The samples :func:`stratified_split` holds out of ``n_samples``: ``ceil(fraction * N)``
    (scikit-learn's rounding), for a caller that must know it before splitting."""
    return math.ceil(fraction * n_samples)


def _check_fraction(fraction, n_samples: int) -> int:
    """Validate ``fraction`` and return the held-out size ``ceil(fraction * n_samples)``."""
    if not isinstance(fraction, Real) or isinstance(fraction, bool):
        raise TypeError(f"stratified_split: fraction must be a real number; got {fraction!r}")
    # every Real compares and multiplies as a float does; numbers.Real's stubs declare only
    # its own __lt__ and __le__, so a float on the left is refused
    real = cast(float, fraction)
    if not 0.0 < real < 1.0:
        raise ValueError(f"stratified_split: fraction must be in (0, 1); got {fraction!r}")
    n_held = held_out_size(real, n_samples)
    if n_held >= n_samples:
        raise ValueError(
            f"stratified_split: fraction must leave at least one training sample, "
            f"ceil(fraction * N) < N; got {fraction!r} of {n_samples} samples"
        )
    return n_held


# the largest N whose products M * N_c (M < N) stay within int64: isqrt(2**63 - 1)
MAX_SAMPLES = 3_037_000_499


def _allocate(counts: np.ndarray, n_held: int) -> np.ndarray:
    """Largest-remainder shares of ``n_held`` in proportion to ``counts``, each class keeping a
    sample while ``n_held`` allows (:func:`stratified_split`'s Notes)."""
    # integers throughout: M * N_c // N and its remainder are exact, so ties are real ties,
    # while M * N fits int64 (past it the products wrapped, and the shares of the loop below
    # came out negative and never ended). The floors never take a class's last sample:
    # M * N_c / N < N_c, as M < N
    if int(counts.sum()) > MAX_SAMPLES:
        raise ValueError(
            f"stratified_split: y must hold at most {MAX_SAMPLES:,} samples (the shares are "
            f"exact int64 products of two counts); got {int(counts.sum()):,}"
        )
    per_class, remainder = np.divmod(counts * n_held, counts.sum())
    spare = counts - 1  # what a class can give and keep a training sample
    labels = np.arange(len(counts))
    short = n_held - int(per_class.sum())
    # 1. the ceilings, by largest remainder (then larger class, smaller label), where a class
    # can spare one more; sum(remainder) / N == short < the number of positive remainders
    ceiling = (remainder > 0) & (per_class < spare)
    ranking = np.lexsort((labels, -counts, -remainder, ~ceiling))
    take = min(short, int(np.count_nonzero(ceiling)))
    per_class[ranking[:take]] += 1
    short -= take
    room = spare - per_class
    while short and room.any():
        # 2. beyond the ceilings rather than a class's last sample, shared in proportion to
        # the classes that can spare (all of it on the largest put 47% of one class and 31% of
        # its neighbours, one sample smaller, in a 30% split); where the shares round to 0,
        # one each to the largest
        weights = np.where(room > 0, counts, 0)
        extra = np.minimum(short * weights // weights.sum(), room)
        if not extra.any():
            extra[np.lexsort((labels, -weights))[: min(short, np.count_nonzero(room))]] = 1
        per_class += extra
        room -= extra
        short -= int(extra.sum())
    if short:
        # 3. M > N - C: every class gives all but one; last samples by largest remainder
        per_class[np.lexsort((labels, -counts, -remainder))[:short]] += 1
    return per_class


def held_out_per_class(y: np.ndarray, fraction: float) -> np.ndarray:
    """How many samples of each class (``np.bincount(y)``'s order) :func:`stratified_split`
    holds out of ``y`` at ``fraction``, without drawing the split: for a caller that checks a
    share before it splits (every class validated, none held out whole)."""
    counts = np.bincount(_check_labels(y))
    shares = np.zeros_like(counts)
    present = counts > 0
    shares[present] = _allocate(counts[present], _check_fraction(fraction, len(y)))
    return shares


def validation_problem(
    y: np.ndarray, fraction: float, samples: str = "samples", ignored: int | None = None
) -> str | None:
    """Why the split of ``y`` at ``fraction`` fails a class as a validation set, or None: a
    class of 2 or more samples gets no validation sample, or a class is held out whole. A class
    of a single sample cannot be on both sides and is not a failure. ``samples`` names what
    ``y`` holds in the reason ("training samples"); ``ignored`` is a label that is split but
    is not a class (fit's stratum of the targets its loss ignores).

    Example
    -------
    >>> validation_problem(np.repeat([0, 1, 2], [40, 4, 4]), 0.02)
    '0.02 of 48 samples is fewer than one per class (3 classes)'
    >>> validation_problem(np.repeat([0, 1, 2], [40, 4, 4]), 0.2) is None
    True
    """
    n = len(y)
    held = held_out_size(fraction, n)
    if held >= n:
        return f"{fraction:g} of {n} {samples} holds every one out"
    counts = np.bincount(_check_labels(y))
    judged = np.ones(len(counts), dtype=bool)
    if ignored is not None and ignored < len(counts):
        judged[ignored] = False
    several = int(np.count_nonzero(judged & (counts >= 2)))
    if held < several:  # the split holds out ceil(fraction * N) samples
        of = "" if several == np.count_nonzero(judged & (counts > 0)) else " of 2 or more samples"
        return f"{fraction:g} of {n} {samples} is fewer than one per class ({several} classes{of})"
    shares = held_out_per_class(y, fraction)
    whole = int(np.count_nonzero(judged & (counts > 0) & (shares == counts)))
    if whole:
        every = samples.removesuffix("s")  # "every training sample of 2 classes"
        return f"{fraction:g} of {n} {samples} holds out every {every} of {counted(whole, 'class')}"
    missed = int(np.count_nonzero(judged & (counts >= 2) & (shares == 0)))
    if missed:
        return (
            f"{fraction:g} of {n} {samples} gives {counted(missed, 'class')} no validation "
            "sample (the split shares it by class size)"
        )
    return None


def validating_fractions(y: np.ndarray, ignored: int | None = None) -> tuple[list[float], bool]:
    """The shares at which :func:`validation_problem` finds none, in whole percent (else per
    mille where no whole percent works), and whether they are a range without a gap: a class
    of 2 can lose its validation sample to the remainders as the share grows."""
    works: list[float] = []
    for steps in (100, 1000):
        works = [
            k / steps for k in range(1, steps) if not validation_problem(y, k / steps, "", ignored)
        ]
        if works:
            break
    whole = bool(works) and len(works) == round((works[-1] - works[0]) * steps) + 1
    return works, whole


def fraction_fix(y: np.ndarray, option: str, ignored: int | None = None) -> str:
    """What to pass as ``option`` (``--val-fraction``, ``validation_fraction``) so that the
    split of ``y`` validates every class and keeps each a sample: a range where every share
    in it works, else the first that does."""
    works, whole = validating_fractions(y, ignored)
    if not works:
        return "this data set has too few samples to hold one per class out"
    if whole and works[-1] >= 0.99:
        return f"pass {option} {works[0]:g} or more to hold out one sample per class"
    shares = f"from {works[0]:g} to {works[-1]:g}" if whole and len(works) > 1 else f"{works[0]:g}"
    return f"pass {option} {shares} to hold out one sample per class and keep one"


def split_off_test(
    y: np.ndarray, fraction: float, seed: int, where: str, names: Sequence[str]
) -> tuple[np.ndarray, np.ndarray]:
    """A data set's test split (:func:`stratified_split`), refused where it holds out a class
    whole: it can only when M > N - C (more classes than the training part can keep), and such
    a class is never learnt and always wrong where it is scored.

    Raises
    ------
    DataFormatError
        Naming a class held out whole, and how many such classes there are.
    """
    train_idx, held_idx = stratified_split(y, fraction, rng=seed)
    whole = np.setdiff1d(y[held_idx], y[train_idx])
    if whole.size:
        more = f" and {whole.size - 1} more" if whole.size > 1 else ""
        raise DataFormatError(
            f"{where}: data must keep a training sample of every class when its test set "
            f"({len(held_idx)} of {len(y)} samples) is held out; got {len(names)} classes, so "
            f"class {names[whole[0]]!r}{more} would be in the test set only (add samples of "
            "the rarest classes)"
        )
    return train_idx, held_idx
