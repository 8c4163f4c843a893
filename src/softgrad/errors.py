"""The softgrad exception tree.

Bad arguments to a function raise the built-in ValueError or TypeError. The classes here mark the
failures a user can meet outside a single call: a data file or model file that is not what it
claims to be, a data set that is not installed, an optional dependency that is missing, or a
training run that diverged. Data-format and model-file errors also subclass ValueError so that
``except ValueError`` keeps working for callers that do not know softgrad's tree.
"""

from __future__ import annotations

from typing import Any


class SoftgradError(Exception):
    """Base class of every error softgrad raises on purpose."""


class DataFormatError(SoftgradError, ValueError):
    """A data file (IDX, CSV, NPZ, image) is malformed, truncated or holds invalid values."""


class ModelFileError(SoftgradError, ValueError):
    """A model or checkpoint file is truncated, corrupted, foreign or pickled."""


class DatasetNotFoundError(SoftgradError, FileNotFoundError):
    """A named data set is not installed where softgrad looks for it."""


class MissingDependencyError(SoftgradError, ImportError):
    """An optional dependency (matplotlib, onnx, ...) is needed but not installed."""


class DivergenceError(SoftgradError, FloatingPointError):
    """Training diverged: a non-finite loss, or a finite one that exploded.

    Attributes
    ----------
    epoch : int
        1-based epoch in which the loss diverged.
    batch : int
        1-based batch within that epoch.
    reason : str or None
        The rule that fired, as a phrase (``"the training loss must be finite; got nan"``, or
        the finite rule of :mod:`softgrad.training.divergence` with its limit), for a caller
        that words its own message; None when the raiser did not give it.
    history : softgrad.training.History
        Set by ``fit`` on the error it raises: the epochs completed before.
    """

    history: Any  # a softgrad.training.History (this bottom floor imports nothing above it)

    def __init__(self, message: str, epoch: int, batch: int, reason: str | None = None):
        super().__init__(message)
        self.epoch = epoch
        self.batch = batch
        self.reason = reason


class InputOverflowError(SoftgradError, ValueError):
    """Finite input values whose logits are not finite in the model's arithmetic (1e300 in a
    float32 model, or a large value times the weights past 3.4e38).

    Attributes
    ----------
    row : int
        The first such row of the input.
    dtype : str
        The model's dtype, e.g. ``"float32"``.
    """

    def __init__(self, message: str, row: int, dtype: str):
        super().__init__(message)
        self.row = row
        self.dtype = dtype


class UserCodeError(SoftgradError):
    """Code that softgrad runs on the user's behalf (their node's ``forward`` or ``backward``,
    their constructor, their module) raised; the message quotes the user's own exception, which is
    chained as ``__cause__``."""


class DistributedError(SoftgradError, RuntimeError):
    """Another rank of a data-parallel run failed, or the ranks no longer agree.

    Every rank raises it with the same message (on the failing rank it is chained to the
    original error), so no rank is left waiting in a collective.
    """
