"""What one epoch of :class:`~softgrad.training.epoch_runner.EpochRunner` sums up over its
batches: the loss, the weight, the hits and what accuracy counts."""

from __future__ import annotations

import math
from dataclasses import dataclass

__all__ = ["EpochResult"]


@dataclass
class EpochResult:
    """Sums over the batches of one epoch (weights are 1 per sample without sample_weight).

    ``counted`` is the weight of the samples accuracy counts: all of them, less those whose
    target the loss ignores (``ignore_index``; :func:`~softgrad.training.data.counted_weight`).
    The loss and the accuracy of an epoch with nothing to count are NaN.
    """

    loss_sum: float = 0.0
    weight_sum: float = 0.0
    correct: float = 0.0
    counted: float = 0.0
    stopped: bool = False
    complete: bool = True  # every batch of the epoch ran (no callback cut it short)

    def add(self, batch_loss: float, weight: float, correct: float, counted: float) -> None:
        """Count one batch: its mean loss, its weight (sample count), its hits and the weight
        of its counted targets."""
        self.loss_sum += batch_loss * weight
        self.weight_sum += weight
        self.correct += correct
        self.counted += counted

    @property
    def loss(self) -> float:
        return self.loss_sum / self.weight_sum if self.weight_sum > 0 else math.nan

    @property
    def accuracy(self) -> float:
        return self.correct / self.counted if self.counted > 0 else math.nan
