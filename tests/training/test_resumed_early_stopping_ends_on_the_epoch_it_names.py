"""Early stopping on a resume: switched on at the resume of a run that ran without it, the run
ends on the weights of the epoch it names best (the checkpoint holds no earlier epoch's, so the
resumed epoch is the first judged; they were the last epoch's, 3x away); and a run that stopped
early goes on under a larger patience, as a run started with that patience does (it trained 0
epochs)."""

from __future__ import annotations

import numpy as np
import pytest

from softgrad.nn import CrossEntropyLoss, build_mlp
from softgrad.optim import Adam
from softgrad.training import Callback, fit


def _data():
    rng = np.random.default_rng(2)
    X = rng.normal(size=(120, 6))
    y = (np.abs(X[:, 0] * 2 + X[:, 1]) * 1.3).astype(int) % 3
    return X, y


class _WeightsByEpoch(Callback):
    """Each epoch's weights, after its last step."""

    def __init__(self, model):
        self.model, self.weights = model, {}

    def on_epoch_end(self, state):
        self.weights[state.epoch] = {k: v.copy() for k, v in self.model.named_params().items()}


def _fit(tmp_path, epochs, *, resume=None, checkpoint=None, callbacks=(), **early):
    X, y = _data()
    model = build_mlp(6, [32, 32], 3, rng=1, dtype=np.float64)
    made = [c(model) for c in callbacks]
    history = fit(
        model,
        CrossEntropyLoss(),
        Adam(lr=0.05),
        X,
        y,
        epochs=epochs,
        batch_size=8,
        rng=0,
        validation_fraction=0.3,
        resume=resume,
        checkpoint=checkpoint,
        callbacks=made,
        **early,
    )
    return model, history, made


def _same(a, b):
    return a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)


def test_switched_on_at_its_best_epoch_the_run_is_the_uninterrupted_one(tmp_path):
    model, history, _ = _fit(tmp_path, 40, early_stopping=True, patience=4)
    assert history.stopped_early and history.best_epoch < history.epochs
    ckpt = tmp_path / "ck.npz"
    _fit(tmp_path, history.best_epoch, checkpoint=ckpt)  # without early stopping
    resumed, again, _ = _fit(tmp_path, 40, resume=ckpt, early_stopping=True, patience=4)
    assert (again.best_epoch, again.epochs, again.stop_reason) == (
        history.best_epoch,
        history.epochs,
        "early_stopping",
    )
    assert _same(resumed.named_params(), model.named_params())


def test_switched_on_after_its_best_epoch_the_run_ends_on_the_epoch_it_names(tmp_path):
    _, history, _ = _fit(tmp_path, 40, early_stopping=True, patience=4)
    ckpt = tmp_path / "ck.npz"
    start = history.best_epoch + 2
    first, _, _ = _fit(tmp_path, start, checkpoint=ckpt)
    kept = {start: {k: v.copy() for k, v in first.named_params().items()}}
    resumed, again, (seen,) = _fit(
        tmp_path, 40, resume=ckpt, early_stopping=True, patience=4, callbacks=[_WeightsByEpoch]
    )
    kept.update(seen.weights)
    assert again.stop_reason == "early_stopping"
    assert again.best_epoch >= start  # the epochs before the resume have no weights to restore
    monitored = again.val_loss
    assert monitored[again.best_epoch - 1] == min(monitored[start - 1 :])
    assert _same(resumed.named_params(), kept[again.best_epoch])


@pytest.mark.parametrize("patience", [8, None])
def test_a_run_that_stopped_early_goes_on_under_a_larger_patience(tmp_path, patience):
    ckpt = tmp_path / "ck.npz"
    _, stopped, _ = _fit(tmp_path, 40, checkpoint=ckpt, early_stopping=True, patience=4)
    assert stopped.stopped_early and stopped.epochs < 30
    if patience is None:  # early stopping off now: the run goes on to its epochs
        resumed, again, _ = _fit(tmp_path, 30, resume=ckpt)
        model, history, _ = _fit(tmp_path, 30)
    else:
        resumed, again, _ = _fit(tmp_path, 40, resume=ckpt, early_stopping=True, patience=8)
        model, history, _ = _fit(tmp_path, 40, early_stopping=True, patience=8)
    assert again.epochs > stopped.epochs
    assert (again.epochs, again.best_epoch, again.stop_reason) == (
        history.epochs,
        history.best_epoch,
        history.stop_reason,
    )
    assert again.val_loss == history.val_loss
    assert _same(resumed.named_params(), model.named_params())


def test_a_run_that_stopped_early_stays_stopped_under_its_own_patience(tmp_path):
    ckpt = tmp_path / "ck.npz"
    model, stopped, _ = _fit(tmp_path, 40, checkpoint=ckpt, early_stopping=True, patience=4)
    resumed, again, _ = _fit(tmp_path, 40, resume=ckpt, early_stopping=True, patience=4)
    assert (again.epochs, again.best_epoch, again.stop_reason) == (
        stopped.epochs,
        stopped.best_epoch,
        "early_stopping",
    )
    assert _same(resumed.named_params(), model.named_params())
