"""The estimator's ``verbose=True``: scikit-learn's MLP progress lines, printed by the face (the
training loop reports through callbacks and prints nothing itself)."""

from __future__ import annotations

from typing import Any

from softgrad.training.callbacks import Callback, TrainState

__all__ = ["SklearnVerbose"]


class SklearnVerbose(Callback):
    """Prints scikit-learn's MLP progress lines after each epoch (its ``verbose=True``).

    ``Iteration <epoch>, loss = <loss:.8f>``, then with a validation score
    ``Validation score: <score:f>``, then the stopping rule's plateau message if any.

    Parameters
    ----------
    loss_key : str
        The ``state.logs`` key of the loss to print.
    stopping : NoImprovementStopping
        Placed before this callback; its ``mode == "max"`` means a validation score is watched.
    """

    def __init__(self, loss_key: str, stopping: Any) -> None:
        self.loss_key = loss_key
        self.stopping = stopping

    def on_epoch_end(self, state: TrainState) -> None:
        print(f"Iteration {state.epoch}, loss = {state.logs[self.loss_key]:.8f}")
        if self.stopping.mode == "max":
            print(f"Validation score: {state.logs[self.stopping.monitor]:f}")
        if self.stopping.message:
            print(self.stopping.message)
