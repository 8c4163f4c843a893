"""fit's resume compares the data's values, not only its shape: a checkpoint records a checksum
of X and y (together.values_checksum, a millisecond), and a resume on other data of the same
shape is refused. A checkpoint written before the checksums were recorded still resumes."""

from __future__ import annotations

import numpy as np
import pytest

from softgrad import nn, optim
from softgrad.training import fit
from softgrad.training.checkpoint import load_checkpoint


def _data(seed):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((64, 4)).astype(np.float32), np.arange(64) % 3


def _run(tmp_path, X, y, epochs, resume=None):
    net = nn.Sequential(nn.Linear(4, 3, rng=0))
    ckpt = tmp_path / "ck.npz"
    fit(
        net,
        nn.CrossEntropyLoss(),
        optim.SGD(lr=0.1),
        X,
        y,
        epochs=epochs,
        batch_size=16,
        rng=0,
        checkpoint=str(ckpt),
        resume=resume,
    )
    return net, ckpt


@pytest.mark.parametrize("changed", ["X", "y"])
def test_other_values_of_the_same_shape_are_refused(tmp_path, changed):
    X, y = _data(0)
    _, ckpt = _run(tmp_path, X, y, 1)
    if changed == "X":
        X = X.copy()
        X[40, 2] += 1.0
    else:
        y = np.roll(y, 1)
    (tmp_path / "again").mkdir()
    with pytest.raises(
        ValueError,
        match=r"^fit: resume must continue a run on the same data; "
        r"got other values of X or y than the checkpoint was written for",
    ):
        _run(tmp_path / "again", X, y, 2, resume=load_checkpoint(ckpt))


def test_the_same_values_in_another_layout_resume(tmp_path):
    X, y = _data(0)
    _, ckpt = _run(tmp_path, X, y, 1)
    (tmp_path / "again").mkdir()
    net, _ = _run(
        tmp_path / "again", np.asfortranarray(X), y.tolist(), 2, resume=load_checkpoint(ckpt)
    )
    assert net.layers[0].params["W"].shape == (4, 3)


def test_a_checkpoint_without_checksums_still_resumes(tmp_path):
    X, y = _data(0)
    _, ckpt = _run(tmp_path, X, y, 1)
    old = load_checkpoint(ckpt)
    del old.data["checksums"]  # as written before they were recorded
    (tmp_path / "again").mkdir()
    _run(tmp_path / "again", _data(1)[0], y, 2, resume=old)  # trusted on its shape, as before


@pytest.mark.parametrize("data", [None, [1, 2]], ids=["None", "a list"])
def test_a_hand_built_checkpoint_of_other_data_is_refused_by_name(tmp_path, data):
    import dataclasses

    X, y = _data(0)
    _, ckpt = _run(tmp_path, X, y, 1)
    (tmp_path / "again").mkdir()
    odd = dataclasses.replace(load_checkpoint(ckpt), data=data)
    with pytest.raises(ValueError, match=r"^fit: resume must continue a run on the same data; "):
        _run(tmp_path / "again", X, y, 2, resume=odd)
