"""predict and evaluate keep what they print, not the logits of every row: predict held N * C
logits and a copy joining its input files (2.5 GB for 300,000 rows of 1,000 classes, to print
one class a row), evaluate the logits and a scratch array of the same size (2.5 GB for a C x C
matrix). Both now reduce each batch as it comes: the classes ranked, or a row's class and loss.
"""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest

import softgrad
from softgrad.model import Model
from softgrad.nn import build_mlp

# float32 logits of every row: 120 MB, in 30 batches of 1,024 rows; one batch's logits, its
# probabilities and their ranking take a few of those batches' 4 MB at a time
N_ROWS, N_CLASSES = 30_000, 1_000


@pytest.fixture
def many_classes(tmp_path, rng):
    model = Model(build_mlp(8, [16], N_CLASSES, rng=0), np.arange(N_CLASSES))
    softgrad.save(model, tmp_path / "m.npz")
    X = rng.normal(size=(N_ROWS, 8)).astype(np.float32)  # 1 MB
    np.save(tmp_path / "x.npy", X)
    np.savez(tmp_path / "xy.npz", X=X, y=np.arange(N_ROWS) % N_CLASSES)
    return tmp_path


def _peak(cli, *argv):
    """The command's result and the peak of what it allocated, on its second run: the first
    compiles (or loads) the kernels it uses, which allocates too."""
    cli(*argv)
    tracemalloc.start()
    try:
        result = cli(*argv)
        return result, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize(("files", "top"), [(1, "3"), (2, "1")])
def test_predict_holds_the_top_classes_not_the_logits(cli, many_classes, files, top):
    inputs = [many_classes / "x.npy"] * files
    result, peak = _peak(cli, "predict", "--model", many_classes / "m.npz", "--top", top, *inputs)
    assert result.code == 0, result.err
    assert len(result.out.splitlines()) == N_ROWS * files
    logits = N_ROWS * files * N_CLASSES * 4
    assert peak < logits / 3, f"peak {peak / 2**20:.1f} MiB, the logits {logits / 2**20:.0f} MiB"


def test_evaluate_holds_a_class_and_a_loss_a_row_not_the_logits(cli, many_classes):
    argv = ["evaluate", "--model", many_classes / "m.npz", "--data", many_classes / "xy.npz"]
    result, peak = _peak(cli, *argv, "--split", "all")
    assert result.code == 0, result.err
    assert f"all samples ({N_ROWS} samples)" in result.out.splitlines()[0], result.out[:300]
    logits = N_ROWS * N_CLASSES * 4
    assert peak < logits / 3, f"peak {peak / 2**20:.1f} MiB, the logits {logits / 2**20:.0f} MiB"
