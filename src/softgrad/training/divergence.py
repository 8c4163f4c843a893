"""When a training run has diverged: the one rule :func:`softgrad.training.fit` applies.

A run has diverged when its training loss is NaN or infinite, or when it explodes while still
finite: the mean training loss of the epoch so far exceeds ``LIMIT_FACTOR`` times the run's
reference loss,

    reference = max(loss of the run's first batch, log(C))

where C is the number of outputs (classes). log(C) is the cross-entropy of a network that
knows nothing (uniform probabilities), so it floors the reference of a run that starts from
already good weights (a resumed run, warm start) or with a small loss (another loss layer). A
mean cross-entropy of 20 * log(C) means the true class gets on average probability C**-20: no
learning run goes there, while an exploding one (learning rate far too high) passes it within
an epoch, long before it reaches inf.

The finite rule looks at the running mean once it covers ``MIN_SAMPLES`` samples (or the whole
epoch, if shorter), so one confidently wrong sample in a tiny batch cannot trigger it; a NaN/inf
batch loss triggers at once.
"""

from __future__ import annotations

import math

__all__ = ["LIMIT_FACTOR", "MIN_SAMPLES", "DivergenceMonitor"]

LIMIT_FACTOR = 20.0
MIN_SAMPLES = 512


class DivergenceMonitor:
    """Applies the divergence rule batch by batch (see the module docstring).

    Example
    -------
    >>> monitor = DivergenceMonitor()
    >>> monitor.start_epoch(n_samples=4)
    >>> monitor.check(2.0, weight=2, n_samples=2, n_classes=10) is None  # max(2.0, log 10)
    True
    >>> print(monitor.check(1e6, weight=2, n_samples=2, n_classes=10))
    the mean training loss of the epoch so far must stay below 20 x max(starting loss,
    log(C)) = 46.05; got 500001
    >>> DivergenceMonitor().check(float("nan"), 1, 1, 10)
    'the training loss must be finite; got nan'
    """

    def __init__(self) -> None:
        self.reference: float | None = None
        self._loss_sum = 0.0
        self._weight_sum = 0.0
        self._seen = 0
        self._needed = MIN_SAMPLES

    @property
    def limit(self) -> float | None:
        """The largest mean epoch loss allowed (None before the first batch)."""
        return None if self.reference is None else LIMIT_FACTOR * self.reference

    def start_epoch(self, n_samples: int) -> None:
        """Reset the running mean for an epoch of ``n_samples`` samples."""
        self._loss_sum = self._weight_sum = 0.0
        self._seen = 0
        self._needed = min(MIN_SAMPLES, n_samples)

    def check(self, batch_loss: float, weight: float, n_samples: int, n_classes: int) -> str | None:
        """Why the run has diverged after this batch, or None when it has not.

        Parameters
        ----------
        batch_loss : float
            The batch's mean loss (weighted mean with sample weights).
        weight : float
            The batch's total sample weight (its size without sample weights).
        n_samples : int
            The batch's size.
        n_classes : int
            C, the width of the logits.
        """
        if not math.isfinite(batch_loss):
            return f"the training loss must be finite; got {batch_loss!r}"
        if self.reference is None:
            self.reference = max(batch_loss, math.log(max(n_classes, 2)))
        self._loss_sum += batch_loss * weight
        self._weight_sum += weight
        self._seen += n_samples
        if self._seen < self._needed or self._weight_sum <= 0:
            return None
        mean, limit = self.epoch_mean(), self.limit
        assert limit is not None  # the reference is set by the first batch, above
        if mean <= limit:
            return None
        return (
            "the mean training loss of the epoch so far must stay below "
            f"{LIMIT_FACTOR:g} x max(starting loss, log(C)) = {self.limit:.2f}; got {mean:.7g}"
        )

    def epoch_mean(self) -> float:
        """The mean loss of the epoch's batches so far (0 before any)."""
        return self._loss_sum / self._weight_sum if self._weight_sum > 0 else 0.0

    def exploding(self) -> bool:
        """Whether the epoch so far breaks the finite rule, however few samples it has seen.

        Decides which weights a diverged run keeps: those of the last step when the epoch
        looked healthy up to it (a sudden NaN), else those at the start of the epoch.
        """
        return self.limit is not None and self.epoch_mean() > self.limit
