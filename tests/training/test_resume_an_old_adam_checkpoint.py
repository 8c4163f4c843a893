"""A checkpoint written before Adam kept torch's moments (its optimizer state without
"state_version", the moments without their (1 - beta) factors) resumes the run it saved: the
same steps, to the rounding of converting the moments."""

from __future__ import annotations

import dataclasses

import numpy as np

from softgrad.nn import CrossEntropyLoss, build_mlp
from softgrad.optim import Adam
from softgrad.training import fit
from softgrad.training.checkpoint import load_checkpoint, save_checkpoint

BETAS = (0.85, 0.995)
LR = 0.02


def _fit(X, y, epochs, **kwargs):
    model = build_mlp(5, [16], 3, rng=0, dtype=np.float64)
    optimizer = Adam(lr=LR, betas=BETAS)
    fit(model, CrossEntropyLoss(), optimizer, X, y, epochs=epochs, batch_size=32, rng=3, **kwargs)
    return model.named_params()


def _old_layout(state):
    """The optimizer state as softgrad wrote it before "state_version"."""
    old = {key: value for key, value in state.items() if key != "state_version"}
    for key, value in state.items():
        if key.startswith("m."):
            old[key] = value / (1 - BETAS[0])
        elif key.startswith("v."):
            old[key] = value / (1 - BETAS[1])
    return old


def test_an_old_adam_checkpoint_resumes_the_same_run(blobs, tmp_path):
    X, y = blobs
    path, old_path = tmp_path / "run.npz", tmp_path / "old.npz"
    _fit(X, y, 2, checkpoint=path)
    ckpt = load_checkpoint(path)
    assert ckpt.optimizer["state_version"] == 2
    save_checkpoint(old_path, dataclasses.replace(ckpt, optimizer=_old_layout(ckpt.optimizer)))
    resumed = _fit(X, y, 4, resume=path)
    from_old = _fit(X, y, 4, resume=old_path)
    # 2 epochs of ceil(300 / 32) steps, each moving a weight by at most lr / (1 - beta1): the
    # converted moments differ by a rounding or two, and each step rounds a handful of times
    n_steps = 2 * -(-len(X) // 32)
    eps = float(np.finfo(np.float64).eps)
    for name, value in resumed.items():
        atol = 16 * n_steps * eps * (LR / (1 - BETAS[0]) + float(np.max(np.abs(value))))
        np.testing.assert_allclose(from_old[name], value, rtol=0, atol=atol, err_msg=name)
    assert not np.array_equal(resumed["0.W"], _fit(X, y, 2)["0.W"])  # the resumed epochs ran
