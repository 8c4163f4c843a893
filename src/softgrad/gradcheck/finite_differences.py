"""Central differences in float64: the gradient of a scalar, and the Jacobian of an array."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np


def central_differences(phi: Callable[[], float], array: np.ndarray, eps: float) -> np.ndarray:
    """d phi / d array by central differences, perturbing ``array`` in place (then restoring).

    Parameters
    ----------
    phi : callable
        ``phi() -> float``, reading ``array`` (an input or a parameter) when called.
    array : ndarray of shape S, float64
        Perturbed entry by entry: ``array[i] +- eps``, restored after each pair.
    eps : float
        The step.

    Returns
    -------
    ndarray of shape S
        ``(phi(array + eps e_i) - phi(array - eps e_i)) / (2 eps)`` for every entry i.

    Examples
    --------
    >>> a = np.array([1.0, 2.0])
    >>> np.round(central_differences(lambda: float(np.sum(a**2)), a, 1e-6), 6)
    array([2., 4.])
    """
    grad = np.zeros(array.shape, dtype=np.float64)
    flat_grad = grad.reshape(-1)
    for flat, index in enumerate(np.ndindex(array.shape)):
        original = array[index]
        array[index] = original + eps
        plus = phi()
        array[index] = original - eps
        minus = phi()
        array[index] = original
        flat_grad[flat] = (plus - minus) / (2.0 * eps)
    return grad


def central_jacobian(f: Callable[[], np.ndarray], array: np.ndarray, eps: float) -> np.ndarray:
    """The Jacobian d f / d array by central differences, one column per entry of ``array``.

    Parameters
    ----------
    f : callable
        ``f() -> ndarray of shape Y``, reading ``array`` when called.
    array : ndarray of shape S, float64
        Perturbed entry by entry (restored after each pair).
    eps : float

    Returns
    -------
    ndarray of shape (prod(Y), prod(S))
        ``J[j, i] = d f_j / d array_i``.

    Examples
    --------
    >>> a = np.array([1.0, 2.0])
    >>> np.round(central_jacobian(lambda: a**2, a, 1e-6), 6)
    array([[2., 0.],
           [0., 4.]])
    """
    columns = []
    for index in np.ndindex(array.shape):
        original = array[index]
        array[index] = original + eps
        plus = np.array(f(), dtype=np.float64).reshape(-1)
        array[index] = original - eps
        minus = np.array(f(), dtype=np.float64).reshape(-1)
        array[index] = original
        columns.append((plus - minus) / (2.0 * eps))
    return np.stack(columns, axis=1) if columns else np.zeros((0, 0))
