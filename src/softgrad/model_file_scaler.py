"""Checks on the scaler a model file stores (``scaler.offset``, ``scaler.scale`` and the
``scaled`` mark), run on load by :func:`softgrad.model_checks.check_model_contents` before
anything is built from them:

- the offset and scale hold one value, or one per input feature of the first Linear layer;
- they are float32 (as softgrad writes them: the model scales in float32), or of another real
  dtype whose every value float32 holds exactly (a float64 0.5, an integer 255), which is
  accepted; a float64 1/3 would be rounded on load, so a file made by hand would predict from
  other values than it holds: it is refused, naming the field, its dtype and the first value
  float32 changes;
- the scale is non-zero (scale 0 would map every input to the same point: the model could only
  give one answer);
- ``scaled`` is a boolean, and a file marked unscaled (``scaled`` false) stores the identity
  scaler, the one load ignores.

Each problem is one line naming the file and what is wrong.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from softgrad.errors import ModelFileError

__all__ = ["SCALER_ARRAYS", "check_scaler_shape", "check_scaler_values", "zero_scale"]

#: the arrays of a model file's scaler
SCALER_ARRAYS = ("scaler.offset", "scaler.scale")


def check_scaler_shape(arrays: dict[str, np.ndarray], n_features: int, where: str) -> None:
    """One offset and one scale per input feature, or one for all: a scaler of 5 features
    before a 64-input network failed only at predict ('Scaler.transform: X must have 5
    features'), and export wrote it."""
    for name in SCALER_ARRAYS:
        array = arrays.get(name)
        if array is not None and array.size != 1 and array.shape != (n_features,):
            raise ModelFileError(
                f"{where}: {name!r} must hold one value, or one per input feature "
                f"({n_features}, the first Linear layer's input); got shape {array.shape}"
            )


def check_scaler_values(meta: dict[str, Any], arrays: dict[str, np.ndarray], where: str) -> None:
    """The scaler's values as the model uses them (module docstring); finiteness is checked
    with every other stored array."""
    _check_exact(arrays, where)
    scale = arrays.get("scaler.scale")
    problem = zero_scale(scale) if scale is not None and scale.dtype.kind in "biuf" else None
    if problem is not None:
        raise ModelFileError(f"{where}: 'scaler.scale' {problem}")
    if not isinstance(meta.get("scaled", True), bool):
        raise ModelFileError(f"{where}: 'scaled' must be true or false; got {meta['scaled']!r}")
    if meta.get("scaled", True) is False:
        _check_identity(arrays, where)


def zero_scale(scale: np.ndarray) -> str | None:
    """What is wrong with a scaler's ``scale`` that holds a 0, or None: the rule a model file
    and a ``Model`` built from parts both follow."""
    zeros = np.flatnonzero(np.ravel(scale) == 0)
    if not zeros.size:
        return None
    return f"must be non-zero (0 maps every input to one point); got 0 for feature {zeros[0]}"


def _check_exact(arrays: dict[str, np.ndarray], where: str) -> None:
    """The scaler's arrays in float32, the dtype it computes in, without rounding a value."""
    for name in SCALER_ARRAYS:
        array = arrays.get(name)
        if array is None or array.dtype == np.float32 or array.dtype.kind not in "biuf":
            continue  # a non-numeric scaler is refused by name when it is built
        with np.errstate(over="ignore"):  # beyond float32's range: inf, refused as changed
            cast = array.astype(np.float32)
        changed = np.flatnonzero(np.ravel(cast.astype(np.float64) != array.astype(np.float64)))
        if changed.size:
            k = int(changed[0])
            at = "" if array.ndim == 0 else f" for feature {k}"
            raise ModelFileError(
                f"{where}: {name!r} must be float32, or {array.dtype.name} values that float32 "
                f"holds exactly (the model scales in float32); got {array.dtype.name} "
                f"{np.ravel(array)[k].item()!r}{at}, which float32 makes "
                f"{np.ravel(cast)[k].item()!r} (store it as float32)"
            )


def _check_identity(arrays: dict[str, np.ndarray], where: str) -> None:
    """An unscaled file stores the identity scaler: any other was dropped silently on load."""
    for name, identity in zip(SCALER_ARRAYS, (0, 1), strict=True):
        array = arrays.get(name)
        if array is not None and array.dtype.kind in "biuf" and np.any(array != identity):
            first = np.ravel(array)[np.ravel(array) != identity][0].item()
            raise ModelFileError(
                f"{where}: {name!r} must be {identity} in a file marked unscaled ('scaled': "
                f"false), which load ignores; got {first!r} (mark it 'scaled': true to use it)"
            )
