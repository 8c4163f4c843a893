"""The batch loop of one epoch: a handful of BLAS calls plus fused passes per mini-batch.

Everything allocated per step in a naive loop is allocated once here: the gathered batch
(``np.take(..., out=, mode="clip")``), its labels and weights, the argmax and hit buffers for
the running accuracy. The final short batch is a view of the front of each buffer. The loss is
checked BEFORE backward, so a non-finite loss leaves the weights of the last completed step.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from softgrad.errors import DivergenceError
from softgrad.training.callbacks import CallbackList, TrainState


@dataclass
class EpochResult:
    """Sums over the batches of one epoch (weights are 1 per sample without sample_weight)."""

    loss_sum: float = 0.0
    weight_sum: float = 0.0
    correct: float = 0.0
    stopped: bool = False

    def add(self, batch_loss: float, weight: float, correct: float) -> None:
        """Count one batch: its mean loss, its weight (sample count) and its hits."""
        self.loss_sum += batch_loss * weight
        self.weight_sum += weight
        self.correct += correct

    @property
    def loss(self) -> float:
        return self.loss_sum / self.weight_sum if self.weight_sum > 0 else math.nan

    @property
    def accuracy(self) -> float:
        return self.correct / self.weight_sum if self.weight_sum > 0 else math.nan


def per_sample_loss(loss: Any, where: str) -> Any:
    """A shallow copy of the loss layer with ``reduction="none"`` (the caller's is untouched)."""
    if getattr(loss, "reduction", None) is None:
        raise TypeError(
            f"{where}: loss must have a 'reduction' attribute to weight samples "
            f"(e.g. CrossEntropyLoss); got {loss!r}"
        )
    per_sample = copy.copy(loss)
    per_sample.reduction = "none"
    return per_sample


class EpochRunner:
    """Preallocated batch buffers and the training step of one :func:`fit` run.

    Parameters
    ----------
    model, loss, optimizer : objects
        A Sequential (forward, backward(grad, input_grad=False), named_params, named_grads), a
        loss layer with forward(logits, target) / backward(), an optimizer with step.
    X : ndarray of shape (N, D)
        Training inputs in the model's dtype, C-contiguous.
    target : ndarray of shape (N,), intp
    sample_weight : ndarray of shape (N,) or None
        Non-negative weights in the model's dtype.
    batch_size : int
    """

    def __init__(self, model, loss, optimizer, X, target, sample_weight, batch_size) -> None:
        self.model, self.loss, self.optimizer = model, loss, optimizer
        self.X, self.target, self.sample_weight = X, target, sample_weight
        self.batch_size = batch_size
        # the parameter arrays are the same every step; the gradient dict is fetched after each
        # backward, which may assign new arrays (for a Sequential both dicts carry its flat
        # buffers, and the optimizer updates them in one pass: softgrad.optim.flat)
        self.params = model.named_params()
        size = min(batch_size, len(X))
        self.x_buf = np.empty((size, *X.shape[1:]), dtype=X.dtype)
        self.t_buf = np.empty(size, dtype=target.dtype)
        self.pred_buf = np.empty(size, dtype=np.intp)
        self.hit_buf = np.empty(size, dtype=bool)
        self.w_buf = None if sample_weight is None else np.empty(size, dtype=sample_weight.dtype)
        self.weighted_loss = None if sample_weight is None else per_sample_loss(loss, "fit")
        # reduction "sum" returns a batch total; "mean" (the default) a batch average
        self.loss_is_sum = getattr(loss, "reduction", "mean") == "sum"
        self.snapshot = {name: np.empty_like(value) for name, value in self.params.items()}

    def n_batches(self, n_samples: int) -> int:
        return -(-n_samples // self.batch_size)

    def run(self, order: np.ndarray, state: TrainState, callbacks: CallbackList) -> EpochResult:
        """Train one epoch over the samples ``X[order]``, in mini-batches of that order."""
        for name, value in self.params.items():
            np.copyto(self.snapshot[name], value)
        result = EpochResult()
        batch_hooks = callbacks.has_batch_hooks
        step = self._weighted_step if self.sample_weight is not None else self._step
        for batch, start in enumerate(range(0, len(order), self.batch_size), start=1):
            idx = order[start : start + self.batch_size]
            batch_loss, weight, correct = step(idx, state.epoch, batch)
            result.add(batch_loss, weight, correct)
            if batch_hooks:
                state.batch = batch
                state.logs = {"loss": batch_loss, "batch_size": len(idx)}
                if callbacks.call("on_batch_end", state):
                    result.stopped = True
                    break
        return result

    def _gather(self, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        n = len(idx)
        x = self.x_buf[:n]
        t = self.t_buf[:n]
        # mode="clip" skips numpy's bounds-checking buffered path (2.6x faster); idx is valid
        np.take(self.X, idx, axis=0, out=x, mode="clip")
        np.take(self.target, idx, out=t, mode="clip")
        return x, t

    def _hits(self, logits: np.ndarray, t: np.ndarray) -> np.ndarray:
        n = len(t)
        pred = np.argmax(logits, axis=1, out=self.pred_buf[:n])
        return np.equal(pred, t, out=self.hit_buf[:n])

    def _step(self, idx: np.ndarray, epoch: int, batch: int) -> tuple[float, float, float]:
        x, t = self._gather(idx)
        logits = self.model.forward(x)
        batch_loss = self.loss.forward(logits, t)
        if not math.isfinite(batch_loss):
            self._diverged(batch_loss, epoch, batch)
        correct = np.count_nonzero(self._hits(logits, t))
        grad = self.loss.backward()
        self.model.backward(grad, input_grad=False)
        self.optimizer.step(self.params, self.model.named_grads())
        n = len(idx)
        return (batch_loss / n if self.loss_is_sum else batch_loss), n, correct

    def _weighted_step(self, idx: np.ndarray, epoch: int, batch: int) -> tuple[float, float, float]:
        x, t = self._gather(idx)
        w = self.w_buf[: len(idx)]
        np.take(self.sample_weight, idx, out=w, mode="clip")
        weight = float(np.sum(w, dtype=np.float64))
        logits = self.model.forward(x)
        losses = self.weighted_loss.forward(logits, t)
        batch_loss = float(np.dot(w, losses)) / weight if weight > 0 else 0.0
        if not math.isfinite(batch_loss):
            self._diverged(batch_loss, epoch, batch)
        correct = float(np.dot(w, self._hits(logits, t)))
        if weight > 0:
            # dL/dlogits of sum(w_i l_i) / sum(w_i): per-sample gradients scaled by w_i / sum(w)
            grad = self.weighted_loss.backward(w / np.asarray(weight, dtype=w.dtype))
            self.model.backward(grad, input_grad=False)
            self.optimizer.step(self.params, self.model.named_grads())
        return batch_loss, weight, correct

    def _diverged(self, batch_loss: float, epoch: int, batch: int) -> None:
        kept = (
            f"the weights after batch {batch - 1}"
            if batch > 1
            else f"the weights at the start of epoch {epoch}"
        )
        if not all(np.isfinite(value).all() for value in self.params.values()):
            # the last step overflowed the weights themselves: fall back to the epoch's start
            for name, value in self.params.items():
                np.copyto(value, self.snapshot[name])
            kept = f"the weights at the start of epoch {epoch}"
        raise DivergenceError(
            f"fit: the training loss must be finite; got {batch_loss!r} at epoch {epoch}, "
            f"batch {batch}. Training diverged: try a lower learning rate (now "
            f"{self.optimizer.lr!r}). The model keeps {kept}.",
            epoch=epoch,
            batch=batch,
        )
