"""Stochastic gradient descent with momentum, Nesterov momentum and L2 weight decay."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, ClassVar

import numpy as np

from softgrad.checks import check_bool, check_number
from softgrad.checks.overrides import inherits
from softgrad.kernels import get_ops
from softgrad.optim.optimizer import Optimizer

__all__ = ["SGD"]


class SGD(Optimizer):
    """Stochastic gradient descent: torch's rule, or scikit-learn's with ``lr_in_velocity``.

    With ``g = grad + weight_decay * W`` and the momentum buffer ``b`` (dampening 0), the
    default is exactly ``torch.optim.SGD``::

        b = g                        on a parameter's first step
        b = momentum * b + g         afterwards
        W -= lr * (g + momentum * b)     if nesterov
        W -= lr * b                      if momentum > 0
        W -= lr * g                      if momentum == 0

    With ``lr_in_velocity=True`` it is scikit-learn's ``SGDOptimizer`` (the rule of
    ``MLPClassifier(solver="sgd")``), whose velocity ``v`` (zero before the first step)
    carries the learning rates of past steps::

        v = momentum * v - lr * g
        W += momentum * v - lr * g       if nesterov
        W += v                           otherwise

    While ``lr`` stays constant the two rules give the same weights (``v = -lr * b``); they
    part when ``lr`` changes between steps (a schedule such as :class:`InvScalingLR`).

    Parameters
    ----------
    lr : float, default=0.01
        Learning rate, >= 0.
    momentum : float, default=0.0
        Momentum factor, >= 0.
    nesterov : bool, default=False
        Nesterov momentum (needs ``momentum > 0``).
    weight_decay : float, default=0.0
        L2 penalty added to the gradient, >= 0.
    lr_in_velocity : bool, default=False
        Keep the learning rate inside the velocity (scikit-learn's rule, above) instead of
        applying it to the whole step (torch's).
    fold_gradients : bool, default=True
        In :func:`~softgrad.training.fit`'s steps that nothing between batches can change,
        fold each weight gradient into the update instead of writing it and reading it back
        (the momentum buffer, or the weights without momentum, taken into BLAS's product:
        :mod:`softgrad.kernels.sgd_fold`; h100 b128 epochs 0.86-0.88x the unfolded ones on
        Fashion-MNIST). The weights are then SGD's to a rounding or two per step; False writes
        the gradients at every step, and fit's weights equal a loop of checked steps' bit for
        bit. It changes nothing in :meth:`step`.

    Notes
    -----
    State per parameter: ``"momentum_buffer.<key>"`` (only when ``momentum > 0``) and the step
    count. The buffer holds torch's ``b`` or, with ``lr_in_velocity``, scikit-learn's ``v``;
    setting ``lr_in_velocity`` after steps converts the buffers at the current rate (``v = -lr
    b``, exact while the rate has not changed; to torch's rule it needs ``lr > 0``).
    The buffer of a parameter's first step is the gradient itself, as in torch, not
    ``(1 - dampening) * g``. A state saved before ``lr_in_velocity`` existed loads as
    ``lr_in_velocity=False``, one saved before ``fold_gradients`` as ``fold_gradients=True``.

    Examples
    --------
    >>> import numpy as np
    >>> from softgrad.optim import SGD
    >>> params = {"0.W": np.array([1.0, 2.0], dtype=np.float32)}
    >>> grads = {"0.W": np.array([0.5, -1.0], dtype=np.float32)}
    >>> opt = SGD(lr=0.1, momentum=0.9)
    >>> opt.step(params, grads)  # b = g; W -= 0.1 * b
    >>> params["0.W"]
    array([0.95, 2.1 ], dtype=float32)
    >>> opt.step(params, grads)  # b = 0.9 * b + g = 1.9 * g; W -= 0.1 * b
    >>> params["0.W"]
    array([0.855, 2.29 ], dtype=float32)

    scikit-learn's rule: the velocity keeps the rate it was built with when ``lr`` changes

    >>> params = {"0.W": np.array([1.0])}
    >>> opt = SGD(lr=0.1, momentum=0.5, lr_in_velocity=True)
    >>> opt.step(params, {"0.W": np.array([1.0])})  # v = -0.1 ; W = 0.9
    >>> opt.lr = 0.01
    >>> opt.step(params, {"0.W": np.array([1.0])})  # v = 0.5 * -0.1 - 0.01 = -0.06 ; W = 0.84
    >>> params["0.W"]
    array([0.84])
    """

    _HYPER_NAMES = ("momentum", "nesterov", "weight_decay", "lr_in_velocity", "fold_gradients")
    _HYPER_DEFAULTS: ClassVar[dict[str, Any]] = {"lr_in_velocity": False, "fold_gradients": True}
    _CHOICE_NAMES = ("fold_gradients",)

    def __init__(
        self,
        lr: float = 0.01,
        momentum: float = 0.0,
        *,
        nesterov: bool = False,
        weight_decay: float = 0.0,
        lr_in_velocity: bool = False,
        fold_gradients: bool = True,
    ) -> None:
        super().__init__(lr)
        hyper = self._validate(
            {
                "momentum": momentum,
                "nesterov": nesterov,
                "weight_decay": weight_decay,
                "lr_in_velocity": lr_in_velocity,
                "fold_gradients": fold_gradients,
            }
        )
        self.momentum: float = hyper["momentum"]
        self.nesterov: bool = hyper["nesterov"]
        self.weight_decay: float = hyper["weight_decay"]
        self.lr_in_velocity: bool = hyper["lr_in_velocity"]
        self.fold_gradients: bool = hyper["fold_gradients"]

    @classmethod
    def _validate(cls, hyper: Mapping[str, Any]) -> dict[str, Any]:
        where = cls.__name__
        momentum = check_number(hyper["momentum"], where, "momentum", 0.0)
        nesterov = check_bool(hyper["nesterov"], where, "nesterov")
        if nesterov and momentum == 0.0:
            raise ValueError(
                f"{where}: momentum must be > 0 when nesterov=True; got {momentum!r} "
                "(set momentum, e.g. 0.9, or nesterov=False)"
            )
        return {
            "momentum": momentum,
            "nesterov": nesterov,
            "weight_decay": check_number(hyper["weight_decay"], where, "weight_decay", 0.0),
            "lr_in_velocity": check_bool(hyper["lr_in_velocity"], where, "lr_in_velocity"),
            "fold_gradients": check_bool(hyper["fold_gradients"], where, "fold_gradients"),
        }

    def __setattr__(self, name: str, value: Any) -> None:
        before = self.__dict__.get("lr_in_velocity") if name == "lr_in_velocity" else None
        if before is None:  # another attribute, or the constructor's setting
            super().__setattr__(name, value)
            return
        # the buffers hold the other rule's quantity, torch's b or scikit-learn's v = -lr b:
        # reused as they were, the next step moved the weights uphill
        buffers = [s["momentum_buffer"] for s in self._slots.values() if "momentum_buffer" in s]
        if buffers and before and not value and self.lr == 0.0:
            raise ValueError(
                "SGD: lr_in_velocity can be turned off after steps only with lr > 0 (the "
                f"buffer b = -v / lr); got lr {self.lr!r}"
            )
        super().__setattr__(name, value)
        if self.lr_in_velocity != before:
            factor = -self.lr if self.lr_in_velocity else -1.0 / self.lr
            for buffer in buffers:
                buffer *= factor

    @classmethod
    def _slot_names(cls, hyper: Mapping[str, Any]) -> tuple[str, ...]:
        return ("momentum_buffer",) if hyper["momentum"] != 0.0 else ()

    def _n_scratch(self) -> int:
        # the scaled term of each update, and g + weight_decay * W
        return 2 if self.weight_decay != 0.0 else 1

    def _update(
        self,
        param: np.ndarray,
        grad: np.ndarray,
        step: int,
        slots: dict[str, np.ndarray],
        scratch: list[np.ndarray],
    ) -> None:
        get_ops().sgd_update(
            param,
            grad,
            slots.get("momentum_buffer"),
            scratch,
            lr=self.lr,
            first_step=step == 1,
            **self._rule(),
        )

    def _rule(self) -> dict[str, Any]:
        """The kernel seam's settings of the update (all but lr and the first-step flag)."""
        return {
            "momentum": self.momentum,
            "nesterov": self.nesterov,
            "weight_decay": self.weight_decay,
            "lr_in_velocity": self.lr_in_velocity,
        }

    def _bind_update(
        self,
        param: np.ndarray,
        grad: np.ndarray,
        slots: dict[str, np.ndarray],
        scratch: list[np.ndarray],
    ) -> Callable[[Optimizer, int], None]:
        """The kernel seam's bound SGD update (``bind_sgd_update``): the settings fixed, as the
        flat state that holds it lasts only while they are (``Optimizer.__setattr__``); the
        learning rate read at each step. A subclass with its own :meth:`_update` keeps it."""
        if not inherits(self, SGD, "_update"):
            return super()._bind_update(param, grad, slots, scratch)
        buf = slots.get("momentum_buffer")
        run = get_ops().bind_sgd_update(param, grad, buf, scratch, **self._rule())
        return lambda opt, step: run(opt.lr, step == 1)
