"""The estimator's arguments, declared as scikit-learn declares its own.

``PARAMETER_CONSTRAINTS`` is the estimator's ``_parameter_constraints``: scikit-learn's
``_fit_context`` checks it when ``fit`` / ``partial_fit`` start (not in ``__init__``, so that
``set_params`` and ``clone`` stay plain attribute copies) and raises its
``InvalidParameterError`` (a ValueError and TypeError) with its own messages. The constraints
of the shared arguments are those of ``sklearn.neural_network.MLPClassifier``.
"""

from __future__ import annotations

from numbers import Integral, Real

import numpy as np
from sklearn.utils._param_validation import HasMethods, Interval, Options, StrOptions

from softgrad.training.early_stopping import EarlyStopping


class _Solvers(StrOptions):
    """StrOptions whose message tells where L-BFGS went."""

    def __str__(self) -> str:
        return (
            f"{super().__str__()} (softgrad trains with mini-batches: for 'lbfgs', fit "
            "sklearn.neural_network.MLPClassifier, then bring it here with "
            "MLPClassifier.from_sklearn)"
        )


DTYPES = (np.dtype(np.float32), np.dtype(np.float64))

PARAMETER_CONSTRAINTS = {
    "hidden_layer_sizes": ["array-like", Interval(Integral, 1, None, closed="left")],
    "activation": [StrOptions({"identity", "logistic", "tanh", "relu"})],
    "solver": [_Solvers({"sgd", "adam"})],
    "alpha": [Interval(Real, 0, None, closed="left")],
    "batch_size": [StrOptions({"auto"}), Interval(Integral, 1, None, closed="left")],
    "learning_rate": [StrOptions({"constant", "invscaling", "adaptive"})],
    "learning_rate_init": [Interval(Real, 0, None, closed="neither")],
    "power_t": [Interval(Real, 0, None, closed="left")],
    "max_iter": [Interval(Integral, 1, None, closed="left")],
    "shuffle": ["boolean"],
    "random_state": ["random_state"],
    "tol": [Interval(Real, 0, None, closed="left")],
    "verbose": ["verbose"],
    "warm_start": ["boolean"],
    "momentum": [Interval(Real, 0, 1, closed="both")],
    "nesterovs_momentum": ["boolean"],
    "early_stopping": ["boolean"],
    "validation_fraction": [Interval(Real, 0, 1, closed="left")],
    "beta_1": [Interval(Real, 0, 1, closed="left")],
    "beta_2": [Interval(Real, 0, 1, closed="left")],
    "epsilon": [Interval(Real, 0, None, closed="neither")],
    "n_iter_no_change": [Interval(Real, 1, None, closed="left"), Options(Real, {np.inf})],
    "max_fun": [Interval(Integral, 1, None, closed="left")],  # L-BFGS only: no effect here
    "dtype": [
        Options(type, {np.float32, np.float64}),
        Options(np.dtype, set(DTYPES)),
        StrOptions({"float32", "float64"}),
    ],
    "class_weight": [dict, StrOptions({"balanced"}), None],
    "label_smoothing": [Interval(Real, 0, 1, closed="both")],
    "dropout": [Interval(Real, 0, 1, closed="left")],
    "lr_schedule": [callable, HasMethods(["lr_at"]), None],
    "callbacks": [list, tuple, None],
}


def hidden_sizes(hidden_layer_sizes) -> list[int]:
    """The hidden layer widths as a list of ints > 0 (an int means one hidden layer)."""
    sizes = hidden_layer_sizes
    sizes = list(sizes) if hasattr(sizes, "__iter__") else [sizes]
    if any(isinstance(size, bool) or not isinstance(size, Integral) for size in sizes):
        # int() would truncate 8.5 to 8 and parse "8": sklearn refuses both (a TypeError)
        raise TypeError(
            f"MLPClassifier: hidden_layer_sizes must hold integers; got {hidden_layer_sizes!r}"
        )
    if any(int(size) <= 0 for size in sizes):
        # scikit-learn's own check and message, after the constraints above
        raise ValueError(f"hidden_layer_sizes must be > 0, got {sizes}.")
    return [int(size) for size in sizes]


def check_callbacks(callbacks) -> None:
    """TypeError unless each callback is callable or has a callable ``on_epoch_end``: checked
    when fit starts, not when the first epoch ends and has cost its time."""
    for index, callback in enumerate(callbacks or ()):
        if isinstance(callback, EarlyStopping):
            raise TypeError(
                f"MLPClassifier: callbacks[{index}] must be a callable or an object with an "
                f"on_epoch_end method; got {callback!r}, which is fit's early_stopping rule: "
                "the estimator stops by its own early_stopping, n_iter_no_change and tol"
            )
        if not callable(getattr(callback, "on_epoch_end", callback)):
            raise TypeError(
                f"MLPClassifier: callbacks must hold callables or objects with an "
                f"on_epoch_end method; got {callback!r} at index {index}"
            )


def batch_size_for(batch_size, n_samples: int) -> int:
    """sklearn's rule: "auto" is min(200, n_samples); a number is clipped to [1, n_samples]."""
    if batch_size == "auto":
        return min(200, n_samples)
    return int(np.clip(batch_size, 1, n_samples))


def resolve_dtype(dtype) -> np.dtype:
    """The ``dtype`` argument (already checked by the constraints) as a numpy dtype."""
    return np.dtype(dtype)
