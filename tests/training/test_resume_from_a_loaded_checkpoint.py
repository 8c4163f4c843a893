"""fit(resume=...) takes a Checkpoint already read (load_checkpoint's) as it takes its path: the
same run bit for bit, the Checkpoint left as it was, and none of its arrays kept by fit."""

from __future__ import annotations

import gc
import pathlib
import sys
import weakref

import numpy as np
import pytest

from softgrad.nn import CrossEntropyLoss, build_mlp
from softgrad.optim import Adam, ReduceLROnPlateau
from softgrad.training import fit
from softgrad.training.checkpoint import load_checkpoint


def _parts():
    # dropout: its layers share fit's generator; a schedule and a split: their states resume too
    model = build_mlp(5, [16], 3, dropout=0.2, rng=0)
    optimizer = Adam(lr=0.02)
    schedule = ReduceLROnPlateau(optimizer, factor=0.5, patience=0, threshold=0.6)
    return model, CrossEntropyLoss(), optimizer, schedule


OPTIONS = {"batch_size": 32, "rng": 7, "validation_fraction": 0.2}


def _fit(X, y, epochs, **kwargs):
    model, loss, optimizer, schedule = _parts()
    history = fit(
        model, loss, optimizer, X, y, epochs=epochs, lr_schedule=schedule, **OPTIONS, **kwargs
    )
    history = history.to_dict()
    del history["epoch_time"]
    return model.named_params(), history


def _assert_same_run(a, b):
    (params_a, history_a), (params_b, history_b) = a, b
    assert history_a == history_b
    for name, value in params_a.items():
        np.testing.assert_array_equal(value, params_b[name], err_msg=name)


def test_a_loaded_checkpoint_resumes_the_run_its_path_resumes(blobs, tmp_path):
    X, y = blobs
    path = tmp_path / "run.npz"
    _fit(X, y, 2, checkpoint=path)
    from_path = _fit(X, y, 5, resume=path)
    loaded = load_checkpoint(path)
    _assert_same_run(_fit(X, y, 5, resume=loaded), from_path)
    # left as it was: the same object resumes the same run again
    _assert_same_run(_fit(X, y, 5, resume=loaded), from_path)
    assert loaded.history.epochs == 2
    for name, value in load_checkpoint(path).params.items():
        np.testing.assert_array_equal(loaded.params[name], value, err_msg=name)


@pytest.mark.skipif(
    sys.version_info < (3, 11),
    reason="older CPython keeps a call's arguments on its caller's stack",
)
def test_fit_lets_go_of_a_loaded_checkpoint_once_its_state_is_copied_in(blobs, tmp_path):
    X, y = blobs
    path = tmp_path / "run.npz"
    _fit(X, y, 2, checkpoint=path)
    refs = []

    def loaded():
        ckpt = load_checkpoint(path)
        refs.extend(weakref.ref(value) for value in (ckpt, *ckpt.params.values()))
        return ckpt  # the call to fit holds the only reference

    class Alive:
        def on_epoch_begin(self, state):
            gc.collect()
            self.alive = sum(ref() is not None for ref in refs)

    alive = Alive()
    model, loss, optimizer, schedule = _parts()
    # keywords, not **OPTIONS: the dict that unpacks into a call lasts as long as the call
    fit(
        model,
        loss,
        optimizer,
        X,
        y,
        epochs=3,
        batch_size=32,
        rng=7,
        validation_fraction=0.2,
        lr_schedule=schedule,
        callbacks=[alive],
        resume=loaded(),
    )
    assert alive.alive == 0, f"{alive.alive} of the checkpoint and its weights still alive"


@pytest.mark.parametrize("bad", [3, b"run.npz", {"epoch": 2}, True, [pathlib.Path("run.npz")]])
def test_resume_of_another_kind_is_refused_naming_what_it_takes(blobs, bad):
    X, y = blobs
    with pytest.raises(TypeError) as err:
        _fit(X, y, 2, resume=bad)
    message = str(err.value)
    assert message.startswith("fit: resume must be a checkpoint file path"), message
    assert "Checkpoint from training.checkpoint.load_checkpoint" in message, message
    assert f"got {type(bad).__name__}" in message, message
