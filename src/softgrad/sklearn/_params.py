"""Hyperparameter checks of :class:`softgrad.sklearn.MLPClassifier`, done at the start of fit.

scikit-learn validates constructor arguments when ``fit`` runs, not in ``__init__`` (so that
``set_params`` and ``clone`` stay plain attribute copies); the checks here follow that rule and
raise ValueError/TypeError with the house error template.
"""

from __future__ import annotations

import numbers

import numpy as np

ACTIVATIONS = ("identity", "logistic", "tanh", "relu")
SOLVERS = ("sgd", "adam")
LEARNING_RATES = ("constant", "invscaling", "adaptive")
WHERE = "MLPClassifier"


def _check_number(name, value, low, high=None, *, integral=False, low_open=False, high_open=False):
    kind = numbers.Integral if integral else numbers.Real
    if isinstance(value, bool) or not isinstance(value, kind):
        what = "an int" if integral else "a real number"
        raise TypeError(f"{WHERE}: {name} must be {what}; got {value!r}")
    too_low = value <= low if low_open else value < low
    too_high = high is not None and (value >= high if high_open else value > high)
    if too_low or too_high or not np.isfinite(value):
        left = "(" if low_open else "["
        right = ")" if high_open else "]"
        upper = "inf" if high is None else high
        raise ValueError(f"{WHERE}: {name} must be in {left}{low}, {upper}{right}; got {value!r}")


def _check_option(name, value, options):
    if not isinstance(value, str) or value not in options:
        raise ValueError(
            f"{WHERE}: {name} must be one of {', '.join(map(repr, options))}; got {value!r}"
        )


def hidden_sizes(hidden_layer_sizes) -> list[int]:
    """The hidden layer widths as a list of positive ints (an int means one hidden layer)."""
    sizes = hidden_layer_sizes
    if not hasattr(sizes, "__iter__"):
        sizes = [sizes]
    sizes = list(sizes)
    for size in sizes:
        if isinstance(size, bool) or not isinstance(size, numbers.Integral) or size <= 0:
            raise ValueError(
                f"{WHERE}: hidden_layer_sizes must be positive ints; got {hidden_layer_sizes!r}"
            )
    return [int(size) for size in sizes]


def resolve_dtype(dtype) -> np.dtype:
    """float32 or float64, as a numpy dtype."""
    try:
        resolved = np.dtype(dtype)
    except TypeError:
        resolved = None
    if resolved not in (np.dtype(np.float32), np.dtype(np.float64)):
        raise ValueError(f"{WHERE}: dtype must be np.float32 or np.float64; got {dtype!r}")
    return resolved


def check_params(est) -> None:
    """Validate every constructor argument of ``est`` (raises ValueError or TypeError)."""
    hidden_sizes(est.hidden_layer_sizes)
    _check_option("activation", est.activation, ACTIVATIONS)
    if est.solver == "lbfgs":
        raise ValueError(
            f"{WHERE}: solver must be one of 'sgd', 'adam'; got 'lbfgs' (softgrad trains with "
            "mini-batches; use sklearn.neural_network.MLPClassifier for L-BFGS, then "
            "MLPClassifier.from_sklearn to bring the fitted network here)"
        )
    _check_option("solver", est.solver, SOLVERS)
    _check_option("learning_rate", est.learning_rate, LEARNING_RATES)
    _check_number("alpha", est.alpha, 0.0)
    if est.batch_size != "auto":
        _check_number("batch_size", est.batch_size, 1, integral=True)
    _check_number("learning_rate_init", est.learning_rate_init, 0.0, low_open=True)
    _check_number("power_t", est.power_t, 0.0)
    _check_number("max_iter", est.max_iter, 1, integral=True)
    _check_number("tol", est.tol, 0.0)
    _check_number("momentum", est.momentum, 0.0, 1.0)
    _check_number("validation_fraction", est.validation_fraction, 0.0, 1.0, high_open=True)
    _check_number("beta_1", est.beta_1, 0.0, 1.0, high_open=True)
    _check_number("beta_2", est.beta_2, 0.0, 1.0, high_open=True)
    _check_number("epsilon", est.epsilon, 0.0, low_open=True)
    _check_number("n_iter_no_change", est.n_iter_no_change, 1, integral=True)
    _check_number("label_smoothing", est.label_smoothing, 0.0, 1.0)
    _check_number("dropout", est.dropout, 0.0, 1.0, high_open=True)
    for flag in ("shuffle", "warm_start", "nesterovs_momentum", "early_stopping"):
        if not isinstance(getattr(est, flag), (bool, np.bool_)):
            raise TypeError(f"{WHERE}: {flag} must be a bool; got {getattr(est, flag)!r}")
    resolve_dtype(est.dtype)
    cw = est.class_weight
    if cw is not None and cw != "balanced" and not isinstance(cw, dict):
        raise ValueError(f"{WHERE}: class_weight must be None, 'balanced' or a dict; got {cw!r}")
    schedule = est.lr_schedule
    if schedule is not None and not (callable(schedule) or hasattr(schedule, "lr_at")):
        raise TypeError(
            f"{WHERE}: lr_schedule must be None, a callable epoch -> learning rate or a "
            f"softgrad.optim schedule with lr_at(epoch); got {schedule!r}"
        )
    for callback in est.callbacks or ():
        if not (callable(callback) or hasattr(callback, "on_epoch_end")):
            raise TypeError(
                f"{WHERE}: callbacks must be callables or objects with on_epoch_end; "
                f"got {callback!r}"
            )


def batch_size_for(batch_size, n_samples: int) -> int:
    """sklearn's rule: "auto" is min(200, n_samples); a number is clipped to [1, n_samples]."""
    if batch_size == "auto":
        return min(200, n_samples)
    return int(np.clip(batch_size, 1, n_samples))
