"""Conversion between fitted softgrad and scikit-learn MLPClassifiers, both ways, exact.

Both estimators use the same layout (coefs_[i] of shape (fan_in, fan_out), one logistic output
unit for two classes, softmax otherwise), so conversion copies the weights and the fitted
bookkeeping; predict_proba agrees up to the rounding of the weights' dtype.
"""

from __future__ import annotations

import numpy as np

_SHARED = (
    "hidden_layer_sizes",
    "activation",
    "solver",
    "alpha",
    "batch_size",
    "learning_rate",
    "learning_rate_init",
    "power_t",
    "max_iter",
    "shuffle",
    "random_state",
    "tol",
    "verbose",
    "warm_start",
    "momentum",
    "nesterovs_momentum",
    "early_stopping",
    "validation_fraction",
    "beta_1",
    "beta_2",
    "epsilon",
    "n_iter_no_change",
    "max_fun",
)
_FITTED = ("n_iter_", "t_", "loss_", "best_loss_", "validation_scores_", "best_validation_score_")


def softmax_layers(coefs, intercepts) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """An MLP's weights as lists for a softmax over its outputs: a two-class MLP's one logistic
    output z becomes the logits [0, z], since softmax([0, z]) = [sigmoid(-z), sigmoid(z)] (for
    :func:`to_model` and :func:`softgrad.onnx_export.export_onnx`, which must agree)."""
    coefs, intercepts = [np.asarray(c) for c in coefs], [np.asarray(b) for b in intercepts]
    if coefs[-1].shape[1] == 1:
        coefs[-1] = np.hstack([np.zeros_like(coefs[-1]), coefs[-1]])
        intercepts[-1] = np.concatenate([np.zeros_like(intercepts[-1]), intercepts[-1]])
    return coefs, intercepts


def _check_sklearn_mlp(mlp):
    from sklearn.neural_network import MLPClassifier as SkMLP
    from sklearn.utils.validation import check_is_fitted

    if not isinstance(mlp, SkMLP):
        raise TypeError(
            "from_sklearn: mlp must be a sklearn.neural_network.MLPClassifier; "
            f"got {type(mlp).__name__}"
        )
    check_is_fitted(mlp)
    if mlp.out_activation_ not in ("softmax", "logistic") or (
        mlp.out_activation_ == "logistic" and len(mlp.classes_) != 2
    ):
        raise ValueError(
            "from_sklearn: mlp must be a binary or multiclass classifier; got a multilabel one "
            f"(out_activation_={mlp.out_activation_!r}, classes_={mlp.classes_!r})"
        )


def from_sklearn(cls, mlp, **params):
    """A fitted ``cls`` (softgrad MLPClassifier) holding the weights of sklearn's ``mlp``.

    Hyperparameters are copied ("lbfgs" becomes "adam" for further training); ``params``
    override any. The weights keep their dtype (sklearn trains in float64 on float64 data,
    so predict_proba is then equal to rounding) unless ``dtype`` is given, e.g.
    ``dtype=np.float32`` for softgrad's faster default.
    """
    from softgrad.sklearn._network import build_model

    _check_sklearn_mlp(mlp)
    shared = {name: getattr(mlp, name) for name in _SHARED}
    if shared["solver"] == "lbfgs":
        shared["solver"] = "adam"
    est = cls(**{**shared, "dtype": mlp.coefs_[0].dtype.type, **params})
    dtype = np.dtype(est.dtype)
    pairs = zip(mlp.coefs_, mlp.intercepts_, strict=True)
    est._model = build_model(pairs, est.activation, est.dropout, dtype)
    est.classes_ = np.asarray(mlp.classes_).copy()
    est.n_features_in_ = mlp.n_features_in_
    if hasattr(mlp, "feature_names_in_"):
        est.feature_names_in_ = mlp.feature_names_in_.copy()
    est.n_layers_ = mlp.n_layers_
    est.n_outputs_ = mlp.n_outputs_
    est.out_activation_ = mlp.out_activation_
    for name in _FITTED:
        value = getattr(mlp, name, None)
        setattr(est, name, list(value) if isinstance(value, list) else value)
    est.loss_curve_ = list(getattr(mlp, "loss_curve_", []))
    est.history_ = {
        "loss": list(est.loss_curve_),
        "val_loss": [None] * len(est.loss_curve_),
        "val_score": list(est.validation_scores_ or [None] * len(est.loss_curve_)),
        "learning_rate": [None] * len(est.loss_curve_),
    }
    est._no_improvement_count = 0
    est._best_params = None
    if est.best_loss_ is None and not est.early_stopping:
        est.best_loss_ = min(est.loss_curve_, default=np.inf)
    if est.early_stopping:
        est.validation_scores_ = list(est.validation_scores_ or [])
        if est.best_validation_score_ is None:
            est.best_validation_score_ = -np.inf
    return est


def to_sklearn(est):
    """A fitted sklearn.neural_network.MLPClassifier with the weights of softgrad's ``est``.

    The weights keep the estimator's dtype (float32 by default); sklearn predicts in that dtype
    for float32 input and upcasts for float64 input. softgrad's extras (dtype, class_weight,
    label_smoothing, dropout, lr_schedule, callbacks) have no sklearn counterpart: they shaped
    the weights but are not carried over for further training.
    """
    from sklearn.neural_network import MLPClassifier as SkMLP
    from sklearn.preprocessing import LabelBinarizer
    from sklearn.utils.validation import check_is_fitted

    check_is_fitted(est)
    mlp = SkMLP(**{name: getattr(est, name) for name in _SHARED})
    mlp.coefs_ = [c.copy() for c in est.coefs_]
    mlp.intercepts_ = [b.copy() for b in est.intercepts_]
    mlp.classes_ = est.classes_.copy()
    mlp._label_binarizer = LabelBinarizer().fit(est.classes_)
    mlp.n_features_in_ = est.n_features_in_
    if hasattr(est, "feature_names_in_"):
        mlp.feature_names_in_ = est.feature_names_in_.copy()
    mlp.n_layers_ = est.n_layers_
    mlp.n_outputs_ = est.n_outputs_
    mlp.out_activation_ = est.out_activation_
    for name in _FITTED:
        value = getattr(est, name, None)
        setattr(mlp, name, list(value) if isinstance(value, list) else value)
    mlp.loss_curve_ = list(est.loss_curve_)
    mlp._no_improvement_count = 0
    mlp._best_coefs = [c.copy() for c in mlp.coefs_]
    mlp._best_intercepts = [b.copy() for b in mlp.intercepts_]
    return mlp


def to_model(est):
    """A :class:`softgrad.model.Model` (Linear and activation layers) with the same weights.

    The model predicts what the estimator predicts; it can be saved with ``Model.save`` and used
    by the ``softgrad`` command line. A two-class estimator (one logistic output z) becomes a
    network with the logits [0, z]: softmax([0, z]) = [sigmoid(-z), sigmoid(z)]. It has no
    scaler: the estimator takes its features as they are, and a float64 estimator's model
    reads them in float64 (an identity Scaler would round them to float32 first).
    """
    from sklearn.utils.validation import check_is_fitted

    from softgrad.model import Model
    from softgrad.sklearn._network import build_model

    check_is_fitted(est)
    coefs, intercepts = softmax_layers(est.coefs_, est.intercepts_)
    network = build_model(zip(coefs, intercepts, strict=True), est.activation, 0.0, coefs[0].dtype)
    metadata = {"source": "softgrad.sklearn.MLPClassifier", "n_iter": int(est.n_iter_)}
    return Model(network, est.classes_, None, metadata=metadata)
