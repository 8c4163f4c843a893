"""Checks on what a model file records beside its network and arrays, run on load by
:func:`softgrad.model_checks.check_model_contents`:

- ``image_shape`` is ``[height, width]``, two positive integers: the grey images the model
  reads as flattened rows (``softgrad predict`` reads a picture at that size). Nothing softgrad
  trains on gives another shape, and ``Model`` refuses one: a (3, 32, 32) shape loaded, then
  ``softgrad predict`` on a picture said the model "was not trained on images";
- ``metadata`` is a mapping, and of the facts the commands read from it, ``input_max`` is a
  positive finite number, ``input_min`` a finite number below it, ``image_background``
  "dark" or "light", ``data_spec`` a string and ``csv_dtype`` "float32" or "float64" (each
  may be null).

Each problem is one line naming the file and what is wrong.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from softgrad.errors import ModelFileError

__all__ = ["check_meta", "is_image_shape"]


def is_image_shape(value: Any) -> bool:
    """Whether ``value`` is ``(height, width)``: two positive integers in a list or tuple.

    Example
    -------
    >>> is_image_shape([28, 28]), is_image_shape((3, 32, 32)), is_image_shape((8.0, 8))
    (True, False, False)
    """
    return (
        isinstance(value, (list, tuple))
        and len(value) == 2
        and all(isinstance(s, (int, np.integer)) and not isinstance(s, bool) for s in value)
        and all(s > 0 for s in value)
    )


def as_image_shape(image_shape: Any, where: str, rows: str) -> tuple[int, int] | None:
    """``image_shape`` as a Model or a Dataset holds it: None, or ``(height, width)`` of
    positive integers (a list, tuple or array of them). Any other value is refused, not
    converted: ``int()`` made (2.7, 3) the shape (2, 3), the string "23" (2, 3) and True a
    height of 1, and a (3, 32, 32) shape gave no way to read a picture (``softgrad predict``
    reads grey images of the model's height and width). ``rows`` says what the shape
    describes, in the message.

    Example
    -------
    >>> as_image_shape(np.array([8, 8]), "Model", "the images"), as_image_shape(None, "Model", "")
    ((8, 8), None)
    """
    if image_shape is None:
        return None
    shape = image_shape.tolist() if isinstance(image_shape, np.ndarray) else image_shape
    if not is_image_shape(shape):
        raise ValueError(
            f"{where}: image_shape must be (height, width), two positive integers ({rows}), "
            f"or None; got {image_shape!r}"
        )
    return int(shape[0]), int(shape[1])


def check_meta(meta: dict[str, Any], where: str) -> None:
    """Refuse an ``image_shape`` or a ``metadata`` fact the commands could not use (module
    docstring), naming the file (``where``) and the field."""
    image_shape = meta.get("image_shape")
    if image_shape is not None and not (
        isinstance(image_shape, list) and is_image_shape(image_shape)
    ):
        raise ModelFileError(
            f"{where}: image_shape must be [height, width], two positive integers (the grey "
            f"images the model reads), or null; got {image_shape!r}"
        )
    user = meta.get("metadata")
    if user is None:
        return
    if not isinstance(user, dict):
        raise ModelFileError(f"{where}: metadata must be a mapping; got {user!r}")
    _check_facts(user, where)


def _finite_number(value: Any) -> bool:
    return (
        isinstance(value, (int, float)) and not isinstance(value, bool) and bool(np.isfinite(value))
    )


def _check_facts(user: dict[str, Any], where: str) -> None:
    data_spec = user.get("data_spec")
    if data_spec is not None and not isinstance(data_spec, str):
        raise ModelFileError(
            f"{where}: metadata 'data_spec' must be a data set name or path, or null; "
            f"got {data_spec!r}"
        )
    csv_dtype = user.get("csv_dtype")
    if csv_dtype not in (None, "float32", "float64"):
        raise ModelFileError(
            f"{where}: metadata 'csv_dtype' must be 'float32', 'float64' or null (how the "
            f"training CSV's features were read); got {csv_dtype!r}"
        )
    input_max = user.get("input_max")
    if input_max is not None and not (_finite_number(input_max) and input_max > 0):
        raise ModelFileError(
            f"{where}: metadata 'input_max' must be a positive finite number or null; "
            f"got {input_max!r}"
        )
    input_min = user.get("input_min")
    below = 255 if input_max is None else input_max
    if input_min is not None and not (_finite_number(input_min) and input_min < below):
        raise ModelFileError(
            f"{where}: metadata 'input_min' must be a finite number below 'input_max' "
            f"({below!r}), or null; got {input_min!r}"
        )
    background = user.get("image_background")
    if background not in (None, "dark", "light"):
        raise ModelFileError(
            f"{where}: metadata 'image_background' must be 'dark', 'light' or null; "
            f"got {background!r}"
        )
