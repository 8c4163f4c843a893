"""A checkpoint writes the optimizer's state arrays themselves: Adam's state_dict() copied both
moments at every checkpoint (two copies of the weights' bytes at the peak), though the writer
writes them at once. state_dict() itself still returns copies."""

from __future__ import annotations

import numpy as np
import pytest

from softgrad.nn import CrossEntropyLoss, build_mlp
from softgrad.optim import Adam
from softgrad.training import fit
from softgrad.training.checkpoint import load_checkpoint


@pytest.mark.parametrize("packed", [True, False], ids=["store", "dicts"])
def test_state_dict_copies_unless_told_not_to(packed):
    net = build_mlp(3, [4], 2, rng=0)
    params, grads = net.named_params(), net.named_grads()
    if not packed:
        params, grads = dict(params), dict(grads)
    grads["0.W"][...] = 1.0
    opt = Adam(lr=0.1)
    opt.step(params, grads)
    copied, live = opt.state_dict(), opt.state_dict(copy=False)
    before = copied["m.0.W"].copy()
    opt.step(params, grads)
    np.testing.assert_array_equal(copied["m.0.W"], before)  # a copy: left as it was
    assert not np.array_equal(live["m.0.W"], before)  # the optimizer's own: moved on
    np.testing.assert_array_equal(live["m.0.W"], opt.state_dict()["m.0.W"])


def test_a_checkpoint_adds_no_copy_of_the_optimizer_state(tmp_path, traced_peak):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((64, 784)).astype(np.float32)
    y = rng.integers(0, 10, 64)
    model = build_mlp(784, [1024, 1024], 10, rng=0)
    opt = Adam()

    def train(**kwargs):
        return fit(model, CrossEntropyLoss(), opt, X, y, epochs=1, batch_size=64, rng=0, **kwargs)

    train()  # the moments exist from here on
    _, without = traced_peak(train)
    _, with_checkpoint = traced_peak(lambda: train(checkpoint=tmp_path / "run.npz"))
    size = model.named_params().flat.nbytes  # 7.3 MB; Adam's m and v as much each
    extra = with_checkpoint - without
    assert extra <= 0.5 * size, f"a checkpoint added {extra / size:.2f}x the weights' bytes"
    saved = load_checkpoint(tmp_path / "run.npz").optimizer
    for key, value in opt.state_dict().items():  # and it holds the state as it was
        if isinstance(value, np.ndarray):
            np.testing.assert_array_equal(saved[key], value, err_msg=key)
