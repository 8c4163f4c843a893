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


def _fit(tmp_path, epochs, *, resume=None, checkpoint=None, callbacks=(), lr=0.05, **early):
    X, y = _data()
    model = build_mlp(6, [32, 32], 3, rng=1, dtype=np.float64)
    made = [c(model) for c in callbacks]
    history = fit(
        model,
        CrossEntropyLoss(),
        Adam(lr=lr),
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


def test_switched_on_off_and_on_again_the_run_ends_on_the_epoch_it_names(tmp_path):
    # the first run's best weights (epoch 2) went through the run without early stopping in its
    # checkpoints and were restored at the end of the third, which named epoch 5 best
    first, second = tmp_path / "a.npz", tmp_path / "b.npz"
    _fit(tmp_path, 2, checkpoint=first, early_stopping=True, patience=50, lr=1e-3)
    model, history, _ = _fit(tmp_path, 6, resume=first, checkpoint=second, lr=1e-3)
    assert history.best_epoch not in (2, 6)
    kept = {6: {k: v.copy() for k, v in model.named_params().items()}}
    resumed, again, (seen,) = _fit(
        tmp_path,
        7,
        resume=second,
        early_stopping=True,
        patience=50,
        callbacks=[_WeightsByEpoch],
        lr=1e-3,
    )
    kept.update(seen.weights)
    assert again.best_epoch in kept
    assert _same(resumed.named_params(), kept[again.best_epoch])


def test_switched_on_the_run_is_judged_from_the_resumed_epoch_whatever_restore_best(tmp_path):
    # without restore_best, the wait of the run without early stopping carried over and stopped
    # the resumed run after one epoch, where with it the run went on from the resumed epoch
    _, history, _ = _fit(tmp_path, 40, early_stopping=True, patience=4)
    ckpt = tmp_path / "ck.npz"
    _fit(tmp_path, history.best_epoch + 3, checkpoint=ckpt)
    runs = [
        _fit(tmp_path, 40, resume=ckpt, early_stopping=True, patience=3, restore_best=keep)[1]
        for keep in (True, False)
    ]
    assert runs[0].epochs == runs[1].epochs > history.best_epoch + 4
    assert runs[0].best_epoch == runs[1].best_epoch >= history.best_epoch + 3


def test_a_checkpoint_that_does_not_say_whether_early_stopping_was_on_goes_on_as_it_did(tmp_path):
    # written before checkpoints recorded it: a run with early stopping on and restore_best off
    # keeps no weights, and was taken for one without early stopping, re-based at the resume
    # (8 epochs, best 4, where the uninterrupted run stops after 6, best 2)
    from softgrad.serialization import read_npz, write_npz

    early = {"early_stopping": True, "patience": 4, "restore_best": False}
    _, history, _ = _fit(tmp_path, 40, **early)
    ckpt, old = tmp_path / "ck.npz", tmp_path / "old.npz"
    _fit(tmp_path, history.best_epoch + 2, checkpoint=ckpt, **early)
    arrays, meta = read_npz(ckpt, what="checkpoint")
    del meta["stopper"]["enabled"]
    write_npz(old, arrays, meta, kind="checkpoint")
    _, again, _ = _fit(tmp_path, 40, resume=old, **early)
    assert (again.epochs, again.best_epoch) == (history.epochs, history.best_epoch)
