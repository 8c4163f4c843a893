"""A gradient's factor against the right one, as a person reads it: ``2``, ``1/4 (= 1/N, N = 4
the batch size)``, ``0.37``; and whether it is one a mistake writes (a small fraction, a power
of the batch size or of the class count) or one a single entry happens to give.
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np

__all__ = ["factor_name", "readable_factor"]


def factor_name(factor: float, n: int, c: int, rtol: float = 1e-6, entries: int = 1) -> str:
    """``"2"``, ``"1/4 (= 1/N, N = 4 the batch size)"``, ``"0.37"``: a factor as a person reads it,
    naming it as a power of ``n`` (the batch size N) or ``c`` (the class count C), or as
    ``entries`` (E, the entries of x a mean over them all divides by: a mean squared error's
    1/(N*C)), where it is one to a relative ``rtol`` (how well the factor is known: a float32
    forward's differences blur it to about 1e-5).

    Examples
    --------
    >>> [factor_name(f, 4, 10) for f in (2.0, 0.25, 10.0, 0.37)]
    ['2', '1/4 (= 1/N, N = 4 the batch size)', '10 (= C, C = 10 the classes)', '0.37']
    >>> factor_name(0.2500044, 4, 10), factor_name(0.2500044, 4, 10, rtol=2e-5)
    ('0.25', '1/4 (= 1/N, N = 4 the batch size)')
    >>> factor_name(float("inf"), 4, 10), factor_name(float("nan"), 4, 10)
    ('inf', 'nan')
    >>> factor_name(40.0, 4, 1, entries=40)
    '40 (= E, E = 40 the entries of x)'
    """
    if not np.isfinite(factor):  # Fraction cannot hold NaN or inf
        return f"{factor:g}"
    fraction = _small_fraction(factor, rtol)
    text = f"{factor:.3g}" if fraction is None else str(fraction)
    size = _size_power(factor, n, c, rtol, entries)
    return text if size is None else f"{text} (= {size})"


def _small_fraction(factor: float, rtol: float) -> Fraction | None:
    """``factor`` as a fraction of a small denominator, if it is one to ``rtol``: at most 64,
    fewer where ``rtol`` is loose (at 1e-4, at most 10), so that the fractions allowed lie far
    apart against it and a factor such as 0.37 does not pass for one by chance."""
    largest = 64 if rtol <= 1e-6 else max(2, min(64, int((1e-2 / rtol) ** 0.5)))
    fraction = Fraction(factor).limit_denominator(largest)
    return fraction if abs(float(fraction) - factor) <= rtol * abs(factor) else None


def _size_power(factor: float, n: int, c: int, rtol: float, entries: int = 1) -> str | None:
    """``"1/N, N = 4 the batch size"`` when ``factor`` is N, C, their inverses or squares, or
    E (``entries``) or 1/E."""
    sizes = [(n, "N", f"N = {n} the batch size"), (c, "C", f"C = {c} the classes")]
    if entries not in (n, c):
        sizes.append((entries, "E", f"E = {entries} the entries of x"))
    for size, letter, meaning in sizes:
        powers = ((1, letter), (-1, f"1/{letter}"), (2, f"{letter}**2"), (-2, f"1/{letter}**2"))
        for power, label in powers:
            if letter == "E" and abs(power) == 2:
                continue  # E**2: no mean writes it
            value = float(size) ** power
            if size > 1 and abs(factor - value) <= rtol * value:
                return f"{label}, {meaning}"
    return None


def readable_factor(factor: float, n: int, c: int, rtol: float = 1e-6, entries: int = 1) -> bool:
    """True for a factor a mistake writes (2, -1/2, 1/N), not one a single entry happens to
    give (0.623)."""
    if _small_fraction(factor, rtol) is not None:
        return True
    return _size_power(factor, n, c, rtol, entries) is not None
