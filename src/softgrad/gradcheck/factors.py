"""A gradient's factor against the right one, as a person reads it: ``2``, ``1/4 (= 1/N, N = 4
the batch size)``, ``0.37``; and whether it is one a mistake writes (a small fraction, a power
of the batch size or of the class count) or one a single entry happens to give.
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np

__all__ = ["factor_name", "readable_factor"]


def factor_name(factor: float, n: int, c: int) -> str:
    """``"2"``, ``"1/4 (= 1/N, N = 4 the batch size)"``, ``"0.37"``: a factor as a person reads it,
    naming it as a power of ``n`` (the batch size N) or ``c`` (the class count C) where it is one.

    Examples
    --------
    >>> [factor_name(f, 4, 10) for f in (2.0, 0.25, 10.0, 0.37)]
    ['2', '1/4 (= 1/N, N = 4 the batch size)', '10 (= C, C = 10 the classes)', '0.37']
    >>> factor_name(float("inf"), 4, 10), factor_name(float("nan"), 4, 10)
    ('inf', 'nan')
    """
    if not np.isfinite(factor):  # Fraction cannot hold NaN or inf
        return f"{factor:g}"
    fraction = _small_fraction(factor)
    text = f"{factor:.3g}" if fraction is None else str(fraction)
    size = _size_power(factor, n, c)
    return text if size is None else f"{text} (= {size})"


def _small_fraction(factor: float) -> Fraction | None:
    """``factor`` as a fraction of denominator at most 64, if it is one (to 1e-6)."""
    fraction = Fraction(factor).limit_denominator(64)
    return fraction if abs(float(fraction) - factor) <= 1e-6 * abs(factor) else None


def _size_power(factor: float, n: int, c: int) -> str | None:
    """``"1/N, N = 4 the batch size"`` when ``factor`` is N, C, their inverses or squares."""
    sizes = ((n, "N", f"N = {n} the batch size"), (c, "C", f"C = {c} the classes"))
    for size, letter, meaning in sizes:
        powers = ((1, letter), (-1, f"1/{letter}"), (2, f"{letter}**2"), (-2, f"1/{letter}**2"))
        for power, label in powers:
            value = float(size) ** power
            if size > 1 and abs(factor - value) <= 1e-6 * value:
                return f"{label}, {meaning}"
    return None


def readable_factor(factor: float, n: int, c: int) -> bool:
    """True for a factor a mistake writes (2, -1/2, 1/N), not one a single entry happens to
    give (0.623)."""
    return _small_fraction(factor) is not None or _size_power(factor, n, c) is not None
