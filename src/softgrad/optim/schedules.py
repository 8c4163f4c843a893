"""Learning-rate schedules: set an optimizer's ``lr`` once per epoch.

Every schedule wraps one optimizer, is stepped once per epoch with ``step(metric=None)`` (the
plateau schedules in :mod:`softgrad.optim.plateau` need the metric, the others ignore it), and
saves its counters with ``state_dict()`` / ``load_state_dict()``. The closed-form schedules
here compute the rate of epoch ``e`` from the optimizer's rate when the schedule was built
(``base_lr``), as torch's schedulers do in closed form, so a restored schedule continues
exactly; each overrides any ``lr`` set by hand at its next step. Their base class,
:class:`LRSchedule`, lives in :mod:`softgrad.optim.lr_schedule` and is re-exported here.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from softgrad.checks import check_int, check_number, unchanged_if_refused
from softgrad.optim.lr_schedule import LRSchedule
from softgrad.optim.optimizer import Optimizer

__all__ = ["ConstantLR", "CosineLR", "InvScalingLR", "LRSchedule", "LambdaLR", "StepLR"]


class _ClosedForm(LRSchedule):
    """A schedule whose rate at epoch e is a function of ``base_lr`` and e alone."""

    def __init__(self, optimizer: Optimizer, **config: Any) -> None:
        super().__init__(optimizer, **config)
        self._set_lr(0)  # torch's schedulers set epoch 0's rate when built

    def lr_at(self, epoch: int) -> float:
        """The learning rate during epoch ``epoch`` (0 before the first ``step``): an integer
        >= 0 (-1 gave a rate past the schedule's start, and a string a raw TypeError)."""
        return self._rate(check_int(epoch, f"{type(self).__name__}.lr_at", "epoch", 0))

    def _rate(self, epoch: int) -> float:
        """The formula of :meth:`lr_at`, for a checked epoch."""
        raise NotImplementedError

    def _current_rate(self, epoch: int) -> float:
        """The rate a ``step`` sets for ``epoch``: :meth:`lr_at`'s, unless the schedule keeps a
        counter of its own (:class:`InvScalingLR`'s samples seen)."""
        return self.lr_at(epoch)

    def step(self, metric: float | None = None) -> None:
        """End of an epoch: ``optimizer.lr = lr_at(last_epoch + 1)``; ``metric`` is ignored.
        Refused (a rate that overflows), the schedule stays at its epoch."""
        with unchanged_if_refused(self):
            self.last_epoch += 1
            self._set_lr(self.last_epoch)

    def _set_lr(self, epoch: int) -> None:
        """``optimizer.lr = lr_at(epoch)``, refusing a rate that overflows a float (gamma=1e300
        reaches inf in two steps): the message names the schedule, not the optimizer's lr."""
        try:
            lr = self._current_rate(epoch)
        except OverflowError:
            lr = math.inf
        if not math.isfinite(lr):
            raise ValueError(
                f"{type(self).__name__}: the learning rate at epoch {epoch} must be finite; got "
                f"an overflow from base_lr={self.base_lr:g} and {self!r} (lower base_lr or the "
                "schedule's factor)"
            )
        self.optimizer.lr = lr

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore the saved state and set the optimizer's ``lr`` to the restored epoch's rate
        (so it does not matter whether the optimizer's state is loaded before or after).
        Refused (that rate overflows), the schedule is left as it was."""
        with unchanged_if_refused(self):
            super().load_state_dict(state)
            self._set_lr(self.last_epoch)


class ConstantLR(_ClosedForm):
    """Constant rate, optionally scaled by ``factor`` for the first ``total_iters`` epochs.

    ``lr(e) = base_lr * factor`` if ``e < total_iters`` else ``base_lr`` (torch's ConstantLR;
    the defaults keep the rate constant).

    Parameters
    ----------
    optimizer : Optimizer
    factor : float, default=1.0
        In (0, 1].
    total_iters : int, default=0

    Examples
    --------
    >>> from softgrad.optim import SGD, ConstantLR
    >>> opt = SGD(lr=0.3)
    >>> schedule = ConstantLR(opt, factor=0.5, total_iters=1)
    >>> rates = [opt.lr]
    >>> schedule.step()
    >>> rates + [opt.lr]
    [0.15, 0.3]
    """

    _CONFIG = ("factor", "total_iters")

    # the validated settings, which LRSchedule.__init__ sets from _CONFIG
    factor: float
    total_iters: int

    def __init__(self, optimizer: Optimizer, factor: float = 1.0, total_iters: int = 0) -> None:
        super().__init__(optimizer, factor=factor, total_iters=total_iters)

    @classmethod
    def _validate(cls, config: Mapping[str, Any]) -> dict[str, Any]:
        where = cls.__name__
        return {
            "factor": check_number(config["factor"], where, "factor", 0.0, 1.0, low_open=True),
            "total_iters": check_int(config["total_iters"], where, "total_iters", 0),
        }

    def _rate(self, epoch: int) -> float:
        return self.base_lr * self.factor if epoch < self.total_iters else self.base_lr


class StepLR(_ClosedForm):
    """Multiply the rate by ``gamma`` every ``step_size`` epochs.

    ``lr(e) = base_lr * gamma ** (e // step_size)`` (torch's StepLR).

    Parameters
    ----------
    optimizer : Optimizer
    step_size : int
        Epochs between decays, >= 1.
    gamma : float, default=0.1
        Decay factor, >= 0.

    Examples
    --------
    >>> from softgrad.optim import SGD, StepLR
    >>> opt = SGD(lr=1.0)
    >>> schedule = StepLR(opt, step_size=2, gamma=0.5)
    >>> rates = []
    >>> for epoch in range(5):
    ...     rates.append(opt.lr)
    ...     schedule.step()
    >>> rates
    [1.0, 1.0, 0.5, 0.5, 0.25]
    """

    _CONFIG = ("step_size", "gamma")

    # the validated settings, which LRSchedule.__init__ sets from _CONFIG
    step_size: int
    gamma: float

    def __init__(self, optimizer: Optimizer, step_size: int, gamma: float = 0.1) -> None:
        super().__init__(optimizer, step_size=step_size, gamma=gamma)

    @classmethod
    def _validate(cls, config: Mapping[str, Any]) -> dict[str, Any]:
        where = cls.__name__
        return {
            "step_size": check_int(config["step_size"], where, "step_size", 1),
            "gamma": check_number(config["gamma"], where, "gamma", 0.0),
        }

    def _rate(self, epoch: int) -> float:
        return self.base_lr * self.gamma ** (epoch // self.step_size)


class CosineLR(_ClosedForm):
    """Cosine annealing from ``base_lr`` down to ``eta_min`` over ``t_max`` epochs.

    ``lr(e) = eta_min + (base_lr - eta_min) * (1 + cos(pi * e / t_max)) / 2`` (torch's
    CosineAnnealingLR in closed form). Past ``t_max`` the cosine continues, rising again as
    torch's does: set ``t_max`` to the number of epochs.

    Parameters
    ----------
    optimizer : Optimizer
    t_max : int
        Epochs of the half period, >= 1.
    eta_min : float, default=0.0
        Final rate, >= 0.

    Examples
    --------
    >>> from softgrad.optim import SGD, CosineLR
    >>> opt = SGD(lr=1.0)
    >>> schedule = CosineLR(opt, t_max=2)
    >>> rates = []
    >>> for epoch in range(3):
    ...     rates.append(round(opt.lr, 12))
    ...     schedule.step()
    >>> rates
    [1.0, 0.5, 0.0]
    """

    _CONFIG = ("t_max", "eta_min")

    # the validated settings, which LRSchedule.__init__ sets from _CONFIG
    t_max: int
    eta_min: float

    def __init__(self, optimizer: Optimizer, t_max: int, eta_min: float = 0.0) -> None:
        super().__init__(optimizer, t_max=t_max, eta_min=eta_min)

    @classmethod
    def _validate(cls, config: Mapping[str, Any]) -> dict[str, Any]:
        where = cls.__name__
        return {
            "t_max": check_int(config["t_max"], where, "t_max", 1),
            "eta_min": check_number(config["eta_min"], where, "eta_min", 0.0),
        }

    def _rate(self, epoch: int) -> float:
        cosine = math.cos(math.pi * epoch / self.t_max)
        # halve (1 + cos) first: the same bits, and base_lr near the float maximum cannot
        # overflow in between
        return self.eta_min + (self.base_lr - self.eta_min) * ((1.0 + cosine) / 2.0)


class InvScalingLR(_ClosedForm):
    """Inverse scaling in the number of samples seen: scikit-learn's ``'invscaling'``.

    ``lr = base_lr / (t + 1) ** power_t``, where ``t`` counts training samples seen so far,
    exactly as ``MLPClassifier(solver="sgd", learning_rate="invscaling")`` computes it at the
    end of each epoch.

    Parameters
    ----------
    optimizer : Optimizer
    power_t : float, default=0.5
        Exponent, >= 0.
    samples_per_epoch : int, default=1
        Added to ``t`` by each ``step()`` that is not given ``t``; pass the training-set size
        to follow scikit-learn (with the default, ``t`` counts epochs).

    Examples
    --------
    >>> from softgrad.optim import SGD, InvScalingLR
    >>> opt = SGD(lr=0.1)
    >>> schedule = InvScalingLR(opt, power_t=0.5, samples_per_epoch=3)
    >>> schedule.step()  # t = 3: 0.1 / 4 ** 0.5
    >>> opt.lr
    0.05
    """

    _CONFIG = ("power_t", "samples_per_epoch")

    # the validated settings, which LRSchedule.__init__ sets from _CONFIG
    power_t: float
    samples_per_epoch: int
    _COUNTERS = ("t",)

    def __init__(
        self, optimizer: Optimizer, power_t: float = 0.5, samples_per_epoch: int = 1
    ) -> None:
        self.t = 0
        super().__init__(optimizer, power_t=power_t, samples_per_epoch=samples_per_epoch)

    @classmethod
    def _validate(cls, config: Mapping[str, Any]) -> dict[str, Any]:
        where = cls.__name__
        return {
            "power_t": check_number(config["power_t"], where, "power_t", 0.0),
            "samples_per_epoch": check_int(
                config["samples_per_epoch"], where, "samples_per_epoch", 1
            ),
        }

    def _rate(self, epoch: int) -> float:
        """:meth:`lr_at`: the rate after ``epoch`` epochs of ``samples_per_epoch`` samples
        (``t = epoch * samples_per_epoch``; it returned the current ``t``'s rate whatever the
        epoch, so the estimator's ``lr_schedule`` trained at a constant rate with it)."""
        return self._rate_at(epoch * self.samples_per_epoch)

    def _current_rate(self, epoch: int) -> float:
        """The rate of the samples counted so far (``step(t=...)`` may set the count)."""
        return self._rate_at(self.t)

    def _rate_at(self, t: int) -> float:
        return float(self.base_lr) / (t + 1) ** self.power_t

    def step(self, metric: float | None = None, *, t: int | None = None) -> None:
        """End of an epoch: ``t`` becomes the given sample count, else grows by
        ``samples_per_epoch``; then ``lr = base_lr / (t + 1) ** power_t``."""
        with unchanged_if_refused(self):  # the count too, where its rate is refused
            if t is None:
                self.t += self.samples_per_epoch
            else:
                self.t = check_int(t, f"{type(self).__name__}.step", "t", 0)
            super().step(metric)


class LambdaLR(_ClosedForm):
    """Any rate a function of the epoch gives: ``lr(e) = base_lr * lr_lambda(e)``.

    torch's LambdaLR with one function (softgrad's optimizers have one rate): warm-up, a
    polynomial decay, a table of rates. It is a closed form, as :class:`StepLR` is: a restored
    schedule sets the saved epoch's rate from the function again.

    Parameters
    ----------
    optimizer : Optimizer
    lr_lambda : callable
        ``lr_lambda(epoch) -> factor``, for each epoch from 0 (an ``int``); the factor a finite
        real number >= 0.

    Notes
    -----
    A function cannot be saved in a checkpoint's JSON: :meth:`state_dict` holds ``base_lr``,
    ``last_epoch`` and the ``rate`` set at that epoch, and a run resumes with a schedule
    built again with its function. :meth:`load_state_dict` refuses a function that gives
    another rate at the saved epoch (a changed warm-up continued without a word otherwise).

    Examples
    --------
    >>> from softgrad.optim import SGD, LambdaLR
    >>> opt = SGD(lr=0.1)
    >>> def warmup(epoch):
    ...     return min(1.0, (epoch + 1) / 3)
    >>> schedule = LambdaLR(opt, warmup)
    >>> rates = []
    >>> for epoch in range(4):
    ...     rates.append(round(opt.lr, 4))
    ...     schedule.step()
    >>> rates
    [0.0333, 0.0667, 0.1, 0.1]
    >>> schedule
    LambdaLR(lr_lambda=warmup)
    """

    _COUNTERS = ("rate",)

    # the rate set at ``last_epoch``, saved by state_dict (class docstring)
    rate: float

    def __init__(self, optimizer: Optimizer, lr_lambda: Callable[[int], float]) -> None:
        if not callable(lr_lambda):
            raise TypeError(
                f"{type(self).__name__}: lr_lambda must be a function of the epoch, "
                f"lr_lambda(epoch) -> factor; got {type(lr_lambda).__name__}"
            )
        self.lr_lambda = lr_lambda
        super().__init__(optimizer)

    def _rate(self, epoch: int) -> float:
        return self._rate_from(self.base_lr, epoch)

    def _rate_from(self, base_lr: float, epoch: int) -> float:
        factor = self.lr_lambda(epoch)
        if isinstance(factor, np.ndarray) and factor.shape == ():  # torch takes a 0-d tensor
            factor = factor[()]
        what = f"lr_lambda({epoch}), the factor of base_lr,"
        return base_lr * check_number(factor, type(self).__name__, what, 0.0)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(lr_lambda={self._function_name()})"

    def _function_name(self) -> str:
        return getattr(self.lr_lambda, "__name__", None) or repr(self.lr_lambda)

    def _set_lr(self, epoch: int) -> None:
        super()._set_lr(epoch)
        self.rate = self.optimizer.lr  # saved, to know the function again (class docstring)

    def _validate_counters(self, where: str, counters: Mapping[str, Any]) -> dict[str, Any]:
        return {"rate": check_number(counters["rate"], where, "rate", 0.0)}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore :meth:`state_dict`'s output and set the saved epoch's rate from this
        schedule's function: refused, and nothing changed, where that is not the saved
        ``rate`` (another function than the run's).

        Examples
        --------
        >>> from softgrad.optim import SGD, LambdaLR
        >>> schedule = LambdaLR(SGD(lr=0.5), lambda epoch: 0.5**epoch)
        >>> schedule.step()
        >>> schedule.state_dict()
        {'type': 'LambdaLR', 'base_lr': 0.5, 'last_epoch': 1, 'rate': 0.25}
        >>> resumed = LambdaLR(SGD(lr=0.5), lambda epoch: 0.5**epoch)
        >>> resumed.load_state_dict(schedule.state_dict())
        >>> resumed.optimizer.lr
        0.25
        """
        with unchanged_if_refused(self), unchanged_if_refused(self.optimizer):
            super().load_state_dict(state)  # validated
            problem = self._resume_mismatch(state)
            if problem is not None:
                raise ValueError(f"{type(self).__name__}.load_state_dict: {problem}")

    def _resume_mismatch(self, state: Any) -> str | None:
        """Where this schedule's function gives another rate at the saved epoch than the
        saved ``rate``, what to say (None otherwise, and for a malformed state, which
        :meth:`load_state_dict` refuses by name): fit asks it before it loads anything."""
        try:
            epoch, base_lr, saved = (state[name] for name in ("last_epoch", "base_lr", "rate"))
            where = f"{type(self).__name__}.load_state_dict"  # the load's own checks
            epoch = check_int(epoch, where, "last_epoch", 0)
            base_lr = check_number(base_lr, where, "base_lr", 0.0)
            saved = check_number(saved, where, "rate", 0.0)
        except (KeyError, TypeError, ValueError):
            return None
        rate = self._rate_from(base_lr, epoch)
        # the same function on the same floats gives the same rate; a tolerance for a math
        # library that rounds otherwise on another machine
        if math.isclose(rate, saved, rel_tol=1e-9):
            return None
        return (
            f"lr_lambda must give the saved rate at the saved epoch {epoch}; got {base_lr!r} * "
            f"{self._function_name()}({epoch}) = {rate!r}, saved {saved!r} (build the schedule "
            "with the function the run was saved with)"
        )
