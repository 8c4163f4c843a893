"""Loss layers: gradcheck over options, the probability input with clipping, errors."""

from __future__ import annotations

import json

import numpy as np
import pytest

from softgrad import functional as F
from softgrad.gradcheck import gradcheck
from softgrad.nn import CrossEntropyLoss, LogisticLoss, NLLLoss

CE_OPTIONS = [
    {},
    {"reduction": "sum"},
    {"reduction": "none"},
    {"weight": [0.5, 2.0, 1.0, 3.0]},
    {"ignore_index": 2},
    {"label_smoothing": 0.2},
    {"weight": [0.5, 2.0, 1.0, 3.0], "ignore_index": 1, "label_smoothing": 0.1},
]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("options", CE_OPTIONS, ids=str)
def test_cross_entropy_loss_passes_gradcheck(options, dtype, rng):
    logits = (2 * rng.standard_normal((6, 4))).astype(dtype)
    target = np.array([0, 1, 2, 3, 2, 1])
    loss = CrossEntropyLoss(**options)
    result = gradcheck(loss, logits, target=target, rng=rng)
    assert result.ok, str(result)
    value = loss.forward(logits, target)
    grad = loss.backward()
    assert grad.dtype == dtype and grad.shape == logits.shape
    if options.get("reduction", "mean") == "none":
        assert isinstance(value, np.ndarray) and value.shape == (6,)
    else:
        assert isinstance(value, float)


@pytest.mark.parametrize("shape,axis", [((5,), 0), ((3, 4, 2), 1), ((2, 3, 4), -1)])
def test_cross_entropy_loss_on_other_shapes_and_axes(shape, axis, rng):
    logits = rng.standard_normal(shape)
    n_classes = shape[axis]
    target_shape = shape[: axis % len(shape)] + shape[axis % len(shape) + 1 :]
    target = rng.integers(0, n_classes, target_shape)
    result = gradcheck(CrossEntropyLoss(axis=axis), logits, target=target, rng=rng)
    assert result.ok, str(result)


def test_cross_entropy_loss_with_probability_targets(rng):
    logits = rng.standard_normal((5, 3))
    target = F.softmax(rng.standard_normal((5, 3)))
    result = gradcheck(CrossEntropyLoss(label_smoothing=0.1), logits, target=target, rng=rng)
    assert result.ok, str(result)


def test_cross_entropy_loss_is_the_functional(rng):
    logits = rng.standard_normal((4, 3))
    target = np.array([0, 2, 1, 1])
    loss = CrossEntropyLoss(weight=[1.0, 2.0, 3.0], label_smoothing=0.05)
    value = loss.forward(logits, target)
    kwargs = {"weight": [1.0, 2.0, 3.0], "label_smoothing": 0.05}
    assert value == pytest.approx(float(F.cross_entropy(logits, target, **kwargs)), rel=1e-14)
    np.testing.assert_allclose(
        loss.backward(), F.cross_entropy_grad(logits, target, **kwargs), rtol=1e-14
    )


def test_backward_scales_by_the_cotangent(rng):
    logits = rng.standard_normal((4, 3))
    target = np.array([0, 2, 1, 1])
    loss = CrossEntropyLoss()
    loss.forward(logits, target)
    np.testing.assert_allclose(loss.backward(2.5), 2.5 * loss.backward(), rtol=1e-14)
    per_sample = CrossEntropyLoss(reduction="none")
    per_sample.forward(logits, target)
    weights = np.array([1.0, 0.0, 2.0, 0.5])
    np.testing.assert_allclose(
        per_sample.backward(weights), weights[:, None] * per_sample.backward(), rtol=1e-14
    )
    with pytest.raises(ValueError, match=r"grad_y must have shape \(4,\)"):
        per_sample.backward(np.ones(3))
    with pytest.raises(ValueError, match="grad_y must be a scalar"):
        loss.backward(np.ones(4))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(
    "options",
    [
        {},
        {"reduction": "sum"},
        {"weight": [1.0, 3.0, 2.0]},
        {"ignore_index": 0, "reduction": "none"},
    ],
    ids=str,
)
def test_nll_loss_on_log_probabilities_and_probabilities(options, dtype, rng):
    logits = rng.standard_normal((5, 3))
    target = np.array([0, 1, 2, 2, 0])
    logp = F.log_softmax(logits).astype(dtype)
    result = gradcheck(NLLLoss(**options), logp, target=target, rng=rng)
    assert result.ok, str(result)
    probs = F.softmax(logits).astype(dtype)
    # dL/dp is 1/p-sized: compare relatively
    result = gradcheck(
        NLLLoss(log_input=False, **options),
        probs,
        target=target,
        rng=rng,
        eps=1e-8,
        atol=1e-6,
        rtol=1e-5,
    )
    assert result.ok, str(result)
    on_probs = NLLLoss(log_input=False, **options)
    on_logp = NLLLoss(**options)
    # the same log of the same probabilities (no smoothing such as log(p + 1e-9)): a few
    # roundings of the reduction apart at most
    np.testing.assert_allclose(
        on_probs.forward(probs, target),
        on_logp.forward(np.log(probs), target),
        rtol=8 * float(np.finfo(dtype).eps),
    )


def test_nll_on_probabilities_clips_at_the_smallest_normal_number():
    # the target's probability is exactly 0: the loss is -log(tiny), the gradient finite
    for dtype in (np.float32, np.float64):
        loss = NLLLoss(log_input=False)
        probs = np.array([[1.0, 0.0]], dtype=dtype)
        tiny = np.finfo(dtype).tiny
        assert loss.forward(probs, np.array([1])) == pytest.approx(-np.log(tiny), rel=1e-6)
        grad = loss.backward()
        assert np.all(np.isfinite(grad)) and grad.dtype == dtype
        assert grad[0, 1] == pytest.approx(-1.0 / tiny, rel=1e-6) and grad[0, 0] == 0.0


def test_nll_rejects_negative_probabilities():
    with pytest.raises(ValueError, match="probabilities must be >= 0"):
        NLLLoss(log_input=False).forward(np.array([[-0.1, 1.1]]), np.array([0]))


@pytest.mark.parametrize("loss_cls", [CrossEntropyLoss, NLLLoss])
def test_backward_before_forward_raises(loss_cls):
    with pytest.raises(RuntimeError, match=f"{loss_cls.__name__}.backward: forward must be"):
        loss_cls().backward()


@pytest.mark.parametrize("layer", ["CrossEntropyLoss", "LogisticLoss"])
def test_label_smoothing_is_checked_as_the_functions_check_it(layer):
    # the layers refused a NumPy integer 0 that F.cross_entropy takes, with their own messages
    import softgrad.functional as F
    from softgrad import nn

    build = getattr(nn, layer)
    assert build(label_smoothing=np.int64(0)).label_smoothing == 0.0
    F.cross_entropy(np.zeros((2, 3)), [0, 1], label_smoothing=np.int64(0))
    for bad, error in ((1.5, ValueError), (True, TypeError), ("0.1", TypeError)):
        expected = rf"must be a float in \[0, 1\]; got {bad!r}$"
        with pytest.raises(error, match=f"^{layer}: label_smoothing {expected}"):
            build(label_smoothing=bad)
        with pytest.raises(error, match=f"^cross_entropy: label_smoothing {expected}"):
            F.cross_entropy(np.zeros((2, 3)), [0, 1], label_smoothing=bad)


def test_option_validation():
    with pytest.raises(
        ValueError, match="reduction must be one of 'mean', 'sum', 'none'; got 'avg'"
    ):
        CrossEntropyLoss(reduction="avg")
    with pytest.raises(ValueError, match=r"label_smoothing must be a float in \[0, 1\]; got 1.5"):
        CrossEntropyLoss(label_smoothing=1.5)
    with pytest.raises(ValueError, match="weight must be a 1-d array of finite non-negative"):
        CrossEntropyLoss(weight=[1.0, -1.0])
    with pytest.raises(TypeError, match="ignore_index must be an int or None"):
        NLLLoss(ignore_index=1.5)
    with pytest.raises(TypeError, match="log_input must be a bool"):
        NLLLoss(log_input="no")
    with pytest.raises(TypeError, match="axis must be an int"):
        NLLLoss(axis=None)


def test_configs_are_json_safe_and_rebuild():
    ce = CrossEntropyLoss(
        weight=np.array([1.0, 2.0]), ignore_index=-100, label_smoothing=0.1, max_sample_loss=36.0
    )
    config = json.loads(json.dumps(ce.get_config()))
    assert config == {
        "axis": -1,
        "reduction": "mean",
        "weight": [1.0, 2.0],
        "ignore_index": -100,
        "label_smoothing": 0.1,
        "max_sample_loss": 36.0,
    }
    assert CrossEntropyLoss(**config).get_config() == config
    nll = NLLLoss(reduction="sum", log_input=False)
    assert NLLLoss(**json.loads(json.dumps(nll.get_config()))).get_config() == nll.get_config()
    assert "log_input=False" in repr(nll)


@pytest.mark.parametrize("weight", [np.array([1, 1j, 1]), [1, 1j, 1], ["1", "1", "1"]])
def test_class_weights_that_are_not_real_numbers_are_refused(weight):
    # a complex array computed a loss (the imaginary part dropped); a list raised Python's error
    with pytest.raises(TypeError, match=r"^CrossEntropyLoss: weight must hold real class weights"):
        CrossEntropyLoss(weight=weight)


@pytest.mark.parametrize("make", [CrossEntropyLoss, NLLLoss, LogisticLoss])
@pytest.mark.parametrize("reduction", ["mean", "none"])
@pytest.mark.parametrize("grad_y", ["complex", "text"])
def test_a_grad_y_that_is_not_real_numbers_is_refused_naming_the_loss(make, reduction, grad_y, rng):
    # a complex grad_y had its imaginary part dropped with only NumPy's ComplexWarning; text
    # raised NumPy's "could not convert string to float", naming no loss
    loss = make(reduction=reduction)
    width = 1 if make is LogisticLoss else 3
    loss.forward(rng.standard_normal((2, width)), np.array([0, 1]))
    scalar = reduction == "mean"
    bad = {
        "complex": 1j if scalar else np.array([1 + 5j, 2.0]),
        "text": "x" if scalar else np.array(["1", "2"]),
    }[grad_y]
    kind = "complex128" if grad_y == "complex" else "<U1"
    with pytest.raises(TypeError) as caught:
        loss.backward(bad)
    assert str(caught.value) == (
        f"{make.__name__}.backward: grad_y must be a real array (float16, float32, float64, int "
        f"or bool dtype); got dtype '{kind}'"
    )


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_cross_entropy_loss_cap_applies_to_each_sample_before_the_reduction(reduction, rng):
    logits = rng.standard_normal((6, 4))
    logits[2, 0] = 90.0
    target = np.array([0, 1, 2, 3, 0, 1])
    weight = np.array([1.0, 2.0, 0.5, 1.0])
    per_sample = CrossEntropyLoss(weight=weight, reduction="none").forward(logits, target)
    capped = np.minimum(per_sample, 20.0)
    expected = {"none": capped, "sum": capped.sum(), "mean": capped.sum() / weight[target].sum()}
    loss = CrossEntropyLoss(weight=weight, reduction=reduction, max_sample_loss=20.0)
    np.testing.assert_allclose(loss.forward(logits, target), expected[reduction], rtol=1e-12)
    plain = CrossEntropyLoss(weight=weight, reduction=reduction)
    plain.forward(logits, target)
    np.testing.assert_array_equal(loss.backward(), plain.backward())


@pytest.mark.parametrize("bad", [0, -1.0, float("nan"), "15", True])
def test_a_loss_cap_must_be_a_positive_number(bad):
    error = TypeError if isinstance(bad, (str, bool)) else ValueError
    with pytest.raises(error, match=r"^CrossEntropyLoss: max_sample_loss must be a number > 0"):
        CrossEntropyLoss(max_sample_loss=bad)
    assert CrossEntropyLoss(max_sample_loss=np.inf).get_config()["max_sample_loss"] is None
    assert CrossEntropyLoss().get_config()["max_sample_loss"] is None
