"""Adam (L2 weight decay in the gradient) and AdamW (decoupled weight decay)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, ClassVar

import numpy as np

from softgrad.checks import check_bool, check_number
from softgrad.checks.overrides import inherits
from softgrad.kernels import get_ops
from softgrad.optim.optimizer import Optimizer

__all__ = ["Adam", "AdamW"]


class Adam(Optimizer):
    """Adam: torch's rule, or scikit-learn's with ``fold_bias_correction`` (no amsgrad).

    At step t (counted per parameter, from 1), with ``g = grad + weight_decay * W``::

        m = beta1 * m + (1 - beta1) * g
        v = beta2 * v + (1 - beta2) * g * g
        W -= lr / (1 - beta1**t) * m / (sqrt(v) / sqrt(1 - beta2**t) + eps)

    which is exactly ``torch.optim.Adam``: ``eps`` is added to the bias-corrected ``sqrt(v)``.
    With ``fold_bias_correction=True`` it is scikit-learn's ``AdamOptimizer`` (the rule of
    ``MLPClassifier(solver="adam")``), which folds both corrections into the step size and adds
    ``eps`` to the uncorrected ``sqrt(v)``::

        lr_t = lr * sqrt(1 - beta2**t) / (1 - beta1**t)
        W -= lr_t * m / (sqrt(v) + eps)

    The two differ only through where ``eps`` sits (by a factor ``sqrt(1 - beta2**t)``).

    Parameters
    ----------
    lr : float, default=1e-3
        Learning rate, >= 0.
    betas : (float, float), default=(0.9, 0.999)
        Decay rates of the first and second moment estimates, each in [0, 1).
    eps : float, default=1e-8
        Added to the bias-corrected ``sqrt(v)``, >= 0.
    weight_decay : float, default=0.0
        L2 penalty added to the gradient (torch's Adam), >= 0. See :class:`AdamW` for the
        decoupled form.
    fold_bias_correction : bool, default=False
        scikit-learn's placement of ``eps`` (above) instead of torch's.

    Notes
    -----
    State per parameter: ``"m.<key>"`` and ``"v.<key>"``, torch's ``exp_avg`` and
    ``exp_avg_sq`` (m and v above, the gradient scaled by ``1 - beta2`` before it is squared),
    and the step count. ``state_dict()`` marks them ``"state_version": 2``. Earlier softgrad
    builds kept the moments without their ``(1 - beta)`` factors (``m / (1 - beta1)``,
    ``v / (1 - beta2)``: v reached inf in float32 at a gradient of 6e17 where torch's stays
    finite to 1.8e19); a state saved so (no ``"state_version"``), in a checkpoint or a pickled
    optimizer, loads multiplied by those factors and continues with the same steps, to
    rounding.

    A state saved before ``fold_bias_correction`` existed loads as
    ``fold_bias_correction=False``.

    On the Numba lane a moment that falls below the dtype's smallest normal number is stored as
    0 (unless ``eps`` is 0 or so small that this would change a step): a subnormal moment
    makes a step too small to move a float32
    parameter larger than 2e-25 with the defaults, and costs the CPU's slow path at every step
    it stays subnormal (softgrad.kernels.numba_updates.adam). The NumPy lane and torch keep
    it; the parameters agree to rounding.

    Examples
    --------
    >>> import numpy as np
    >>> from softgrad.optim import Adam
    >>> params = {"0.b": np.array([1.0, -1.0])}
    >>> opt = Adam(lr=0.1)
    >>> opt.step(params, {"0.b": np.array([0.5, -2.0])})  # first step: W -= lr * sign(g)
    >>> params["0.b"]
    array([ 0.9, -0.9])
    """

    _HYPER_NAMES = ("beta1", "beta2", "eps", "weight_decay", "fold_bias_correction")
    _HYPER_DEFAULTS: ClassVar[dict[str, Any]] = {"fold_bias_correction": False}
    _STATE_VERSION: ClassVar[int] = 2  # 1: the moments without their (1 - beta) factors

    def __init__(
        self,
        lr: float = 1e-3,
        betas: Sequence[float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        *,
        fold_bias_correction: bool = False,
    ) -> None:
        super().__init__(lr)
        where = type(self).__name__
        if isinstance(betas, np.ndarray) and betas.shape == (2,):
            betas = betas.tolist()  # as a torch user passes a tensor
        if isinstance(betas, (str, bytes)) or not isinstance(betas, Sequence) or len(betas) != 2:
            raise TypeError(f"{where}: betas must be a pair (beta1, beta2); got {betas!r}")
        hyper = self._validate(
            {
                "beta1": betas[0],
                "beta2": betas[1],
                "eps": eps,
                "weight_decay": weight_decay,
                "fold_bias_correction": fold_bias_correction,
            }
        )
        self.beta1: float = hyper["beta1"]
        self.beta2: float = hyper["beta2"]
        self.eps: float = hyper["eps"]
        self.weight_decay: float = hyper["weight_decay"]
        self.fold_bias_correction: bool = hyper["fold_bias_correction"]

    @classmethod
    def _validate(cls, hyper: Mapping[str, Any]) -> dict[str, Any]:
        where = cls.__name__
        return {
            "beta1": check_number(hyper["beta1"], where, "betas[0]", 0.0, 1.0, high_open=True),
            "beta2": check_number(hyper["beta2"], where, "betas[1]", 0.0, 1.0, high_open=True),
            "eps": check_number(hyper["eps"], where, "eps", 0.0),
            "weight_decay": check_number(hyper["weight_decay"], where, "weight_decay", 0.0),
            "fold_bias_correction": check_bool(
                hyper["fold_bias_correction"], where, "fold_bias_correction"
            ),
        }

    @classmethod
    def _slot_names(cls, hyper: Mapping[str, Any]) -> tuple[str, ...]:
        return ("m", "v")

    @classmethod
    def _check_slots(cls, where: str, slots: Mapping[str, Mapping[str, np.ndarray]]) -> None:
        """Optimizer's checks, and v >= 0: an average of squares (sqrt(v) of a negative v is
        NaN on the NumPy lane, where the Numba lane stores it as 0)."""
        super()._check_slots(where, slots)
        for key, arrays in slots.items():
            v = arrays["v"]
            if (v < 0).any():
                raise ValueError(
                    f"{where}: v.{key} must be >= 0 (a running average of squared gradients); "
                    f"got {float(v[v < 0].flat[0])!r}"
                )

    @classmethod
    def _upgrade_slots(
        cls, version: int, hyper: Mapping[str, Any], slots: dict[str, dict[str, np.ndarray]]
    ) -> None:
        # version 1 kept m / (1 - beta1) and v / (1 - beta2): torch's moments are these times
        # the factors, in the arrays' own dtype (float32 stays float32)
        for arrays in slots.values():
            arrays["m"] *= 1.0 - hyper["beta1"]
            arrays["v"] *= 1.0 - hyper["beta2"]

    @property
    def betas(self) -> tuple[float, float]:
        """``(beta1, beta2)``."""
        return (self.beta1, self.beta2)

    def get_config(self) -> dict[str, Any]:
        """Constructor arguments (JSON-safe apart from the ``betas`` tuple; the option
        ``fold_bias_correction`` only when on, as in the saved state)."""
        hyper = self._hyper()
        del hyper["beta1"], hyper["beta2"]
        return {"lr": self.lr, "betas": self.betas, **hyper}

    def _dtype_scalars(self) -> dict[str, float]:
        # the update's step size lr / (1 - beta1**t) (scikit-learn's rule: times
        # sqrt(1 - beta2**t) <= 1) is at most lr / (1 - beta1); AdamW shrinks the weights by
        # 1 - lr * weight_decay
        rate = 1.0 - self.beta1
        scalars = super()._dtype_scalars()
        scalars[f"lr / (1 - betas[0]) (the largest step size, {self.lr:g} / {rate:g})"] = (
            self.lr / rate
        )
        if not self._coupled_decay():
            scalars[f"lr * weight_decay ({self.lr:g} * {self.weight_decay:g})"] = (
                self.lr * self.weight_decay
            )
        return scalars

    def _dtype_floors(self) -> dict[str, tuple[float, str]]:
        # eps is added to sqrt(v) as given (either rule). Rounded to 0 (1e-8 in float16), a
        # gradient of 0 makes the weight 0 / 0 = NaN
        return {"eps": (self.eps, "a parameter whose gradient is 0 would become NaN, 0 / 0")}

    def _n_scratch(self) -> int:
        # L2 decay needs g + weight_decay * W beside the temporary of the update
        return 2 if self._coupled_decay() else 1

    def _coupled_decay(self) -> bool:
        return self.weight_decay != 0.0

    def _update(
        self,
        param: np.ndarray,
        grad: np.ndarray,
        step: int,
        slots: dict[str, np.ndarray],
        scratch: list[np.ndarray],
    ) -> None:
        get_ops().adam_update(
            param, grad, slots["m"], slots["v"], scratch, lr=self.lr, step=step, **self._rule()
        )

    def _rule(self) -> dict[str, Any]:
        """The kernel seam's settings of the update (all but lr and the step)."""
        return {
            "beta1": self.beta1,
            "beta2": self.beta2,
            "eps": self.eps,
            "weight_decay": self.weight_decay,
            "decoupled": not self._coupled_decay(),
            "fold_bias_correction": self.fold_bias_correction,
        }

    def _bind_update(
        self,
        param: np.ndarray,
        grad: np.ndarray,
        slots: dict[str, np.ndarray],
        scratch: list[np.ndarray],
    ) -> Callable[[Optimizer, int], None]:
        """The kernel seam's bound Adam update (``bind_adam_update``), as SGD's
        (:meth:`softgrad.optim.SGD._bind_update`); the learning rate read at each step."""
        if not inherits(self, Adam, "_update"):
            return super()._bind_update(param, grad, slots, scratch)
        run = get_ops().bind_adam_update(
            param, grad, slots["m"], slots["v"], scratch, **self._rule()
        )
        return lambda opt, step: run(opt.lr, step)


class AdamW(Adam):
    """Adam with decoupled weight decay, exactly ``torch.optim.AdamW``.

    Each step first shrinks the weights, ``W *= 1 - lr * weight_decay``, then applies the Adam
    update of the plain gradient (see :class:`Adam`, whose Notes on the state apply here).

    Parameters
    ----------
    lr : float, default=1e-3
    betas : (float, float), default=(0.9, 0.999)
    eps : float, default=1e-8
    weight_decay : float, default=0.01
        Decoupled decay rate, >= 0.
    fold_bias_correction : bool, default=False
        scikit-learn's placement of ``eps`` (see :class:`Adam`).

    Examples
    --------
    >>> import numpy as np
    >>> from softgrad.optim import AdamW
    >>> params = {"0.W": np.array([2.0, -2.0])}
    >>> opt = AdamW(lr=0.1, weight_decay=0.5)
    >>> opt.step(params, {"0.W": np.array([1.0, 0.0])})  # W *= 0.95, then W -= 0.1 * sign(g)
    >>> params["0.W"]
    array([ 1.8, -1.9])
    """

    def __init__(
        self,
        lr: float = 1e-3,
        betas: Sequence[float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.01,
        *,
        fold_bias_correction: bool = False,
    ) -> None:
        super().__init__(lr, betas, eps, weight_decay, fold_bias_correction=fold_bias_correction)

    def _coupled_decay(self) -> bool:
        return False
