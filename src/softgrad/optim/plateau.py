"""Schedules driven by a monitored metric: torch's ReduceLROnPlateau, scikit-learn's adaptive."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from softgrad.checks import check_choice, check_int, check_metric, check_number
from softgrad.optim.optimizer import Optimizer
from softgrad.optim.schedules import LRSchedule

__all__ = ["AdaptiveLR", "ReduceLROnPlateau"]


def _check_best(where: str, best: Any) -> float | None:
    """The saved best value: None (nothing seen yet) or a float, +-inf too (``step`` takes an
    infinite metric, as torch's does, and its own state_dict was then refused)."""
    if best is None:
        return None
    if isinstance(best, (float, np.floating)) and math.isinf(best):
        return float(best)
    return check_number(best, where, "best", -math.inf)


class ReduceLROnPlateau(LRSchedule):
    """Multiply the rate by ``factor`` when the metric stops improving (torch semantics).

    Each ``step(metric)``: the metric improves on ``best`` if
    ``metric < best * (1 - threshold)`` (mode "min", threshold_mode "rel"), ``metric < best -
    threshold`` ("min", "abs"), ``metric > best * (1 + threshold)`` ("max", "rel") or
    ``metric > best + threshold`` ("max", "abs"). Otherwise it is a bad epoch; bad epochs
    during a cooldown do not count. After more than ``patience`` bad epochs the rate becomes
    ``max(lr * factor, min_lr)`` (unchanged if that moves it by ``eps`` or less) and a
    cooldown of ``cooldown`` epochs starts.

    Parameters
    ----------
    optimizer : Optimizer
    mode : {"min", "max"}, default="min"
        "min" for a loss, "max" for a score such as accuracy.
    factor : float, default=0.1
        In (0, 1).
    patience : int, default=10
        Bad epochs tolerated before a reduction.
    threshold : float, default=1e-4
        Minimum (relative or absolute) improvement, >= 0.
    threshold_mode : {"rel", "abs"}, default="rel"
    cooldown : int, default=0
    min_lr : float, default=0.0
    eps : float, default=1e-8

    Notes
    -----
    ``best`` is None until the first finite comparison succeeds; a NaN metric is never an
    improvement (it counts as a bad epoch), as in torch.

    Examples
    --------
    >>> from softgrad.optim import SGD, ReduceLROnPlateau
    >>> opt = SGD(lr=1.0)
    >>> schedule = ReduceLROnPlateau(opt, factor=0.5, patience=1)
    >>> rates = []
    >>> for loss in [1.0, 1.0, 1.0, 0.5, 0.5, 0.5]:
    ...     schedule.step(loss)
    ...     rates.append(opt.lr)
    >>> rates
    [1.0, 1.0, 0.5, 0.5, 0.5, 0.25]
    """

    _CONFIG = (
        "mode",
        "factor",
        "patience",
        "threshold",
        "threshold_mode",
        "cooldown",
        "min_lr",
        "eps",
    )
    _COUNTERS = ("best", "num_bad_epochs", "cooldown_counter")

    # the validated settings, which LRSchedule.__init__ sets from _CONFIG
    mode: str
    factor: float
    patience: int
    threshold: float
    threshold_mode: str
    cooldown: int
    min_lr: float
    eps: float

    def __init__(
        self,
        optimizer: Optimizer,
        mode: str = "min",
        factor: float = 0.1,
        patience: int = 10,
        threshold: float = 1e-4,
        threshold_mode: str = "rel",
        cooldown: int = 0,
        min_lr: float = 0.0,
        eps: float = 1e-8,
    ) -> None:
        super().__init__(
            optimizer,
            mode=mode,
            factor=factor,
            patience=patience,
            threshold=threshold,
            threshold_mode=threshold_mode,
            cooldown=cooldown,
            min_lr=min_lr,
            eps=eps,
        )
        self.best: float | None = None
        self.num_bad_epochs = 0
        self.cooldown_counter = 0

    @classmethod
    def _validate(cls, config: Mapping[str, Any]) -> dict[str, Any]:
        where = cls.__name__
        return {
            "mode": check_choice(config["mode"], where, "mode", ("min", "max")),
            "factor": check_number(
                config["factor"], where, "factor", 0.0, 1.0, low_open=True, high_open=True
            ),
            "patience": check_int(config["patience"], where, "patience", 0),
            "threshold": check_number(config["threshold"], where, "threshold", 0.0),
            "threshold_mode": check_choice(
                config["threshold_mode"], where, "threshold_mode", ("rel", "abs")
            ),
            "cooldown": check_int(config["cooldown"], where, "cooldown", 0),
            "min_lr": check_number(config["min_lr"], where, "min_lr", 0.0),
            "eps": check_number(config["eps"], where, "eps", 0.0),
        }

    def _validate_counters(self, where: str, counters: Mapping[str, Any]) -> dict[str, Any]:
        return {
            "best": _check_best(where, counters["best"]),
            "num_bad_epochs": check_int(counters["num_bad_epochs"], where, "num_bad_epochs", 0),
            "cooldown_counter": check_int(
                counters["cooldown_counter"], where, "cooldown_counter", 0
            ),
        }

    def _is_better(self, metric: float) -> bool:
        if self.best is None:  # torch starts from best = +inf (min) or -inf (max)
            return not math.isnan(metric) and metric != (
                math.inf if self.mode == "min" else -math.inf
            )
        if self.mode == "min":
            if self.threshold_mode == "rel":
                return metric < self.best * (1.0 - self.threshold)
            return metric < self.best - self.threshold
        if self.threshold_mode == "rel":
            return metric > self.best * (self.threshold + 1.0)
        return metric > self.best + self.threshold

    def step(self, metric: float | None = None) -> None:
        """End of an epoch with the monitored ``metric`` (required)."""
        metric = check_metric(metric, f"{type(self).__name__}.step")
        self.last_epoch += 1
        if self._is_better(metric):
            self.best = metric
            self.num_bad_epochs = 0
        else:
            self.num_bad_epochs += 1
        if self.cooldown_counter > 0:
            self.cooldown_counter -= 1
            self.num_bad_epochs = 0  # bad epochs in a cooldown do not count
        if self.num_bad_epochs > self.patience:
            old_lr = self.optimizer.lr
            new_lr = max(old_lr * self.factor, self.min_lr)
            if old_lr - new_lr > self.eps:
                self.optimizer.lr = new_lr
            self.cooldown_counter = self.cooldown
            self.num_bad_epochs = 0


class AdaptiveLR(LRSchedule):
    """Divide the rate by 5 when the metric stalls: scikit-learn's ``'adaptive'`` schedule.

    Each ``step(metric)`` follows ``MLPClassifier``'s end of epoch. Mode "min" (training loss):
    the epoch counts as no improvement if ``metric > best - tol``, else the count resets;
    ``best = min(best, metric)``. Mode "max" (validation score, sklearn's early stopping): no
    improvement if ``metric < best + tol``; ``best = max(best, metric)``. When the count
    exceeds ``n_iter_no_change``: if ``lr <= min_lr`` the schedule sets ``should_stop``
    (scikit-learn stops training there), else ``lr = lr / 5`` and the count resets.

    Parameters
    ----------
    optimizer : Optimizer
    tol : float, default=1e-4
        Minimum improvement, >= 0.
    n_iter_no_change : int, default=10
        Epochs without improvement tolerated, >= 1.
    mode : {"min", "max"}, default="min"
    min_lr : float, default=1e-6
        scikit-learn's fixed floor.

    Attributes
    ----------
    should_stop : bool
        True once the rate is at the floor and would be divided again; :func:`fit
        <softgrad.training.fit>` then stops, as scikit-learn does.

    Examples
    --------
    >>> from softgrad.optim import SGD, AdaptiveLR
    >>> opt = SGD(lr=1.0)
    >>> schedule = AdaptiveLR(opt, n_iter_no_change=1)
    >>> for loss in [1.0, 1.0, 1.0]:
    ...     schedule.step(loss)
    >>> opt.lr, schedule.no_improvement_count
    (0.2, 0)
    """

    _CONFIG = ("tol", "n_iter_no_change", "mode", "min_lr")

    # the validated settings, which LRSchedule.__init__ sets from _CONFIG
    tol: float
    n_iter_no_change: int
    mode: str
    min_lr: float
    _COUNTERS = ("best", "no_improvement_count", "should_stop")

    def __init__(
        self,
        optimizer: Optimizer,
        tol: float = 1e-4,
        n_iter_no_change: int = 10,
        mode: str = "min",
        min_lr: float = 1e-6,
    ) -> None:
        super().__init__(
            optimizer, tol=tol, n_iter_no_change=n_iter_no_change, mode=mode, min_lr=min_lr
        )
        self.best: float | None = None
        self.no_improvement_count = 0
        self.should_stop = False

    @classmethod
    def _validate(cls, config: Mapping[str, Any]) -> dict[str, Any]:
        where = cls.__name__
        return {
            "tol": check_number(config["tol"], where, "tol", 0.0),
            "n_iter_no_change": check_int(config["n_iter_no_change"], where, "n_iter_no_change", 1),
            "mode": check_choice(config["mode"], where, "mode", ("min", "max")),
            "min_lr": check_number(config["min_lr"], where, "min_lr", 0.0),
        }

    def _validate_counters(self, where: str, counters: Mapping[str, Any]) -> dict[str, Any]:
        should_stop = counters["should_stop"]
        if not isinstance(should_stop, bool):
            raise TypeError(f"{where}: should_stop must be a bool; got {should_stop!r}")
        return {
            "best": _check_best(where, counters["best"]),
            "no_improvement_count": check_int(
                counters["no_improvement_count"], where, "no_improvement_count", 0
            ),
            "should_stop": should_stop,
        }

    def step(self, metric: float | None = None) -> None:
        """End of an epoch with the training loss (mode "min") or validation score ("max")."""
        metric = check_metric(metric, f"{type(self).__name__}.step")
        self.last_epoch += 1
        if self.mode == "min":
            best = math.inf if self.best is None else self.best
            stalled, improved = metric > best - self.tol, metric < best
        else:
            best = -math.inf if self.best is None else self.best
            stalled, improved = metric < best + self.tol, metric > best
        self.no_improvement_count = self.no_improvement_count + 1 if stalled else 0
        if improved:
            self.best = metric
        if self.no_improvement_count > self.n_iter_no_change:
            if self.optimizer.lr <= self.min_lr:
                self.should_stop = True
            else:
                self.optimizer.lr = self.optimizer.lr / 5.0
                self.no_improvement_count = 0
