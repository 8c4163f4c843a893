"""The estimator's epoch loop: sklearn's mini-batch SGD/Adam with its stopping rules, plus extras.

Rules kept from sklearn's MLP: loss_curve_ holds the mean per-sample objective of each epoch
(L2 term included); without early stopping an epoch that does not lower the best loss by tol
counts as no improvement, with early stopping one that does not raise the best validation
accuracy by tol does; after more than n_iter_no_change such epochs training stops (or, with
learning_rate="adaptive" and sgd, the learning rate is divided by 5); hitting max_iter warns
with ConvergenceWarning; early stopping restores the best weights.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
from scipy import sparse
from scipy.special import logsumexp
from sklearn.exceptions import ConvergenceWarning

from softgrad.errors import DivergenceError


def epoch_loss(est, net, solver, X, T, w, order, dropout_rng, batch_size, epoch):
    """One pass over (X, T) in mini-batches (rows in ``order``, or as stored when None).

    Returns the sample-weighted mean batch loss.
    """
    n = X.shape[0]
    dense = not sparse.issparse(X)
    x_buf = np.empty((batch_size, X.shape[1]), dtype=X.dtype) if est.shuffle and dense else None
    t_buf = np.empty((batch_size, T.shape[1]), dtype=T.dtype) if est.shuffle else None
    accumulated = 0.0
    for batch, start in enumerate(range(0, n, batch_size), start=1):
        stop = min(start + batch_size, n)
        if est.shuffle:
            idx = order[start:stop]
            if dense:
                xb = X.take(idx, axis=0, out=x_buf[: stop - start], mode="clip")
            else:
                xb = X[idx]
            tb = T.take(idx, axis=0, out=t_buf[: stop - start], mode="clip")
            wb = None if w is None else w[idx]
        else:
            xb, tb = X[start:stop], T[start:stop]
            wb = None if w is None else w[start:stop]
        loss = net.loss_and_grad(xb, tb, wb, est.alpha, est.dropout, dropout_rng, batch_size)
        if not math.isfinite(loss):
            raise DivergenceError(
                f"MLPClassifier: the training loss must stay finite; got {loss!r} in epoch "
                f"{epoch}, batch {batch} (lower learning_rate_init, now "
                f"{est.learning_rate_init!r}, or scale the inputs)",
                epoch=epoch,
                batch=batch,
            )
        solver.step(net.flat, net.grad)
        accumulated += loss * (stop - start)
    return accumulated / n


def validation_metrics(net, X, y_idx, w):
    """(cross-entropy, accuracy) of the network on a held-out set, sample-weighted."""
    z = net.logits(X).astype(np.float64)
    if z.shape[1] == 1:
        z = np.hstack([np.zeros_like(z), z])  # logistic output == softmax over logits [0, z]
    picked = z[np.arange(len(y_idx)), y_idx]
    losses = logsumexp(z, axis=1) - picked
    correct = np.argmax(z, axis=1) == y_idx
    return float(np.average(losses, weights=w)), float(np.average(correct, weights=w))


def update_no_improvement(est, val_score):
    """sklearn's improvement bookkeeping (see the module docstring)."""
    if val_score is not None:
        est.validation_scores_.append(val_score)
        if val_score < est.best_validation_score_ + est.tol:
            est._no_improvement_count += 1
        else:
            est._no_improvement_count = 0
        if val_score > est.best_validation_score_:
            est.best_validation_score_ = val_score
            est._best_flat = est._network.flat.copy()
        return
    if est.loss_curve_[-1] > est.best_loss_ - est.tol:
        est._no_improvement_count += 1
    else:
        est._no_improvement_count = 0
    if est.loss_curve_[-1] < est.best_loss_:
        est.best_loss_ = est.loss_curve_[-1]


def _run_callbacks(est, logs) -> bool:
    stop = False
    for callback in est.callbacks or ():
        hook = getattr(callback, "on_epoch_end", callback)
        stop = bool(hook(logs)) or stop
    return stop


def run_epochs(est, train, val, early_stopping, random_state, batch_size, incremental):
    """Train ``est._network`` with ``est._solver`` until a stopping rule fires.

    train = (X, T, w); val = (X_val, y_idx_val, w_val) or None. ``random_state`` (a
    np.random.RandomState) shuffles exactly as sklearn's MLP does, so the same random_state
    visits the samples in the same order.
    """
    net, solver = est._network, est._solver
    est.n_iter_ = 0
    # overflow is caught by the finite-loss check (DivergenceError), not by numpy warnings
    with np.errstate(over="ignore", invalid="ignore"):
        _epochs(est, net, solver, train, val, early_stopping, random_state, batch_size, incremental)
    if early_stopping:
        net.flat[...] = est._best_flat


def _epochs(est, net, solver, train, val, early_stopping, random_state, batch_size, incremental):
    X, T, w = train
    order = np.arange(X.shape[0])
    dropout_rng = None
    if est.dropout > 0:
        dropout_rng = np.random.default_rng(random_state.randint(np.iinfo(np.int32).max))
    for _ in range(est.max_iter):
        if est.shuffle:  # sklearn's order: each epoch permutes the previous epoch's order
            permutation = np.arange(X.shape[0])
            random_state.shuffle(permutation)
            order = order[permutation]
        epoch = len(est.loss_curve_)
        if est.lr_schedule is not None:
            lr_at = getattr(est.lr_schedule, "lr_at", est.lr_schedule)
            solver.lr = float(lr_at(epoch))
        lr = solver.lr
        est.loss_ = epoch_loss(
            est,
            net,
            solver,
            X,
            T,
            w,
            order if est.shuffle else None,
            dropout_rng,
            batch_size,
            epoch + 1,
        )
        est.n_iter_ += 1
        est.t_ += X.shape[0]
        est.loss_curve_.append(est.loss_)
        logs = _record_epoch(est, net, val, early_stopping, lr)
        solver.iteration_ends(est.t_)
        if _run_callbacks(est, logs) or _plateau_stops(est, solver, early_stopping):
            break
        if incremental:
            break
        if est.n_iter_ == est.max_iter:
            warnings.warn(
                f"Stochastic Optimizer: Maximum iterations ({est.max_iter}) reached and the "
                "optimization hasn't converged yet.",
                ConvergenceWarning,
                stacklevel=5,
            )


def _record_epoch(est, net, val, early_stopping, lr) -> dict:
    """Verbose lines, history_, sklearn's improvement bookkeeping; returns the callbacks' logs."""
    if est.verbose:
        print(f"Iteration {est.n_iter_}, loss = {est.loss_:.8f}")
    val_loss = val_score = None
    if val is not None:
        val_loss, val_score = validation_metrics(net, *val)
    logs = {
        "epoch": len(est.loss_curve_),
        "loss": est.loss_,
        "val_loss": val_loss,
        "val_score": val_score,
        "learning_rate": lr,
    }
    for key in ("loss", "val_loss", "val_score", "learning_rate"):
        est.history_[key].append(logs[key])
    if early_stopping and est.verbose:
        print(f"Validation score: {val_score:f}")
    update_no_improvement(est, val_score if early_stopping else None)
    return {**logs, "estimator": est}


def _plateau_stops(est, solver, early_stopping) -> bool:
    """After more than n_iter_no_change epochs without improvement: stop, or lower the lr."""
    if est._no_improvement_count <= est.n_iter_no_change:
        return False
    what = "Validation score" if early_stopping else "Training loss"
    msg = (
        f"{what} did not improve more than tol={est.tol:f} for "
        f"{est.n_iter_no_change} consecutive epochs."
    )
    stop, tail = solver.trigger_stopping()
    if est.verbose:
        print(msg + tail)
    if not stop:
        est._no_improvement_count = 0
    return stop
