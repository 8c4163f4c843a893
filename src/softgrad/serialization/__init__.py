"""Model and checkpoint files: one .npz of plain arrays plus a JSON header, written atomically.

- :mod:`softgrad.serialization.npz`: the container both kinds share (:func:`write_npz`,
  :func:`read_npz`): the header's layout, version and bounds, and the checks on reading it.
- :mod:`softgrad.serialization.model_file`: what a model file holds (:func:`write_model`,
  :func:`read_model`): weights, architecture, classes, scaler and metadata.

This package is the file format only. ``softgrad.save`` / ``softgrad.load`` and ``Model.save``
(:mod:`softgrad.model`) build on it; it does not know the Model class. Checkpoints are
:mod:`softgrad.training.checkpoint`'s.
"""

from softgrad.serialization.model_file import (
    ModelContents,
    model_file_error,
    read_model,
    write_model,
)
from softgrad.serialization.npz import (
    FORMAT,
    KINDS,
    MAX_HEADER_DEPTH,
    MAX_HEADER_OBJECTS,
    MAX_INT_DIGITS,
    META_KEY,
    VERSION,
    read_npz,
    write_npz,
)

__all__ = [
    "FORMAT",
    "KINDS",
    "MAX_HEADER_DEPTH",
    "MAX_HEADER_OBJECTS",
    "MAX_INT_DIGITS",
    "META_KEY",
    "VERSION",
    "ModelContents",
    "model_file_error",
    "read_model",
    "read_npz",
    "write_model",
    "write_npz",
]
