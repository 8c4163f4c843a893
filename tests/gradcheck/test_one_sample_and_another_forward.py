"""At one sample a mistake of the batch axis is no mistake, and a backward that is the exact
gradient of the recognised function, while forward computes something slightly else (the
textbook's log(y + 1e-7)), is told so rather than named as a 1/N mistake."""

from __future__ import annotations

from pathlib import Path

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


PAGE = Path(__file__).resolve().parents[2] / "docs" / "check-your-backward.md"


@pytest.mark.parametrize(
    ("module", "name", "keys"),
    [
        ("softmax_nodes", "SoftmaxDiagonal", ("softmax_diagonal", "wrong_axis")),
        ("softmax_nodes", "SoftmaxSumOverBatch", ("softmax_diagonal", "wrong_axis")),
        ("log_softmax_nodes", "LogSoftmaxDiagonal", ("log_softmax_diagonal", "wrong_axis")),
        ("log_softmax_nodes", "LogSoftmaxSumOverBatch", ("log_softmax_diagonal", "wrong_axis")),
    ],
)
def test_the_page_says_what_one_sample_names(module, name, keys, gallery, rng):
    # the diagonal-only Jacobian and the sum over the batch axis agree at N = 1, and each is a
    # real mistake there: naming only one would misname the other
    result = gradcheck(gallery(module, name), rng.standard_normal((1, 10)), rng=rng)
    assert result.mistakes == keys, str(result)
    page = " ".join(PAGE.read_text(encoding="utf-8").split())
    assert "a (1, 10) x gives `('softmax_diagonal', 'wrong_axis')` for either" in page
    assert "no mistake of the batch axis is named at one sample" not in page


def _factor_keys(analytic, numeric):
    from softgrad.gradcheck.mistakes import Evidence, matching_mistakes

    x = np.zeros_like(numeric)
    ev = Evidence("x", analytic, numeric, x, np.ones_like(numeric))
    return [mistake.key for mistake, _ in matching_mistakes(ev)]


@pytest.mark.parametrize(
    "numeric",
    [np.array([[0.8626, -0.8626]]), np.array([[0.3, -0.3, 1e-12]]), np.array([[0.5, 0.0, -0.5]])],
)
def test_entries_of_one_size_fit_any_factor_so_none_is_named_unless_readable(numeric):
    # softmax + cross-entropy at one sample of 2 classes is [a, -a]: 1.1593 of it says nothing
    assert _factor_keys(1.1593 * numeric, numeric) == []
    assert _factor_keys(2.0 * numeric, numeric) == ["constant_factor"]  # 2 says something


def test_entries_of_several_sizes_name_any_factor():
    numeric = np.array([[0.5, -0.2, -0.3]])
    assert _factor_keys(1.1593 * numeric, numeric) == ["constant_factor"]
