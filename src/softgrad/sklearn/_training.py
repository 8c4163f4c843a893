"""How the estimator trains: scikit-learn's arguments translated into a loss, an optimizer and
fit policies, then one call of :func:`softgrad.training.fit` on the estimator's network
(:mod:`softgrad.sklearn._network`).

Nothing here computes a forward or backward pass, an update or an epoch: the updates are
``optim.SGD(lr_in_velocity=True)`` / ``optim.Adam(fold_bias_correction=True)`` (sklearn's
rules), the L2 term is fit's ``l2_penalty``, the batch order fit's ``ReshuffleEachEpoch`` policy
on sklearn's RandomState, the stopping rule ``NoImprovementStopping`` and the verbose lines
``SklearnVerbose`` (:mod:`softgrad.sklearn._verbose`).
"""

from __future__ import annotations

import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning

from softgrad.checks import check_fits_dtype, check_number, check_stays_positive
from softgrad.errors import DivergenceError
from softgrad.nn import CrossEntropyLoss, Dropout, LogisticLoss
from softgrad.optim import SGD, Adam, InvScalingLR
from softgrad.sklearn._network import glorot_model
from softgrad.sklearn._verbose import SklearnVerbose
from softgrad.training import fit
from softgrad.training.batch_order import ReshuffleEachEpoch
from softgrad.training.callbacks import BatchSizeMeanLoss, Callback
from softgrad.training.early_stopping import NoImprovementStopping


def _empty_history() -> dict[str, list]:
    return {"loss": [], "val_loss": [], "val_score": [], "learning_rate": []}


def initialize(est, n_features: int, hidden, dtype, random_state) -> None:
    """A fresh network with sklearn's initial weights, and sklearn's fitted bookkeeping."""
    n_out = 1 if len(est.classes_) == 2 else len(est.classes_)
    units = [n_features, *hidden, n_out]
    est._model = glorot_model(units, est.activation, est.dropout, dtype, random_state)
    est.n_layers_ = len(hidden) + 2
    est.n_outputs_ = n_out
    est.out_activation_ = "logistic" if n_out == 1 else "softmax"
    est.n_iter_ = 0
    est.t_ = 0
    est.loss_curve_ = []
    est.history_ = _empty_history()
    est._no_improvement_count = 0
    est._best_params = None
    if est.early_stopping:
        est.validation_scores_ = []
        est.best_validation_score_ = -np.inf
        est.best_loss_ = None
    else:
        est.best_loss_ = np.inf
        est.validation_scores_ = None
        est.best_validation_score_ = None


def make_optimizer(est):
    """sklearn's solver as a softgrad optimizer with sklearn's update rule."""
    if est.solver == "sgd":
        # with momentum 0 Nesterov's step equals the plain one (and torch's check refuses it)
        nesterov = bool(est.nesterovs_momentum) and est.momentum > 0
        return SGD(
            lr=est.learning_rate_init,
            momentum=est.momentum,
            nesterov=nesterov,
            lr_in_velocity=True,
        )
    return Adam(
        lr=est.learning_rate_init,
        betas=(est.beta_1, est.beta_2),
        eps=est.epsilon,
        fold_bias_correction=True,
    )


# the learning-rate settings sklearn's optimizer keeps from its creation: partial_fit calls after
# the first train on the first call's, whatever set_params changed in between (fit makes a new
# optimizer, with the settings of the time)
LR_SETTINGS = ("learning_rate", "learning_rate_init", "power_t")


def lr_settings(est) -> dict:
    """The estimator's learning-rate settings, as its optimizer is made with them."""
    return {name: getattr(est, name) for name in LR_SETTINGS}


def _lr_setting(est, name: str):
    """A learning-rate setting as the optimizer was made with it (the estimator's own for one
    pickled before the settings were kept)."""
    return vars(est).get("_lr_settings", {}).get(name, getattr(est, name))


def check_dtype_range(est, dtype) -> None:
    """ValueError naming the estimator's own parameter when it overflows the training dtype,
    or Adam's epsilon rounds to 0 there (the optimizer and fit would name their lr, eps,
    l2_penalty, which the user never set, and only once training had begun)."""
    names = ["learning_rate_init", "alpha"] + (["epsilon"] if est.solver == "adam" else [])
    for name in names:
        value = float(getattr(est, name))
        check_fits_dtype(value, dtype, "MLPClassifier", name, " (or dtype=np.float64)")
    if est.solver == "adam":
        harm = "a weight whose gradient is 0 would become NaN, 0 / 0"
        fix = ", or dtype=np.float64"
        check_stays_positive(float(est.epsilon), dtype, "MLPClassifier", "epsilon", harm, fix)


def check_first_rate(est) -> None:
    """The ``lr_schedule``'s rate for the call's first epoch, refused before anything trains:
    refused only when that epoch began (by the optimizer's lr), a fit had set its network up
    anew and kept it, untrained, and a warm start had lost its optimizer's state."""
    schedule = est.lr_schedule
    if schedule is None:
        return
    epoch = len(est.loss_curve_)
    rate = getattr(schedule, "lr_at", schedule)(epoch)
    check_number(rate, "MLPClassifier", f"lr_schedule({epoch}), the learning rate", 0.0)


class _Record(Callback):
    """Writes each epoch into the estimator's sklearn attributes and calls its callbacks of
    the logs-dict kind (those of fit's kind are fit's own: :func:`_policies`)."""

    def __init__(
        self, est, stopping, loss_key: str, n_samples: int, batch_size: int, logs_callbacks
    ) -> None:
        self.est, self.stopping, self.loss_key = est, stopping, loss_key
        self.n_samples, self.batch_size = n_samples, batch_size
        self.logs_callbacks = logs_callbacks  # each called with the epoch's logs dict

    def on_epoch_begin(self, state) -> None:
        schedule = self.est.lr_schedule
        if schedule is not None:
            lr_at = getattr(schedule, "lr_at", schedule)
            state.optimizer.lr = float(lr_at(len(self.est.loss_curve_)))

    def on_epoch_end(self, state) -> bool:
        est, logs = self.est, state.logs
        # NumPy floats, as scikit-learn's are (clf.loss_.item() is scikit-learn users' code)
        est.loss_ = np.float64(logs[self.loss_key])
        est.loss_curve_.append(est.loss_)
        est.n_iter_ += 1
        # the samples this epoch trained on: fewer where a callback's on_batch_end stopped it
        est.t_ += min(state.batch * self.batch_size, self.n_samples)
        est._no_improvement_count = self.stopping.no_improvement_count
        if self.stopping.mode == "max":
            est.validation_scores_.append(logs["val_acc"])
            est.best_validation_score_ = self.stopping.best
        else:
            est.best_loss_ = np.float64(self.stopping.best)
        entry = {
            "epoch": len(est.loss_curve_),
            "loss": logs[self.loss_key],
            "val_loss": logs["val_loss"],
            "val_score": logs["val_acc"],
            "learning_rate": logs["lr"],
        }
        for key in ("loss", "val_loss", "val_score", "learning_rate"):
            est.history_[key].append(entry[key])
        stop = False
        for callback in self.logs_callbacks:
            hook = getattr(callback, "on_epoch_end", callback)
            stop = bool(hook({**entry, "estimator": est})) or stop
        return stop


def _follow_monitor(est) -> None:
    """Restart the stopping rule's bookkeeping when ``early_stopping`` was switched between warm
    starts: the validation score and the training loss are not comparable, so neither their
    best value nor the epochs without improvement carry over (sklearn's MLP fails there:
    appending to validation_scores_ None, or subtracting tol from best_loss_ None)."""
    if est.early_stopping and est.validation_scores_ is None:
        est.validation_scores_ = []
        est.best_validation_score_ = -np.inf
    elif not est.early_stopping and est.best_loss_ is None:
        est.best_loss_ = np.inf
    else:
        return
    est._no_improvement_count = 0
    est._best_params = None


def _policies(est, weighted: bool, n_samples: int, batch_size: int):
    """The callbacks of one fit call: sklearn's loss average, stopping rule, verbose, record,
    then the user's callbacks of fit's kind (:class:`~softgrad.training.Callback` objects),
    which see the estimator's attributes of the epoch already written."""
    early = est.early_stopping
    loss_key = "batch_size_mean_loss" if weighted else "train_loss"
    stopping = NoImprovementStopping(
        est.tol,
        est.n_iter_no_change,
        monitor="val_acc" if early else loss_key,
        mode="max" if early else "min",
        adaptive_lr=est.solver == "sgd" and _lr_setting(est, "learning_rate") == "adaptive",
        best=est.best_validation_score_ if early else est.best_loss_,
        no_improvement_count=est._no_improvement_count,
        best_params=getattr(est, "_best_params", None),
    )
    callbacks: list[Callback | NoImprovementStopping] = [BatchSizeMeanLoss()] if weighted else []
    callbacks.append(stopping)
    if est.verbose:
        callbacks.append(SklearnVerbose(loss_key, stopping))
    # the user's: fit's kind to fit (the TrainState), the others to _Record (a logs dict)
    theirs = list(est.callbacks or ())
    fits_kind = [cb for cb in theirs if isinstance(cb, Callback)]
    logs_kind = [cb for cb in theirs if not isinstance(cb, Callback)]
    callbacks.append(_Record(est, stopping, loss_key, n_samples, batch_size, logs_kind))
    callbacks.extend(fits_kind)
    return stopping, callbacks


def _loss(est, dtype):
    """One logistic output for two classes (sklearn's layout), else softmax cross-entropy;
    each sample's loss reported as at most -log(eps) of ``dtype``, the dtype scikit-learn
    would train in on the caller's X (:func:`sklearn_dtype`), as its log_loss clips
    probabilities to [eps, 1 - eps] (the gradient is not clipped there either): its
    loss_curve_, and the tol rule reading it, where outputs saturate."""
    cap = -np.log(np.finfo(dtype).eps)
    if len(est.classes_) == 2:
        return LogisticLoss(label_smoothing=est.label_smoothing, max_sample_loss=cap)
    return CrossEntropyLoss(label_smoothing=est.label_smoothing, max_sample_loss=cap)


def _invscaling(est, n_samples: int):
    """sklearn's "invscaling": lr = lr_init / (t_ + 1) ** power_t after each epoch, or None."""
    invscaling = _lr_setting(est, "learning_rate") == "invscaling"
    if est.solver != "sgd" or not invscaling or est.lr_schedule is not None:
        return None
    power_t = _lr_setting(est, "power_t")
    schedule = InvScalingLR(est._optimizer, power_t=power_t, samples_per_epoch=n_samples)
    # the schedule takes the optimizer's current lr as its base; after an earlier partial_fit
    # that rate is already decayed, and decaying it again would compound the decay call after
    # call. sklearn's base is always learning_rate_init, with t the samples seen so far.
    schedule.base_lr = float(_lr_setting(est, "learning_rate_init"))
    schedule.t = est.t_  # samples seen by earlier fits (warm start, partial_fit)
    return schedule


def sklearn_dtype(X) -> type:
    """The dtype scikit-learn's MLPClassifier trains in on ``X`` as the caller gave it:
    float32 data stays float32, anything else becomes float64 (softgrad's estimator trains in
    its own ``dtype``, float32 by default, whatever X holds)."""
    dtypes = [getattr(X, "dtype", None)]
    if dtypes[0] is None and hasattr(X, "dtypes"):  # a pandas DataFrame
        dtypes = list(X.dtypes)
    return np.float32 if dtypes and all(d == np.float32 for d in dtypes) else np.float64


def train(
    est, train_set, val, random_state, batch_size: int, incremental: bool, loss_dtype
) -> None:
    """Run softgrad.training.fit on ``est._model`` with sklearn's rules (see module docstring);
    ``loss_dtype``: the dtype whose eps caps each sample's reported loss (:func:`_loss`)."""
    X, y_idx, w = train_set
    if est.dropout > 0:  # one generator for every Dropout layer, drawn after weights and split
        generator = np.random.default_rng(random_state.randint(np.iinfo(np.int32).max))
        for layer in est._model.layers:
            if isinstance(layer, Dropout):
                layer.rng = generator
    _follow_monitor(est)
    stopping, callbacks = _policies(est, w is not None, X.shape[0], batch_size)
    est.n_iter_ = 0
    if not hasattr(est, "history_"):  # weights and bookkeeping set by hand (sklearn's tests)
        est.history_ = _empty_history()
    history = None
    try:
        history = fit(
            est._model,
            _loss(est, loss_dtype),
            est._optimizer,
            X,
            y_idx,
            # int(): max_iter=True is an Integral to sklearn (one epoch), not to fit
            epochs=1 if incremental else int(est.max_iter),
            batch_size=batch_size,
            rng=0,  # unused: the batch order draws from random_state, there is no split
            shuffle=ReshuffleEachEpoch(random_state) if est.shuffle else False,
            validation_data=val,
            lr_schedule=_invscaling(est, X.shape[0]),
            callbacks=callbacks,
            sample_weight=w,
            l2_penalty=est.alpha,
            check_finite=False,  # validate_data checked X
        )
    except KeyboardInterrupt:
        # sklearn's rule: Ctrl-C ends training, not the program. fit's on_train_end hooks have
        # run, so under early stopping NoImprovementStopping has put the best weights back.
        # A UserWarning, as scikit-learn's: a filter on ConvergenceWarning hid it, not theirs.
        warnings.warn("Training interrupted by user.", UserWarning, stacklevel=5)
    except DivergenceError as err:
        # the rule that fired: a NaN/inf loss, or softgrad's finite rule (an exploding loss,
        # which scikit-learn's MLP does not check: the stack applies it to every fit)
        reason = err.reason or "the training loss must be finite"
        raise DivergenceError(
            f"MLPClassifier: training diverged in epoch {err.epoch}, batch {err.batch}: "
            f"{reason} (softgrad's divergence rule; lower learning_rate_init, now "
            f"{est.learning_rate_init!r}, or scale the inputs)",
            epoch=err.epoch,
            batch=err.batch,
            reason=err.reason,
        ) from err
    finally:
        # the forward caches hold the last batch's rows: kept, they would stay in a worker's
        # memory (pickles leave them out: nn.layer) until the next call fills them anew
        est._model._clear_cache()
    est._best_params = stopping.best_params
    if history is None:  # interrupted: warned above
        return
    if not incremental and history.stop_reason is None and est.n_iter_ == est.max_iter:
        warnings.warn(
            f"Stochastic Optimizer: Maximum iterations ({est.max_iter}) reached and the "
            "optimization hasn't converged yet.",
            ConvergenceWarning,
            stacklevel=5,  # train, _fit, fit, _fit_context, the caller
        )
