"""At one sample a mistake of the batch axis is no mistake, and a backward that is the exact
gradient of the recognised function, while forward computes something slightly else (the
textbook's log(y + 1e-7)), is told so rather than named as a 1/N mistake."""

from __future__ import annotations

import numpy as np
import pytest

from softgrad.gradcheck import gradcheck


@pytest.mark.parametrize("name", ["SoftmaxWithLoss", "SoftmaxWithLossNoMean"])
@pytest.mark.parametrize("seed", [1, 2])
def test_the_textbook_loss_at_one_sample_of_many_classes_blames_its_forward(gallery, name, seed):
    # p ~ 1e-3 a class: the 1e-7 inside the log moves the target's gradient by ~2e-4, past the
    # check's tolerance; backward is softmax - onehot, exact for the loss without it (N = 1)
    rng = np.random.default_rng(seed)
    x, t = rng.standard_normal((1, 1000)), rng.integers(0, 1000, size=(1,))
    result = gradcheck(gallery("loss_nodes", name), x, target=t, rng=rng)
    assert not result.ok
    assert result.mistakes == (), result.diagnosis  # not "missing its 1/N" at N = 1
    assert result.diagnosis.startswith(
        "x: backward computes the exact gradient of softmax + cross-entropy, but forward does "
        "not compute exactly softmax + cross-entropy"
    ), result.diagnosis
    assert "log(y + 1e-7)" in result.diagnosis


@pytest.mark.parametrize("name", ["SoftmaxCrossEntropyNoMean", "SoftmaxCrossEntropyMeanTwice"])
def test_a_mean_mistake_at_one_sample_passes_and_at_two_is_named(gallery, name, rng):
    x = rng.standard_normal((1, 10))
    assert gradcheck(gallery("loss_nodes", name), x, target=np.array([3]), rng=rng).ok
    x = rng.standard_normal((2, 10))
    result = gradcheck(gallery("loss_nodes", name), x, target=np.array([3, 7]), rng=rng)
    assert not result.ok and len(result.mistakes) == 1


def test_mistakes_alike_at_one_sample_are_listed_with_how_to_tell_them_apart(gallery, rng):
    result = gradcheck(gallery("softmax_nodes", "SoftmaxDiagonal"), rng.standard_normal((1, 10)))
    assert result.mistakes == ("softmax_diagonal", "wrong_axis")
    assert "they agree at one sample: check at an x of several rows" in result.diagnosis
    result = gradcheck(gallery("softmax_nodes", "SoftmaxDiagonal"), rng.standard_normal((3, 10)))
    assert result.mistakes == ("softmax_diagonal",)
