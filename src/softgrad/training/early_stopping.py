"""Early stopping: watch a loss per epoch, keep the best weights, stop after ``patience`` misses."""

from __future__ import annotations

import math
from typing import Any

import numpy as np


class EarlyStopping:
    """Track the best epoch of a monitored loss and decide when to stop.

    Parameters
    ----------
    patience : int, default 10
        Stop after this many consecutive epochs without improvement (Keras' rule;
        scikit-learn's ``n_iter_no_change=k`` stops one epoch later, like ``patience=k + 1``).
    min_delta : float, default 0.0
        An epoch improves only if its loss is below ``best - min_delta``.
    restore_best : bool, default True
        Keep a copy of the weights of the best epoch, for :meth:`restore`.
    enabled : bool, default True
        When False, the best epoch is still tracked but :meth:`update` never asks to stop and no
        weights are copied.

    Attributes
    ----------
    best : float
        Lowest loss seen so far (inf before the first epoch).
    best_epoch : int or None
        1-based epoch of ``best``.
    wait : int
        Epochs since the last improvement.

    Example
    -------
    >>> params = {"W": np.array([1.0])}
    >>> stopper = EarlyStopping(patience=2)
    >>> for epoch, loss in enumerate([0.5, 0.4, 0.45, 0.41], start=1):
    ...     params["W"][...] = epoch
    ...     stop = stopper.update(epoch, loss, params)
    >>> stop, stopper.best_epoch, stopper.restore(params), params["W"]
    (True, 2, None, array([2.]))
    """

    def __init__(
        self,
        patience: int = 10,
        min_delta: float = 0.0,
        restore_best: bool = True,
        enabled: bool = True,
    ) -> None:
        if (
            isinstance(patience, bool)
            or not isinstance(patience, (int, np.integer))
            or patience < 1
        ):
            raise ValueError(f"fit: patience must be a positive int; got {patience!r}")
        if not (isinstance(min_delta, (int, float, np.floating)) and min_delta >= 0.0):
            raise ValueError(f"fit: min_delta must be a float >= 0; got {min_delta!r}")
        self.patience = int(patience)
        self.min_delta = float(min_delta)
        self.restore_best = bool(restore_best)
        self.enabled = bool(enabled)
        self.best = math.inf
        self.best_epoch: int | None = None
        self.wait = 0
        self.best_params: dict[str, np.ndarray] = {}

    @property
    def keeps_weights(self) -> bool:
        """Whether the best epoch's weights are copied (early stopping on, restore_best on)."""
        return self.enabled and self.restore_best

    def update(self, epoch: int, loss: float, params: dict[str, np.ndarray]) -> bool:
        """Record epoch ``epoch``'s monitored ``loss``; True when training should stop."""
        if loss < self.best - self.min_delta:
            self.best = float(loss)
            self.best_epoch = int(epoch)
            self.wait = 0
            if self.keeps_weights:
                for name, value in params.items():
                    if name not in self.best_params:
                        self.best_params[name] = np.empty_like(value)
                    np.copyto(self.best_params[name], value)
        else:
            self.wait += 1
        return self.enabled and self.wait >= self.patience

    def restore(self, params: dict[str, np.ndarray]) -> None:
        """Copy the best weights into the live arrays ``params`` (no-op if none were kept)."""
        if self.keeps_weights and self.best_params:
            for name, value in params.items():
                np.copyto(value, self.best_params[name])

    def state_dict(self) -> dict[str, Any]:
        """State for a checkpoint: JSON-safe scalars and the best weights (``"best.<name>"``)."""
        state: dict[str, Any] = {
            "best": None if math.isinf(self.best) else self.best,
            "best_epoch": self.best_epoch,
            "wait": self.wait,
        }
        state.update({f"best.{name}": value for name, value in self.best_params.items()})
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what :meth:`state_dict` returned."""
        self.best = math.inf if state["best"] is None else float(state["best"])
        best_epoch = state["best_epoch"]
        self.best_epoch = None if best_epoch is None else int(best_epoch)
        self.wait = int(state["wait"])
        self.best_params = {
            key[len("best.") :]: np.array(value)
            for key, value in state.items()
            if key.startswith("best.")
        }
